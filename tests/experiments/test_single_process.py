"""The single-process runner with any agent: PPO through the rollout queue
on both replays, one final evaluation, and the same update as the
all-on-accelerator runner for the same state and batch."""
from __future__ import annotations

import csv
import os

import jax
import numpy as np
import pytest

from building_blocks import learner as learner_lib
from experiments import config as config_lib
from experiments import single_process_runner
from tests.conftest import requires_reverb

BACKENDS = ["device", pytest.param("reverb", marks=requires_reverb)]


def _rows(path):
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def _config(tmp_path, agent="dqn", env="CartPole-v1", **kwargs):
  base = dict(progress=False, tensorboard=False, run_dir=str(tmp_path / "run"),
              compilation_cache_dir="")
  base.update(kwargs)
  return config_lib.default_config(agent, env, "single", **base)


@pytest.mark.parametrize("replay", BACKENDS)
def test_ppo_trains_on_gymnasium_vector_envs_through_a_queue(tmp_path, replay):
  config = _config(tmp_path, "ppo", num_steps=2048, num_envs=4,
                   rollout_length=64, eval_every=0, eval_episodes=1,
                   replay=replay)
  summary = single_process_runner.run(config)
  assert summary.env_steps == 2048
  # One update per rollout of 4 x 64 steps, each consumed once.
  assert summary.extra["learner_steps"] == 2048 // 256
  rows = _rows(os.path.join(summary.run_dir, "logs", "train.csv"))
  assert rows and {"loss", "entropy", "approx_kl"} <= set(rows[0])
  assert float(rows[-1]["loss"]) == float(rows[-1]["loss"])  # not NaN
  assert summary.final_eval_return[0] is not None


def test_a_run_ending_on_an_evaluation_is_not_evaluated_twice(tmp_path):
  config = _config(tmp_path, num_steps=1500, eval_every=250, eval_episodes=1,
                   replay="device")
  config.dqn.min_replay_size = 200
  summary = single_process_runner.run(config)
  rows = _rows(os.path.join(summary.run_dir, "logs", "eval.csv"))
  steps = [int(r["env_steps"]) for r in rows]
  assert steps == sorted(set(steps)), steps  # every evaluation once
  assert steps[-1] == summary.env_steps == 1500
  assert summary.final_eval_return[0] == pytest.approx(
      float(rows[-1]["eval_mean_return"]))


@pytest.mark.parametrize("agent,env", [("dqn", "CartPole-v1"),
                                       ("ppo", "Pendulum-v1")])
def test_same_state_and_batch_give_the_same_update_in_both_runners(
    tmp_path, agent, env):
  """The single-process Learner and the all-on-accelerator program both
  call agent.update; from the same state, batch and key they agree."""
  from experiments import anakin_program
  from replay import vector_adders
  from replay import dataset
  from envs import gymnasium_adapter
  config = _config(tmp_path, agent, env, num_envs=2, rollout_length=8)
  spec = gymnasium_adapter.make_environment_spec(
      gymnasium_adapter.make_environment(env))
  built = single_process_runner.build_agent(config, spec)
  anakin_config = config_lib.default_config(agent, env, "anakin", num_envs=2,
                                            rollout_length=8)
  jax_env, plan = anakin_program.check_config(anakin_config)
  anakin_agent = anakin_program.build_agent(anakin_config, jax_env, plan)
  example = vector_adders.example_item(built, spec, 2, 8)
  rng = np.random.default_rng(0)
  noise = lambda x: (rng.normal(size=np.shape(x)) * 0.5).astype(  # noqa: E731
      np.asarray(x).dtype) if np.asarray(x).dtype.kind == "f" else np.asarray(x)
  if built.replay.kind == "transitions":
    size = built.replay.batch_size
    data = jax.tree_util.tree_map(
        lambda x: np.stack([noise(x) for _ in range(size)]), example)
    data = data._replace(action=rng.integers(0, 2, size).astype(np.int32),
                         discount=np.full(size, 0.9, np.float32))
    batch = dataset.ReplayBatch(np.arange(size, dtype=np.uint64),
                                np.full(size, 1e-3, np.float32),
                                np.full(size, 500, np.int32), data)
    payload = batch._replace(keys=None)
  else:
    data = jax.tree_util.tree_map(noise, example)
    batch = dataset.ReplayBatch(np.zeros(1, np.uint64), np.ones(1, np.float32),
                                np.ones(1, np.int32), data)
    payload = data

  class _OneBatch:
    def sample(self):
      return batch

    def update_priorities(self, keys, priorities):
      pass

  learner = learner_lib.Learner(built, _OneBatch(), jax.random.PRNGKey(3))
  before = jax.tree_util.tree_map(np.asarray, learner.save())
  learner.step()
  host = jax.tree_util.tree_map(np.asarray, learner.save().agent)
  update_key = jax.random.split(before.key)[1]
  device, _, _ = jax.jit(anakin_agent.update)(before.agent, payload,
                                              update_key)
  # Two separately compiled float32 programs (XLA may fuse them
  # differently) after PPO's 80 sequential Adam steps: agreement to 1e-5,
  # not bit for bit.
  jax.tree_util.tree_map(
      lambda a, b: np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4,
                                              atol=1e-5), host, device)
