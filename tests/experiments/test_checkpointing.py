"""Orbax checkpoints restore the learner state and run record exactly."""
from __future__ import annotations

import jax
import numpy as np

from agents.dqn import agent as dqn_agent
from agents.dqn import config as config_lib
from building_blocks import agent as agent_lib
from envs import gymnasium_adapter
from experiments import checkpointing


def _state(seed):
  spec = gymnasium_adapter.make_environment_spec(
      gymnasium_adapter.make_environment("CartPole-v1"))
  config = config_lib.DQNConfig(hidden_sizes=(8,))
  agent = dqn_agent.make_agent(config, spec, agent_lib.RunInfo(1, 1, 100))
  return agent.init(jax.random.PRNGKey(seed))


def test_round_trip_keeps_every_array_and_the_record(tmp_path):
  saved = _state(0)._replace(steps=np.int32(1234))
  record = {"counts": {"env_steps": 77}, "actor_key": [1, 2],
            "env_rng": {"state": {"state": 2**100 + 3}}}
  ckpt = checkpointing.Checkpointer(str(tmp_path / "ckpt"), max_to_keep=2)
  for step in (10, 20, 30):
    ckpt.save(step, saved, dict(record, step=step))
  assert ckpt.latest_step() == 30
  restored, meta = ckpt.restore(_state(1))  # template with other values
  ckpt.close()
  assert type(restored) is type(saved)
  for got, want in zip(jax.tree_util.tree_leaves(restored),
                       jax.tree_util.tree_leaves(saved)):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
  assert meta == dict(record, step=30)
  kept = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
  assert kept == ["20", "30"]  # max_to_keep
