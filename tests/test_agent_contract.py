"""The agent contract: an agent written here, in a test file, trains under
both runners without a line of runner code (building_blocks/agent.py).

The agent is plain one-step Q-learning with a target network: its own
Haiku network, its own epsilon-greedy policy, its own loss from
`rlax.q_learning`, uniform replay. Registered under a name, it is then just
`--agent tiny_q` to every runner.
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import rlax

import agents
from building_blocks import agent as agent_lib
from experiments import config as config_lib


@dataclasses.dataclass
class TinyQConfig:
  """One-step Q-learning on a small MLP."""
  learning_rate: float = 1e-3
  discount: float = 0.99
  epsilon: float = 0.1
  target_period: int = 100
  STATIC_FIELDS = ("target_period",)

  def validate(self, prefix: str = "") -> None:
    del prefix


class TinyQState(NamedTuple):
  params: Any  # the contract: acting uses state.params
  target: Any
  opt: Any
  steps: jax.Array


def make_tiny_q(config: TinyQConfig, spec, run) -> agent_lib.Agent:
  del run
  num_actions = spec.actions.num_values
  network = hk.without_apply_rng(hk.transform(
      lambda x: hk.nets.MLP([64, 64, num_actions])(x.astype(jnp.float32))))
  optimizer = optax.adam(config.learning_rate)
  obs = np.zeros((1,) + spec.observations.shape, np.float32)

  def init(key):
    params = network.init(key, obs)
    return TinyQState(params, params, optimizer.init(params),
                      jnp.zeros((), jnp.int32))

  def policy(params, key, observations, step, evaluation=False):
    del step
    q = network.apply(params, observations)
    eps = 0.0 if evaluation else config.epsilon
    keys = jax.random.split(key, q.shape[0])
    return jax.vmap(lambda k, v: rlax.epsilon_greedy(eps).sample(k, v))(
        keys, q).astype(jnp.int32), {}

  def loss(params, target, data):
    q_tm1 = network.apply(params, data.observation)
    q_t = network.apply(target, data.next_observation)
    td = jax.vmap(rlax.q_learning)(q_tm1, data.action, data.reward,
                                   data.discount, q_t)
    return jnp.mean(rlax.huber_loss(td, 1.0))

  def update(state, batch, key):
    del key
    value, grads = jax.value_and_grad(loss)(state.params, state.target,
                                            batch.data)
    updates, opt = optimizer.update(grads, state.opt)
    params = optax.apply_updates(state.params, updates)
    steps = state.steps + 1
    target = optax.periodic_update(params, state.target, steps,
                                   config.target_period)
    return TinyQState(params, target, opt, steps), {"loss": value}, None

  replay = agent_lib.ReplaySpec(kind="transitions", n_step=3,
                                discount=config.discount, capacity=20_000,
                                min_size=500, batch_size=64,
                                samples_per_insert=64.0)
  return agent_lib.Agent(init=init, policy=policy, update=update,
                         replay=replay)


@pytest.fixture(name="tiny_q")
def _register_tiny_q(monkeypatch):
  monkeypatch.setitem(agents.REGISTRY, "tiny_q", agent_lib.AgentEntry(
      config_cls=TinyQConfig, make_agent=make_tiny_q,
      runner_defaults=dict(num_envs=1, rollout_length=8)))
  return "tiny_q"


def _config(runner, tmp_path, **kwargs):
  return config_lib.default_config(
      "tiny_q", "CartPole-v1", runner, run_dir=str(tmp_path / runner),
      progress=False, tensorboard=False, eval_every=5_000, eval_episodes=5,
      compilation_cache_dir="", **kwargs)


@pytest.mark.learning
def test_agent_from_a_test_file_learns_in_the_single_process_runner(
    tiny_q, tmp_path):
  from experiments import single_process_runner
  summary = single_process_runner.run(_config(
      "single", tmp_path, num_steps=30_000, replay="device",
      stop_at_return=195.0))
  assert summary.steps_to_target[0] is not None, summary
  assert summary.final_mean_return[0] >= 195.0


@pytest.mark.learning
def test_agent_from_a_test_file_learns_in_the_anakin_runner(tiny_q, tmp_path):
  from experiments import anakin_runner
  summary = anakin_runner.run(_config(
      "anakin", tmp_path, num_steps=30_000, stop_at_return=195.0))
  assert summary.steps_to_target[0] is not None, summary

