"""Agents reach their reference returns in the all-on-accelerator runner
(one seed each; the README has the 8-seed figures)."""
from __future__ import annotations

import pytest

from experiments import anakin_config
from experiments import anakin_run

pytestmark = pytest.mark.learning


def _assert_reaches(tmp_path, agent, env, num_steps, target, **kwargs):
  """Seed 0 reaches a 10-episode mean of `target` within `num_steps`."""
  config = anakin_config.default_config(
      agent, env, seed=0, num_steps=num_steps, stop_at_return=target,
      progress=False, run_dir=str(tmp_path / "run"), **kwargs)
  result = anakin_run.run(config)
  steps = int(result.steps_to_target[0])
  assert 0 <= steps <= num_steps, (
      f"10-episode mean {result.final_mean_return[0]:.1f} after "
      f"{result.env_steps_per_seed} steps")


def test_ppo_reaches_475_on_cartpole_within_500k_steps(tmp_path):
  _assert_reaches(tmp_path, "ppo", "CartPole-v1", 500_000, 475.0,
                  eval_every=20_480)


def test_continuous_ppo_reaches_minus_250_on_pendulum(tmp_path):
  _assert_reaches(tmp_path, "ppo", "Pendulum-v1", 300_000, -250.0,
                  eval_every=32_768, eval_episodes=0)


def test_dqn_reaches_475_on_cartpole(tmp_path):
  _assert_reaches(tmp_path, "dqn", "CartPole-v1", 100_000, 475.0,
                  eval_every=8_192)
