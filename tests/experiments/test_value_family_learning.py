"""C51, QR-DQN and Rainbow reach a 10-episode mean return of 475 on
CartPole-v1 within 100k environment steps with their default settings, all
on the accelerator (one seed each; the README has the 3-seed figures)."""
from __future__ import annotations

from typing import Any

import pytest

from experiments import anakin_runner
from experiments import config as config_lib

pytestmark = [pytest.mark.learning, pytest.mark.family_learning]


def _assert_reaches_475_on_cartpole(tmp_path: Any, agent: str) -> None:
  """Seed 0 reaches a 10-episode mean training return of 475 within 100k
  steps (the run stops soon after; no evaluation episodes, to stay lean)."""
  config = config_lib.default_config(
      agent, "CartPole-v1", runner="anakin", seed=0, num_steps=100_000,
      stop_at_return=475.0, eval_every=2_048, eval_episodes=0,
      progress=False, tensorboard=False, run_dir=str(tmp_path / "run"))
  summary = anakin_runner.run(config)
  steps = summary.steps_to_target[0]
  final = summary.final_mean_return[0]
  assert steps is not None and 0 <= steps <= 100_000, (
      f"10-episode mean {'n/a' if final is None else f'{final:.1f}'} after "
      f"{summary.env_steps} steps")


@pytest.mark.parametrize("agent", ["c51", "qr_dqn", "rainbow"])
def test_reaches_475_on_cartpole_within_100k_steps(tmp_path, agent):
  _assert_reaches_475_on_cartpole(tmp_path, agent)
