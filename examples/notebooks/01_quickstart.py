# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Relay quickstart: DQN and PPO on CartPole
#
# This notebook trains two agents on CartPole-v1 with Relay's Python API: DQN
# (value-based, learning from a replay buffer) and PPO (on-policy, learning
# from fresh rollouts of 8 environments). Each run is one call that builds
# the environments, the agent, its replay, the learner and the actor, trains,
# evaluates and leaves a run folder behind. We then plot both learning curves
# from the run folders' CSV logs, load PPO's checkpoint back and watch the
# trained policy balance the pole. It takes under a minute on a 2-core
# machine, with no accelerator.
#
# Run on Colab: File → Open notebook → GitHub, paste the repository's
# address; run all cells. Locally: see the setup cell.

# %%
# Setup. On Colab this installs Relay (the core profile: newest JAX, no
# Reverb) from its repository; anywhere else Relay must already be installed
# in this kernel's Python, and the error below says how.
import importlib.metadata
import subprocess
import sys

RELAY_SOURCE = "git+https://github.com/relay-rl/relay"  # the repository (or a fork)
try:
  print("Relay", importlib.metadata.version("relay-rl"))
except importlib.metadata.PackageNotFoundError:
  if "google.colab" not in sys.modules:
    raise ModuleNotFoundError(
        f"Relay (relay-rl) is not installed for this kernel's Python "
        f"({sys.executable}). From a checkout of the repository run\n"
        "  python3.12 -m venv .venv-core && .venv-core/bin/pip install "
        "-c constraints-core.txt -e '.[distributed,compare,watch,notebooks]'\n"
        "then start Jupyter from that environment (.venv-core/bin/jupyter lab) "
        "or choose its Python as this notebook's kernel.") from None
  subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                  f"relay-rl[distributed,compare,watch] @ {RELAY_SOURCE}"],
                 check=True)
  print("Relay", importlib.metadata.version("relay-rl"))

# %% [markdown]
# ## 1. Imports
#
# `experiments.config.default_config` builds a run's configuration and
# `experiments.single_process_runner.run` trains it in this process (what
# `python -m experiments.train --runner single` does). `experiments.watch`
# loads a run's checkpoint back and renders episodes. Library calls leave the
# process alone (JAX settings, matplotlib backend), so plots stay inline.

# %%
import os

import jax
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import PIL.Image
from IPython import display

import agents
from building_blocks.actor import Actor
from envs import make_environment, make_environment_spec
from experiments import single_process_runner
from experiments import watch
from experiments.config import default_config
from experiments.run_folder import RunSummary

ENV = "CartPole-v1"  # +1 per step while the pole stays up; at most 500

# %% [markdown]
# ## 2. A random policy, for scale
#
# Before training anything: what does CartPole return when the actions are
# coin flips? About 22. Any learning shows up as a clear distance from this.

# %%
def random_policy_returns(env_id: str, episodes: int, seed: int = 0
                          ) -> list[float]:
  """Undiscounted returns of uniformly random actions."""
  env = make_environment(env_id, seed=seed)  # a dm_env view of gymnasium
  num_actions = env.action_spec().num_values
  rng = np.random.default_rng(seed)
  returns = []
  for _ in range(episodes):
    timestep = env.reset()
    total = 0.0
    while not timestep.last():
      timestep = env.step(rng.integers(num_actions))
      total += float(timestep.reward)
    returns.append(total)
  env.close()
  return returns


random_mean = float(np.mean(random_policy_returns(ENV, episodes=50)))
print(f"random policy: mean return {random_mean:.1f} over 50 episodes")
assert 10 < random_mean < 50, random_mean

# %% [markdown]
# ## 3. Configure the runs
#
# `default_config(agent, env, ...)` returns an `ExperimentConfig`: the run
# settings (`runner`, `seed`, `num_steps`, `eval_every`, `replay`,
# `run_dir`, ...; `python -m experiments.train --help` lists every field)
# plus one field per agent holding its hyperparameters, with the agent's
# tuned preset for this environment applied (PPO has one for CartPole; DQN's
# defaults are tuned for it).
#
# The budgets here are small so that the notebook runs in under a minute:
# 20,000 environment steps each. `eval_every=5_000` runs 10 greedy evaluation
# episodes after every 5,000 steps (at the end of the episode that crosses
# the mark) and once more at the end. `replay="auto"` picks Reverb when it is
# installed (Python 3.11 profile) and otherwise device memory, so this runs
# anywhere. The run folders default to
# `runs/<agent>-CartPole-v1-single-seed0-<time>/`, under the working folder.

# %%
NUM_STEPS = 20_000

dqn_config = default_config("dqn", ENV, runner="single", seed=0,
                            num_steps=NUM_STEPS, eval_every=5_000,
                            replay="auto", progress=False)
ppo_config = default_config("ppo", ENV, runner="single", seed=0,
                            num_steps=NUM_STEPS, eval_every=5_000,
                            replay="auto", progress=False)

for config in (dqn_config, ppo_config):
  print(f"{config.agent}: {config.runner_setting('num_envs')} environment(s), "
        f"{config.total_steps():,} steps, seed {config.seed}")
print("DQN learning rate", dqn_config.dqn.learning_rate, "| batch",
      dqn_config.dqn.batch_size, "| n-step", dqn_config.dqn.n_step,
      "| epsilon 1 ->", dqn_config.dqn.epsilon_end, "over",
      dqn_config.dqn.epsilon_decay_steps, "steps")
print("PPO preset for CartPole:", agents.get("ppo").presets[ENV])

# %% [markdown]
# ## 4. Train DQN
#
# `run(config)` builds everything the config names and trains: one actor
# steps the environment with the epsilon-greedy policy, an adder turns the
# steps into 3-step transitions in a prioritized replay buffer, and the
# learner takes one update (8 SGD steps on batches of 32) whenever the
# replay's rate limiter allows, from 1,000 stored transitions on. It prints
# each evaluation and returns a `RunSummary`; the run folder holds
# `config.json`, `logs/train.csv` (one row per training episode),
# `logs/eval.csv`, TensorBoard files, `learning_curve.png`, the final
# checkpoint and `summary.json`.

# %%
def report(summary: RunSummary) -> None:
  print(f"{summary.agent}: {summary.env_steps:,} steps in "
        f"{summary.wall_seconds:.0f} s, {summary.extra['episodes']} episodes, "
        f"{summary.extra['learner_steps']} learner updates; mean return of "
        f"the last 10 episodes {summary.final_mean_return[0]:.1f}, final "
        f"evaluation {summary.final_eval_return[0]:.1f}")
  print(f"run folder {summary.run_dir}: "
        f"{', '.join(sorted(os.listdir(summary.run_dir)))}")


dqn_summary = single_process_runner.run(dqn_config)
report(dqn_summary)

# %% [markdown]
# ## 5. Train PPO
#
# The same call with PPO's config. The runner code is the same too; only the
# agent's replay description differs: PPO asks for whole rollouts (8
# environments x 32 steps) in a queue, each used once for 10 epochs of 8
# minibatches, then dropped. The first update compiles for a few seconds;
# after that PPO runs thousands of steps per second on CPU.

# %%
ppo_summary = single_process_runner.run(ppo_config)
report(ppo_summary)

# %% [markdown]
# ## 6. Learning curves
#
# Each run folder's `logs/train.csv` has one row per training episode
# (`env_steps` when it ended, `episode_return`, `mean_return_10` over the
# last 10 episodes, the learner's latest metrics such as `loss`) and
# `logs/eval.csv` one row per evaluation (`eval_mean_return`, min and max
# over its 10 greedy episodes). Dots are single training episodes (DQN's
# explore with epsilon-greedy actions, PPO's sample from the policy), the line
# their 10-episode mean, the squares the greedy evaluations.

# %%
def read_logs(run_dir: str) -> tuple[pd.DataFrame, pd.DataFrame]:
  """(train, eval) rows of a run folder."""
  logs = os.path.join(run_dir, "logs")
  return (pd.read_csv(os.path.join(logs, "train.csv")),
          pd.read_csv(os.path.join(logs, "eval.csv")))


fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
for ax, summary in zip(axes, (dqn_summary, ppo_summary)):
  train, evals = read_logs(summary.run_dir)
  ax.scatter(train.env_steps, train.episode_return, s=6, alpha=0.3,
             label="training episode")
  ax.plot(train.env_steps, train.mean_return_10, label="10-episode mean")
  ax.errorbar(evals.env_steps, evals.eval_mean_return,
              yerr=[evals.eval_mean_return - evals.eval_min_return,
                    evals.eval_max_return - evals.eval_mean_return],
              fmt="s", color="k", capsize=3, label="evaluation (min-max)")
  ax.axhline(random_mean, color="grey", linestyle=":", label="random policy")
  ax.set(title=f"{summary.agent.upper()} on {ENV}", xlabel="environment steps")
  ax.grid(alpha=0.3)
  # One row per episode, and the last evaluation is the summary's.
  assert len(train) == summary.extra["episodes"]
  assert evals.env_steps.iloc[-1] == summary.env_steps == NUM_STEPS
  assert evals.eval_mean_return.iloc[-1] == summary.final_eval_return[0]
axes[0].set_ylabel("return")
axes[0].legend(loc="upper left")
plt.show()

# %% [markdown]
# Both agents should end far above the random policy (at this budget, and
# seed 0, PPO's greedy policy usually holds the pole for all 500 steps and
# DQN's gets close). These checks make the notebook fail if that breaks:

# %%
for summary in (dqn_summary, ppo_summary):
  final = summary.final_eval_return[0]
  print(f"{summary.agent}: final evaluation {final:.1f} "
        f"(random policy {random_mean:.1f})")
  assert final > max(150.0, 5 * random_mean), (summary.agent, final)

# %% [markdown]
# ## 7. Load the trained agent back and watch it
#
# A run folder is all you need to use the agent later:
#
# - `watch.load_run(run_dir)` reads `config.json` and finds the latest
#   checkpoint's step;
# - `watch.make_render_env(env_id, seed)` makes the environment with
#   gymnasium's `render_mode="rgb_array"` (frames as arrays);
# - `watch.load_policy(config, run_dir, spec, run_seed)` rebuilds the agent
#   exactly as the runner did and restores its parameters;
# - an `Actor` with `evaluation=True` acts with the evaluation policy (the
#   argmax action for PPO's discrete actions, as in the evaluations above),
#   and `watch.play` plays an episode, handing us every frame.

# %%
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame draws off-screen

run_dir = ppo_summary.run_dir
config, step = watch.load_run(run_dir)
env = watch.make_render_env(config.env, seed=1)
agent, params = watch.load_policy(config, run_dir, make_environment_spec(env),
                                  run_seed=0)
actor = Actor(agent.policy, jax.random.PRNGKey(1), evaluation=True)


def select(observation: np.ndarray) -> np.ndarray:
  actions, _ = actor.select(params, observation[None], step)  # a batch of 1
  return actions[0]


frames: list[np.ndarray] = []
[(episode_return, length)] = watch.play(
    env, select, episodes=1,
    on_frame=lambda frame, episode, t, total: frames.append(frame))
fps = env.gym_env.metadata["render_fps"]
env.close()
print(f"checkpoint of step {step}: return {episode_return:.0f} in {length} "
      f"steps; {len(frames)} frames of shape {frames[0].shape}")
assert len(frames) == length + 1  # the first observation, then every step
assert frames[0].shape == (400, 600, 3)  # CartPole draws 600 x 400 RGB
assert episode_return > 150, episode_return

# %% [markdown]
# To show the episode inline we write a small GIF: every second frame at
# half size, played at the environment's speed. (`python -m experiments.watch
# RUN_DIR`, or `watch.watch(run_dir)` from Python, writes the full-size
# video, GIF or MP4, with a caption of the step and return; it takes longer.)

# %%
def save_gif(frames: list[np.ndarray], path: str, fps: float,
             every: int = 2) -> str:
  """Writes every `every`-th frame, at half size, to an animated GIF."""
  images = [PIL.Image.fromarray(frame).reduce(2).quantize(
      colors=16, method=PIL.Image.Quantize.FASTOCTREE)
            for frame in frames[::every]]
  images[0].save(path, save_all=True, append_images=images[1:],
                 duration=round(1000 * every / fps), loop=0)
  return path


gif = save_gif(frames, os.path.join(run_dir, "episode.gif"), fps)
display.display(display.Image(filename=gif))

# %% [markdown]
# ## Longer runs and next steps
#
# The command line trains the same runs with the runner's default budget of
# 50,000 steps. There, with seed 0 on a 2-core machine, both DQN and PPO end
# with a 10-episode mean and a greedy evaluation of 500, in about 30 s each
# (DQN's defaults are tuned to reach 475 within that budget; the README's
# figures give steps to target over several seeds):
#
# ```bash
# python -m experiments.train --agent dqn --env CartPole-v1
# python -m experiments.train --agent ppo --env CartPole-v1
# python -m experiments.train --agent ppo --env CartPole-v1 --runner anakin --num-seeds 8
# python -m experiments.watch runs/ppo-CartPole-v1-single-seed0-<time>
# ```
#
# The last training command runs everything (environments included) inside
# one compiled JAX program, 8 seeds at once. To see the pieces a runner wires
# together (environment, agent functions, replay, adder, learner, actor), open
# `02_anatomy_of_an_agent`.
