"""Agents reach their reference returns in the all-on-accelerator runner
(one seed each; the README has the 8-seed figures)."""
from __future__ import annotations

import pytest

from experiments import anakin_config
from experiments import anakin_run

pytestmark = pytest.mark.learning


def _run(tmp_path, agent, env, num_steps, target, **kwargs):
  config = anakin_config.default_config(
      agent, env, seed=0, num_steps=num_steps, stop_at_return=target,
      progress=False, run_dir=str(tmp_path / "run"), **kwargs)
  return anakin_run.run(config)


def test_ppo_reaches_475_on_cartpole_within_500k_steps(tmp_path):
  result = _run(tmp_path, "ppo", "CartPole-v1", 500_000, 475.0,
                eval_every=20_480)
  steps = int(result.steps_to_target[0])
  assert 0 <= steps <= 500_000, (
      f"10-episode mean {result.final_mean_return[0]:.1f} after "
      f"{result.env_steps_per_seed} steps")


def test_continuous_ppo_reaches_minus_250_on_pendulum(tmp_path):
  result = _run(tmp_path, "ppo", "Pendulum-v1", 300_000, -250.0,
                eval_every=32_768, eval_episodes=0)
  steps = int(result.steps_to_target[0])
  assert 0 <= steps <= 300_000, (
      f"10-episode mean {result.final_mean_return[0]:.1f} after "
      f"{result.env_steps_per_seed} steps")


def test_dqn_reaches_475_on_cartpole(tmp_path):
  result = _run(tmp_path, "dqn", "CartPole-v1", 100_000, 475.0,
                eval_every=8_192)
  steps = int(result.steps_to_target[0])
  assert 0 <= steps <= 100_000, (
      f"10-episode mean {result.final_mean_return[0]:.1f} after "
      f"{result.env_steps_per_seed} steps")
