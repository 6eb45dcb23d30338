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
# # Write your own agent
#
# An agent in Relay is a few pure JAX functions (`init`, `policy`, `update`)
# plus a description of the data it learns from; the runners own everything
# else (environments, replay, the training loop, logging, checkpoints). This
# notebook writes a new agent, Expected SARSA with an ε-greedy target policy,
# by writing one loss function and reusing DQN's network and the value-based
# learner, registers it under a name, and trains it, unchanged, under two
# runners: the single-process runner (gymnasium's CartPole-v1, replay in
# device memory) and the all-on-the-accelerator runner (the JAX CartPole,
# the whole loop one compiled program).
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
# ## The agent contract
#
# `building_blocks/agent.py` states what every runner asks of an agent:
#
# ```python
# agent = make_agent(config, env_spec, run_info)   # the registry's factory
# state = agent.init(key)                           # params, optimiser, target params...
# actions, extras = agent.policy(state.params, key, observations[B], env_step, evaluation)
# state, metrics, priorities = agent.update(state, batch, key)
# agent.replay                                      # ReplaySpec: what it learns from
# ```
#
# A value-based agent need not write all of that.
# `building_blocks/value_based.py` holds what DQN, C51, QR-DQN, M-DQN and
# Rainbow share: the ε-greedy policy, the update (Adam with gradient
# clipping, a periodic target-network copy, importance weights for
# prioritized replay, several SGD steps per replay sample in one `lax.scan`)
# and the `ReplaySpec` (n-step transitions, prioritized, rate-limited). Its
# `make_value_based_agent(config, spec, network, loss)` turns a network and a
# loss into an `Agent`. DQN itself (`agents/dqn/`) is that function called
# with a Q-value MLP (`networks.py`) and the Double DQN loss (`losses.py`).
# So a new value-based agent is, at its core, a new loss.

# %%
import dataclasses
import functools

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import rlax

import agents
from agents.dqn import config as dqn_config
from agents.dqn import losses as dqn_losses
from agents.dqn import networks as dqn_networks
from building_blocks import agent as agent_lib
from building_blocks import config_checks
from building_blocks import types
from building_blocks import value_based
from envs import jax_envs
from experiments import anakin_runner
from experiments import compare
from experiments import single_process_runner
from experiments.config import default_config

# %% [markdown]
# ## The loss
#
# Expected SARSA (van Seijen et al., 2009, "A theoretical and empirical
# analysis of Expected Sarsa") bootstraps from the expected value of the next
# state under a target policy π instead of from its greedy action. Here π is
# ε-greedy with respect to the online network, and the values come from the
# target network. With ε = 0 the target is Double DQN's; with ε > 0 it also
# counts the other actions' values, a more cautious target.
#
# A loss of the value-based family takes the network, the online and target
# parameters, a batch of n-step transitions (R and Γ are the n-step return
# and discount that the runner's adder computed) and importance weights, and
# returns the loss and `extras` with the new priority of every item.

# %%
def expected_sarsa_loss(network: value_based.ValueNetwork, params,
                        target_params, transitions: types.Transition,
                        weights: jax.Array, target_epsilon: float,
                        huber_delta: float):
  """Expected SARSA with an ε-greedy target policy, on n-step transitions:

    π(a'|s') = ε / |A| + (1 - ε) 1[a' = argmax_b Q(s', b; θ)]
    y_i      = R_i + Γ_i Σ_a' π(a'|s'_i) Q(s'_i, a'; θ⁻)
    δ_i      = y_i - Q(s_i, a_i; θ)
    L(θ)     = mean_i w_i huber(δ_i)

  θ: online parameters, θ⁻: target parameters, w_i: importance weights of
  prioritized replay; the new priority of item i is |δ_i|.
  """
  q_tm1, q_t_online = value_based.apply_network_to_pair(
      network, params, transitions.observation, transitions.next_observation)
  q_t = network.apply(target_params, transitions.next_observation)
  num_actions = q_t.shape[-1]
  greedy = jax.nn.one_hot(jnp.argmax(q_t_online, axis=-1), num_actions)
  pi = target_epsilon / num_actions + (1.0 - target_epsilon) * greedy
  y = transitions.reward + transitions.discount * jnp.sum(pi * q_t, axis=-1)
  action = transitions.action.astype(jnp.int32)
  q_a = jnp.take_along_axis(q_tm1, action[:, None], axis=-1)[:, 0]
  td_error = jax.lax.stop_gradient(y) - q_a
  loss = jnp.mean(weights * rlax.huber_loss(td_error, huber_delta))
  return loss, {"priority": jnp.abs(td_error), "q_mean": jnp.mean(q_tm1)}

# %% [markdown]
# ## Config, factory, registration
#
# The config is DQN's (all the value-based fields plus the Huber threshold)
# with one more field, the target policy's ε. `validate` is what the runners
# call before anything runs, so a bad value is refused with a clear error.
# `STATIC_FIELDS` (inherited) names the fields that set shapes or control
# flow; every other field, `target_epsilon` included, can be vmapped in the
# all-on-the-accelerator program.
#
# The factory has the contract's signature: it gets the config, the
# environment's spec and what the runner will do (`RunInfo`, unused here)
# and returns an `Agent`, built from DQN's network and the shared learner.
#
# `agents.register(name, AgentEntry(...))` adds it to the registry, the one
# place every runner and `default_config` look agents up. `runner_defaults`
# are the runner settings it wants when a run does not set them: one
# environment and rollouts of 8 steps, as DQN (one replay sample of
# 8 x 32 transitions per rollout of the all-on-the-accelerator runner).

# %%
@dataclasses.dataclass
class ExpectedSarsaConfig(dqn_config.DQNConfig):
  """Expected SARSA: DQN's settings and the target policy's ε."""

  target_epsilon: float = 0.1
  """ε of the ε-greedy target policy (0: Double DQN's target)."""

  def validate(self, prefix: str = "expected_sarsa.") -> None:
    super().validate(prefix)
    config_checks.require(self, [
        ("target_epsilon", 0 <= self.target_epsilon <= 1, "in [0, 1]")],
                          prefix)


def make_expected_sarsa(config: ExpectedSarsaConfig, spec,
                        run: agent_lib.RunInfo) -> agent_lib.Agent:
  del run  # no schedule spans the run
  loss = functools.partial(expected_sarsa_loss,
                           target_epsilon=config.target_epsilon,
                           huber_delta=config.huber_loss_parameter)
  network = dqn_networks.make_network(spec, config)  # an MLP with a Q head
  return value_based.make_value_based_agent(config, spec, network, loss)


# replace=True lets this cell run again after an edit (registering a name
# twice is refused otherwise).
agents.register("expected_sarsa", agent_lib.AgentEntry(
    config_cls=ExpectedSarsaConfig, make_agent=make_expected_sarsa,
    runner_defaults=dict(num_envs=1, rollout_length=8),
    description="Expected SARSA, ε-greedy target policy (discrete actions)"),
    replace=True)

# %% [markdown]
# ## A quick look before training
#
# The registry entry is all a runner sees. Building the agent by hand for
# CartPole's spec shows the contract at work: `init` makes the state (online
# and target parameters, optimiser state, a step counter), `policy` acts on a
# batch of observations, and `replay` tells the runner what to store and how
# to sample it. Then one check of the loss itself: with ε = 0 it must equal
# DQN's Double Q-learning loss on the same batch (target parameters that
# differ from the online ones, so the check means something).

# %%
env = jax_envs.make("CartPole-v1")
spec = env.environment_spec()
entry = agents.get("expected_sarsa")
agent = entry.make_agent(entry.config_cls(), spec,
                         agent_lib.RunInfo(num_envs=1, rollout_length=8,
                                           total_env_steps=10_000))
state = agent.init(jax.random.PRNGKey(0))
_, observations = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(1), 4))
actions, extras = agent.policy(state.params, jax.random.PRNGKey(2),
                               observations, 0, False)
print("state:", type(state).__name__, "with", ", ".join(state._fields))
print("actions for 4 observations:", actions)
print(agent.replay)

network = dqn_networks.make_network(spec, entry.config_cls())
k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(3), 4)
params = network.init(k1, observations[:1])
target_params = network.init(k2, observations[:1])
batch = types.Transition(
    observation=jax.random.normal(k3, (32, 4)),
    action=jax.random.randint(k4, (32,), 0, 2),
    reward=jnp.ones((32,)), discount=jnp.full((32,), 0.99),
    next_observation=jax.random.normal(k4, (32, 4)))
weights = jnp.ones((32,))
ours, _ = expected_sarsa_loss(network, params, target_params, batch, weights,
                              target_epsilon=0.0, huber_delta=1.0)
dqn, _ = dqn_losses.double_q_loss(network, params, target_params, batch,
                                  weights, huber_delta=1.0)
cautious, _ = expected_sarsa_loss(network, params, target_params, batch,
                                  weights, target_epsilon=0.5, huber_delta=1.0)
print(f"loss with ε = 0: {ours:.6f}, Double DQN: {dqn:.6f}, ε = 0.5: {cautious:.6f}")
assert np.isclose(ours, dqn, rtol=1e-5), (ours, dqn)
assert not np.isclose(cautious, dqn, rtol=1e-3)

# %% [markdown]
# ## Train it in the single-process runner
#
# `default_config` builds the run's `ExperimentConfig` (its class is made
# from the registry, so it now has an `expected_sarsa` field with our
# config); `single_process_runner.run` is what `python -m experiments.train
# --runner single` calls. It steps gymnasium's CartPole-v1 on the host, acts
# with the agent's `policy`, stores n-step transitions in a replay in device
# memory (`replay="device"`, a flashbax buffer; with Reverb installed
# `"reverb"` works as well) at the rate the agent's `ReplaySpec` asks for,
# calls `update`, evaluates the greedy policy every 10,000 steps, and writes
# a run folder under `runs/`. The budget is 15,000 steps (DQN's settings
# start learning after 1,000 transitions and decay ε over 5,000 steps).

# %%
single_config = default_config("expected_sarsa", "CartPole-v1",
                               runner="single", replay="device",
                               num_steps=15_000)
single_config.expected_sarsa.target_epsilon = 0.1
single = single_process_runner.run(single_config)
print(f"final 10-episode mean return {single.final_mean_return[0]:.1f}, "
      f"greedy evaluation {single.final_eval_return[0]:.1f}, "
      f"{single.wall_seconds:.0f} s; run folder {single.run_dir}")

# %% [markdown]
# ## Train it all on the accelerator
#
# The same agent, not a line changed, in the anakin runner
# (`--runner anakin`): the JAX CartPole-v1, the rollouts, the n-step adder,
# the replay buffer, the updates and the evaluations are one compiled
# program, and `num_seeds=2` trains two seeds side by side in it (the
# notebook `03_all_on_the_accelerator` shows more of this runner). Same
# budget, evaluated every 1,000 steps for a finer curve.

# %%
anakin_config = default_config("expected_sarsa", "CartPole-v1",
                               runner="anakin", num_seeds=2,
                               num_steps=15_000, eval_every=1_000)
anakin_config.expected_sarsa.target_epsilon = 0.1
anakin = anakin_runner.run(anakin_config)
print(f"final 10-episode mean returns {anakin.final_mean_return}, compile "
      f"{anakin.extra['compile_seconds']:.1f} s, run "
      f"{anakin.extra['run_seconds']:.1f} s; run folder {anakin.run_dir}")

# %% [markdown]
# ## Both learning curves
#
# Every runner writes the same run folder; `compare.load_run` reads one
# back as one curve per seed (the 10-episode mean training return against
# environment steps), the data behind `python -m experiments.compare`.

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for curve in compare.load_run(single.run_dir):
  ax.plot(curve.steps, curve.values, color="C0",
          label="single process (gymnasium, device replay)")
for curve, style in zip(compare.load_run(anakin.run_dir), ("-", "--")):
  ax.plot(curve.steps, curve.values, color="C1", linestyle=style,
          label=f"all on the accelerator, seed {curve.seed}")
ax.axhline(22, color="0.4", linestyle=":", label="random policy (about 22)")
ax.set_xlabel("environment steps")
ax.set_ylabel("10-episode mean return")
ax.set_title("Expected SARSA (ε-greedy target, ε = 0.1) on CartPole-v1")
ax.legend(loc="upper left", fontsize="small")
plt.show()

# %% [markdown]
# It learns under both runners (a random policy stays near 22; 500 is the
# most CartPole-v1 gives). At so small a budget the seeds still differ a
# lot: one can sit in the low hundreds for thousands of steps before it
# climbs (the longer run at the end shows where they get to). These checks
# make CI fail if the agent stops learning: every seed must reach a
# 10-episode mean of 195 at some point and end above 100.

# %%
for summary in (single, anakin):
  best = [max(c.values) for c in compare.load_run(summary.run_dir)]
  assert min(best) >= 195, (summary.runner, best)  # every seed
  assert min(summary.final_mean_return) >= 100, summary.final_mean_return

# %% [markdown]
# ## Going further
#
# - **A longer run.** With `num_steps=50_000, num_seeds=8` in the
#   all-on-the-accelerator cell (about 1.5 minutes on this project's 2-core
#   CPU), the final 10-episode means had an IQM of 498 over the 8 seeds (the
#   lowest 447), and 7 of the 8 greedy evaluations returned 500. DQN with
#   the same run settings (`default_config("dqn", ...)`, same seeds) gave an
#   IQM of 494 (the lowest 278): with ε = 0.1 the target is close to Double
#   DQN's, and 8 seeds cannot tell the two apart on CartPole. `python -m
#   experiments.compare RUN_DIR...` puts such runs side by side with
#   intervals.
# - **A sweep.** `target_epsilon` is not in `STATIC_FIELDS`, so the
#   all-on-the-accelerator program can vmap it like a learning rate:
#   `experiments.anakin_program.make_train(anakin_config)` returns
#   `train(key, overrides)`, and `jax.vmap(train, in_axes=(None, 0))(key,
#   {"target_epsilon": jnp.array([0.0, 0.1, 0.3])})` trains one run per value
#   in one program (see `03_all_on_the_accelerator`).
# - **The command line.** The registration above lives in this kernel only.
#   To get `python -m experiments.train --agent expected_sarsa` (and
#   `--expected_sarsa.target-epsilon`), put the three pieces in a folder
#   `agents/expected_sarsa/` (`config.py`, `losses.py`, `agent.py`, as
#   `agents/dqn/` does) and add one line to the registry in
#   `agents/__init__.py`. The distributed runner then runs it as well.
# - **An agent outside the value-based family** writes `init`, `policy` and
#   `update` itself: `tests/test_agent_contract.py` defines a small
#   Q-learning agent from scratch (its own Haiku network, policy, loss and
#   optimiser) and trains it under both runners, and `agents/ppo/` is an
#   agent that learns from whole rollouts (`ReplaySpec(kind="rollouts")`).
