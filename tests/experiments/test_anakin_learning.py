"""Agents reach their reference returns in the all-on-accelerator runner
(one seed each; the README has the 8-seed figures)."""
from __future__ import annotations

from typing import Any

import pytest

from experiments import anakin_runner
from experiments import config as config_lib

pytestmark = pytest.mark.learning


def _assert_reaches(tmp_path: Any, agent: str, env: str, num_steps: int,
                    target: float, **kwargs: Any) -> None:
  """Seed 0 reaches a 10-episode mean of `target` within `num_steps`."""
  config = config_lib.default_config(
      agent, env, runner="anakin", seed=0, num_steps=num_steps,
      stop_at_return=target, progress=False, run_dir=str(tmp_path / "run"),
      **kwargs)
  summary = anakin_runner.run(config)
  steps = summary.steps_to_target[0]
  final = summary.final_mean_return[0]
  assert steps is not None and 0 <= steps <= num_steps, (
      f"10-episode mean {'n/a' if final is None else f'{final:.1f}'} after "
      f"{summary.env_steps} steps")


def test_ppo_reaches_475_on_cartpole_within_500k_steps(tmp_path):
  _assert_reaches(tmp_path, "ppo", "CartPole-v1", 500_000, 475.0,
                  eval_every=20_480)


def test_continuous_ppo_reaches_minus_250_on_pendulum(tmp_path):
  _assert_reaches(tmp_path, "ppo", "Pendulum-v1", 300_000, -250.0,
                  eval_every=32_768, eval_episodes=0)


def test_dqn_reaches_475_on_cartpole(tmp_path):
  _assert_reaches(tmp_path, "dqn", "CartPole-v1", 100_000, 475.0,
                  eval_every=8_192)
