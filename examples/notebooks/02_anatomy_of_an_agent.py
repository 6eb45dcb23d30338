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
# # Anatomy of an agent: DQN assembled by hand
#
# Relay's runners wire the same six pieces for every agent: an environment,
# the agent (pure JAX functions), a replay, an adder that turns environment
# steps into replay items, a learner that updates the agent from replay, and
# an actor that picks actions with the learner's latest parameters. This
# notebook builds each piece for DQN on CartPole-v1 by hand, prints the
# shapes and dtypes of what flows between them, and trains in a plain Python
# loop until the return climbs from about 20 to several hundred. It is the
# single-process runner without its logging, evaluation schedule and
# checkpoints (`examples/dqn_by_hand.py` is the same as a script). It takes
# about half a minute on a 2-core machine.
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
# ## The pieces and what flows between them
#
# ```
#              observation[1]                 action[1]
#  environment ─────────────▶ actor ─────────────────────▶ environment
#       │                       ▲
#       │ timestep, action      │ params (after each update)
#       ▼                       │
#     adder ──Transition──▶ replay ──batch of 256──▶ learner
# ```
#
# The agent itself is only functions and a description
# (`building_blocks/agent.py` states the contract): `init(key)` makes its
# state, `policy(params, key, observations, step, evaluation)` maps a batch of
# observations to actions, `update(state, batch, key)` takes a learning step,
# and `replay` says what it learns from. It never sees an environment or a
# replay; the actor, the adder and the learner connect it to them.

# %%
import dataclasses
import inspect
import time
from typing import Any

import jax
import matplotlib.pyplot as plt
import numpy as np

from agents.dqn import DQNConfig
from agents.dqn import losses
from agents.dqn.agent import make_agent
from building_blocks import optional_deps
from building_blocks.actor import Actor
from building_blocks.agent import RunInfo
from building_blocks.learner import Learner
from building_blocks.types import TimeStep, Transition
from envs import make_environment, make_environment_spec
from replay import backends
from replay import vector_adders

SEED = 0
TRAIN_STEPS = 15_000  # environment steps; the runner's default is 50,000


def show(name: str, tree: Any) -> None:
  """Prints the path, shape and dtype of every array in `tree`."""
  print(name)
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    print(f"  {jax.tree_util.keystr(path) or '(the array)'}: "
          f"shape {np.shape(leaf)}, {np.asarray(leaf).dtype}")

# %% [markdown]
# ## 1. The environment
#
# `make_environment` wraps a gymnasium environment (or a JAX-native one) in
# the dm_env interface: `reset()` and `step(action)` return a `TimeStep` with
# `step_type` (FIRST, MID or LAST), `reward`, `discount` (0 when the episode
# terminated, 1 otherwise, also at a time-limit truncation) and
# `observation`. The first reset is seeded, so the run is reproducible.
# `make_environment_spec` collects the shapes and dtypes the other pieces
# are built for. CartPole's observation is the cart's position and velocity
# and the pole's angle and angular velocity; its two actions push left or
# right.

# %%
env = make_environment("CartPole-v1", seed=SEED)
spec = make_environment_spec(env)
print("observations:", spec.observations)
print("actions:", spec.actions)

timestep = env.reset()
print("first timestep:", timestep.step_type.name, "reward", timestep.reward,
      "discount", timestep.discount)
show("timestep.observation", timestep.observation)
assert timestep.observation.shape == spec.observations.shape == (4,)
assert timestep.observation.dtype == np.float32

# %% [markdown]
# ## 2. The agent: pure functions
#
# `make_agent(config, spec, run)` returns an `Agent` of four fields. DQN is the
# value-based family's shared learner (`building_blocks/value_based.py`:
# epsilon-greedy policy, prioritized replay weights, target network) with
# DQN's network (an MLP giving Q(s, ·)) and loss plugged in. `RunInfo` tells
# the agent what the runner will do: one environment, and how many steps in
# all (for agents whose schedules span the run; DQN's count environment
# steps).
#
# `agent.replay` asks for 3-step transitions from a prioritized buffer of
# 50,000, learning from 1,000 on. A sample is 256 transitions: `update` splits
# it into 8 SGD steps on batches of 32. At 32 sampled items per inserted one
# (the rate limit), that is one update per 8 environment steps.

# %%
config = DQNConfig()  # its defaults are tuned for CartPole-v1
agent = make_agent(config, spec, RunInfo(num_envs=1, rollout_length=1,
                                         total_env_steps=TRAIN_STEPS))
print(agent.replay)

# %% [markdown]
# The functions are pure and jittable, so we can call them directly. `init`
# makes the state the update changes (online and target parameters, the
# optimiser state, a step count). `policy` is batched: 3 observations give 3
# actions. At environment step 0 epsilon is 1, so the acting policy is
# uniformly random; `evaluation=True` (a Python bool, hence static under
# `jit`) acts greedily. DQN's `extras` are empty; on-policy agents return
# log-probabilities there.

# %%
state = jax.jit(agent.init)(jax.random.PRNGKey(SEED))
print("state fields:", type(state).__name__, type(state)._fields)
show("state.params", state.params)

policy = jax.jit(agent.policy, static_argnums=4)
observations = np.stack([timestep.observation] * 3)
actions, extras = policy(state.params, jax.random.PRNGKey(1), observations,
                         0, False)
greedy, _ = policy(state.params, jax.random.PRNGKey(1), observations, 0, True)
print("acting:", actions, "greedy:", greedy, "extras:", extras)
assert actions.shape == greedy.shape == (3,) and extras == {}
assert (greedy == greedy[0]).all()  # the same observation, the same argmax

# %% [markdown]
# ## 3. The replay
#
# `resolve_replay_backend("auto")` picks Reverb when it is installed (the
# Python 3.11 profile) and otherwise the device buffer (a flashbax buffer in
# JAX device memory, with Reverb's sample-to-insert rate limit computed on
# the host). `backends.make_replay` builds the one for the agent's replay
# description from one example item, which fixes the shapes and dtypes
# stored. Both behave the same behind the `ReplayBackend` protocol:
# `insert`, `ready`, `sample`, `update_priorities`, `size`, `close`.

# %%
backend = optional_deps.resolve_replay_backend("auto")
example = vector_adders.example_item(agent, spec, num_envs=1, rollout_length=1)
show("example item", example)
replay = backends.make_replay(agent.replay, example, backend,
                              checkpoint_dir=None,
                              key=jax.random.PRNGKey(SEED + 1))
print(f"backend {backend!r}: {replay.description}")

# %% [markdown]
# ## 4. The adder
#
# The adder sits between the environment and the replay. For "transitions"
# it keeps a window of the last 3 steps of each environment and inserts the
# n-step transition (s_t, a_t, R, Γ, s_t+3) once it is complete: R is the
# discounted sum of the 3 rewards and Γ the discount to apply to s_t+3's
# value, γ³ (at an episode's end the last windows are shorter, and Γ is 0
# after a termination). It hands each item to the function we give it; the
# runner passes `replay.insert`, and we also keep the items to look at them.

# %%
inserted: list[Transition] = []


def insert(item: Transition) -> None:
  inserted.append(item)
  replay.insert(item)


adder = vector_adders.make_adder(agent.replay, num_envs=1, rollout_length=1,
                                 insert=insert)

# %% [markdown]
# ## 5. The learner and the actor
#
# `Learner(agent, replay, key)` runs `agent.init`, jits `agent.update`, and on
# each `step()` samples a batch, updates the state and sends the batch's new
# priorities back to the replay (the update runs asynchronously, so acting
# goes on meanwhile). `learner.params` are the parameters to act with. `Actor(agent.policy, key)` jits the policy with its own random key;
# `select(params, observations, step)` returns numpy actions and extras.

# %%
learner_key, actor_key, eval_key = jax.random.split(jax.random.PRNGKey(SEED), 3)
learner = Learner(agent, replay, learner_key)
actor = Actor(agent.policy, actor_key)
leaves = jax.tree_util.tree_leaves(learner.params)
print(f"learner.params: {len(leaves)} arrays, "
      f"{sum(x.size for x in leaves):,} parameters, the tree of state.params")
assert (jax.tree_util.tree_structure(learner.params)
        == jax.tree_util.tree_structure(state.params))

# %% [markdown]
# ## 6. One step by hand
#
# One environment step, as a runner takes it: the actor acts on a batch of one
# observation, the environment steps, and the adder records the action and
# the new timestep (and, when the episode ended, the first timestep of the
# next one, which the runner starts at once). No transition is complete yet:
# the first one needs 3 steps.

# %%
timestep = env.reset()
adder.start([timestep])
actions, extras = actor.select(learner.params, timestep.observation[None],
                               0)
show("actions", actions)
print("extras:", extras)
timestep = env.step(actions[0])
adder.add(actions, extras, [timestep], [None])
print("second timestep:", timestep.step_type.name, "reward", timestep.reward,
      "discount", timestep.discount, "| transitions inserted:", len(inserted))
assert actions.shape == (1,) and actions.dtype == np.int32
assert len(inserted) == 0

# %% [markdown]
# ## 7. The loop
#
# `act` is the step above, with bookkeeping: episode returns, and the
# learner's `q_mean` (the batch's mean Q-value) at the end of each episode.
# `learn` takes as many updates as the replay's rate limiter allows: none
# until it holds 1,000 transitions, then one per 8 environment steps.

# %%
@dataclasses.dataclass
class Loop:
  """What the loop carries from one step to the next."""
  timestep: TimeStep
  env_steps: int = 0
  learner_steps: int = 0
  episode_return: float = 0.0
  returns: list[float] = dataclasses.field(default_factory=list)
  episode_ends: list[int] = dataclasses.field(default_factory=list)
  q_means: list[float] = dataclasses.field(default_factory=list)
  metrics: dict[str, Any] | None = None  # of the latest update


def act(loop: Loop) -> None:
  """One environment step: act, step, add; restart a finished episode."""
  actions, extras = actor.select(learner.params,
                                 loop.timestep.observation[None],
                                 loop.env_steps)  # the step sets epsilon
  timestep = env.step(actions[0])
  loop.env_steps += 1
  loop.episode_return += float(timestep.reward)
  restart = None
  if timestep.last():
    loop.returns.append(loop.episode_return)
    loop.episode_ends.append(loop.env_steps)
    loop.q_means.append(float(loop.metrics["q_mean"]) if loop.metrics
                        else np.nan)
    loop.episode_return = 0.0
    restart = env.reset()
  adder.add(actions, extras, [timestep], [restart])
  loop.timestep = restart if restart is not None else timestep


def learn(loop: Loop) -> None:
  """Every update the replay's rate limiter allows now."""
  while replay.ready():
    loop.metrics = learner.step()
    loop.learner_steps += 1


loop = Loop(timestep, env_steps=1, episode_return=float(timestep.reward))

# %% [markdown]
# First we only act until the replay allows its first sample: about 1,000
# steps of random actions. Then we look at one stored transition and at one
# sampled batch: 256 transitions, with each item's sampling probability and
# the table's size (for the importance weights that undo prioritized
# sampling's bias) and keys (to send new priorities to the right items).
# This sample is only for looking; it counts against the rate limit like the
# learner's own.

# %%
while not replay.ready():
  act(loop)
print(f"{loop.env_steps} environment steps, {len(loop.returns)} episodes, "
      f"{len(inserted)} transitions inserted, replay size {replay.size()}")
show("one replay item (the latest Transition)", inserted[-1])
batch = replay.sample()
show("a sampled batch (ReplayBatch)", batch)
assert batch.data.observation.shape == (agent.replay.batch_size, 4) == (256, 4)
assert batch.data.reward.shape == batch.probabilities.shape == (256,)

# %% [markdown]
# The first update (it compiles `update` first, a few seconds) returns the
# metrics of the last of its 8 SGD steps: the loss, the gradient norm and
# the mean Q-value, each a scalar on the device.

# %%
while not replay.ready():  # the look above used one sample's allowance
  act(loop)
loop.metrics = learner.step()
loop.learner_steps += 1
show("learner metrics", loop.metrics)
assert set(loop.metrics) == {"loss", "grad_norm", "q_mean"}
assert all(np.shape(v) == () for v in loop.metrics.values())

# %% [markdown]
# ## 8. Train
#
# Now the plain loop: act, then learn whatever the rate limit allows, for
# 15,000 environment steps (epsilon decays from 1 to 0.01 over the first
# 5,000).

# %%
start = time.perf_counter()
while loop.env_steps < TRAIN_STEPS:
  act(loop)
  learn(loop)
  if loop.env_steps % 2_500 == 0:
    print(f"step {loop.env_steps:6,}: {len(loop.returns):3} episodes, "
          f"{loop.learner_steps:4} learner steps, mean return of the last "
          f"10 episodes {np.mean(loop.returns[-10:]):5.1f}")
print(f"{time.perf_counter() - start:.1f} s")

# One update (8 SGD steps of 32) per 8 environment steps once 1,000
# transitions are stored: the rate limit at work.
expected = ((TRAIN_STEPS - config.min_replay_size) * config.samples_per_insert
            / agent.replay.batch_size)
assert abs(loop.learner_steps - expected) <= 10, (loop.learner_steps, expected)

# %% [markdown]
# A greedy evaluation, as the runners do it (the evaluation policy on fresh
# episodes of another seed; `experiments/evaluation.py` steps several side by
# side), and the learning curves. The mean Q-value climbs toward 1/(1 − γ) =
# 200, the discounted value of balancing forever (a time-limit truncation is
# not an end for the value: its discount stays 1).

# %%
eval_actor = Actor(agent.policy, eval_key, evaluation=True)
eval_env = make_environment("CartPole-v1", seed=SEED + 100)


def greedy_return() -> float:
  timestep, total = eval_env.reset(), 0.0
  while not timestep.last():
    actions, _ = eval_actor.select(learner.params,
                                   timestep.observation[None], loop.env_steps)
    timestep = eval_env.step(actions[0])
    total += float(timestep.reward)
  return total


eval_returns = [greedy_return() for _ in range(5)]
print("greedy evaluation returns:", eval_returns)

returns = np.asarray(loop.returns)
mean_10 = np.convolve(returns, np.ones(10) / 10, mode="valid")
fig, (ax_return, ax_q) = plt.subplots(1, 2, figsize=(12, 4))
ax_return.scatter(loop.episode_ends, returns, s=8, alpha=0.4,
                  label="training episode")
ax_return.plot(loop.episode_ends[9:], mean_10, label="10-episode mean")
ax_return.errorbar([loop.env_steps], [np.mean(eval_returns)],
                   yerr=[[np.mean(eval_returns) - min(eval_returns)],
                         [max(eval_returns) - np.mean(eval_returns)]],
                   fmt="s", color="k", capsize=3,
                   label="greedy evaluation (min-max)")
ax_return.set(title="Episode returns", xlabel="environment steps",
              ylabel="return")
ax_return.legend(loc="lower right")
ax_q.plot(loop.episode_ends, loop.q_means)
ax_q.axhline(1 / (1 - config.discount), color="grey", linestyle=":",
             label="1 / (1 − γ)")
ax_q.set(title="Mean Q-value of the latest batch", xlabel="environment steps")
ax_q.legend(loc="lower right")
for ax in (ax_return, ax_q):
  ax.grid(alpha=0.3)
plt.show()

first, last = np.mean(returns[:10]), np.mean(returns[-10:])
print(f"mean return of the first 10 episodes {first:.1f}, of the last 10 "
      f"{last:.1f}; greedy evaluation {np.mean(eval_returns):.1f}")
assert last > first + 100, (first, last)
assert np.mean(eval_returns) > 150, eval_returns

# %% [markdown]
# ## Where the learning happens
#
# The loss is DQN's own file, `agents/dqn/losses.py`: Double Q-learning on
# n-step transitions with a Huber loss, weighted by the importance weights.
# `building_blocks/value_based.py` turns it into `update` (gradient, clipped
# Adam step, target copy every 100 SGD steps, 8 SGD steps in one
# `lax.scan`); a C51, QR-DQN or M-DQN agent is another loss and head in the
# same learner.

# %%
print(inspect.getsource(losses.double_q_loss))

# %%
replay.close()
env.close()
eval_env.close()

# %% [markdown]
# ## The same pieces in the runners
#
# - `experiments/single_process_runner.py`: `_Run.__init__` builds exactly
#   these pieces (with `num_envs` environments and the replay checkpointed in
#   the run folder) and `_train` is the loop above, plus logging, periodic
#   evaluation, checkpoints and Ctrl-C handling; `01_quickstart` runs it.
# - `experiments/distributed_runner.py` and `experiments/distributed/`: the
#   same `Actor`, `Learner` and adders in separate Ray processes, with the
#   replay behind a server process.
# - `experiments/anakin_runner.py` and `experiments/anakin_program.py`: the
#   same `agent.init`, `policy` and `update`, with JAX-native environments
#   and the device buffer, all inside one compiled program (no `Actor` or
#   `Learner` objects: the loop itself is jitted).
#
# None of them has code specific to DQN: a new agent is a folder with its
# config, network, loss and `make_agent`, and one line in `agents/__init__.py`.
# To train longer than here, use the runner:
# `python -m experiments.train --agent dqn --env CartPole-v1` (50,000 steps;
# the DQN defaults reach a 10-episode mean return of 475 within that budget).
