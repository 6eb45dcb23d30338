"""PQN's policy and its fit to the runners: epsilon-greedy frequencies, the
epsilon schedule, and a short single-process run on gymnasium
environments (the rollout adder path; learning is asserted all on the
accelerator in tests/experiments/test_mdqn_pqn_learning.py)."""
from __future__ import annotations

import jax
import numpy as np

from agents.pqn import acting
from agents.pqn import config as config_lib
from experiments import config as experiment_config
from experiments import single_process_runner


def test_epsilon_greedy_frequencies():
  q = np.tile(np.array([[0.0, 3.0, 1.0, 2.0]], np.float32), (20_000, 1))
  key = jax.random.PRNGKey(0)
  greedy = np.asarray(acting.epsilon_greedy(key, q, 0.0))
  assert (greedy == 1).all()
  actions = np.asarray(acting.epsilon_greedy(key, q, 0.4))
  freq = np.bincount(actions, minlength=4) / len(actions)
  # (1 - eps) on the greedy action plus eps / A on every action.
  np.testing.assert_allclose(freq, [0.1, 0.7, 0.1, 0.1], atol=0.015)


def test_epsilon_schedule_and_evaluation_policy():
  config = config_lib.PQNConfig(epsilon_start=1.0, epsilon_end=0.1,
                                epsilon_decay_steps=1000)
  schedule = acting.epsilon_schedule(config)
  np.testing.assert_allclose(
      [float(schedule(s)) for s in (0, 500, 1000, 5000)],
      [1.0, 0.55, 0.1, 0.1], rtol=1e-6)

  def apply(params, obs):
    return obs @ params
  policy = acting.make_policy(
      type("Net", (), {"apply": staticmethod(apply)})(), config)
  obs = np.eye(3, dtype=np.float32)
  params = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], np.float32)
  actions, extras = policy(params, jax.random.PRNGKey(1), obs, 0, True)
  np.testing.assert_array_equal(np.asarray(actions), [1, 2, 0])
  assert extras == {}


def test_pqn_trains_in_the_single_process_runner(tmp_path):
  config = experiment_config.default_config(
      "pqn", "CartPole-v1", "single", seed=0, num_steps=2_048,
      eval_every=0, eval_episodes=1, progress=False, tensorboard=False,
      replay="device", run_dir=str(tmp_path / "run"),
      compilation_cache_dir="")
  summary = single_process_runner.run(config)
  assert summary.env_steps == 2_048
  # 8 environments x 16 steps: one update per rollout of 128 steps.
  assert summary.extra["learner_steps"] == 2_048 // 128
  assert summary.final_eval_return[0] is not None
