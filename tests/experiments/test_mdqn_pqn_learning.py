"""M-DQN and PQN reach a 10-episode mean of 475 on CartPole-v1 within 100k
steps with their defaults, all on the accelerator (their fastest runner
here; one seed each; the README has the multi-seed figures)."""
from __future__ import annotations

from typing import Any

import pytest

from experiments import anakin_runner
from experiments import config as config_lib

pytestmark = [pytest.mark.learning, pytest.mark.family_learning]


def _assert_reaches(tmp_path: Any, agent: str, num_steps: int,
                    target: float, **kwargs: Any) -> None:
  """Seed 0 reaches a 10-episode mean of `target` within `num_steps`."""
  config = config_lib.default_config(
      agent, "CartPole-v1", runner="anakin", seed=0, num_steps=num_steps,
      stop_at_return=target, progress=False, tensorboard=False,
      run_dir=str(tmp_path / "run"), **kwargs)
  summary = anakin_runner.run(config)
  steps = summary.steps_to_target[0]
  final = summary.final_mean_return[0]
  assert steps is not None and 0 <= steps <= num_steps, (
      f"10-episode mean {'n/a' if final is None else f'{final:.1f}'} after "
      f"{summary.env_steps} steps")


def test_mdqn_reaches_475_on_cartpole_within_100k_steps(tmp_path):
  _assert_reaches(tmp_path, "mdqn", 100_000, 475.0, eval_every=8_192,
                  eval_episodes=0)


def test_pqn_reaches_475_on_cartpole_within_100k_steps(tmp_path):
  _assert_reaches(tmp_path, "pqn", 100_000, 475.0, eval_every=8_192,
                  eval_episodes=0)
