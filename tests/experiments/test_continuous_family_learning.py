"""TD3, SAC and D4PG with their default configs reach a 10-episode mean
training return of -200 on Pendulum-v1 within 20k environment steps (one
seed each, all on the accelerator, where they are fastest; 3-seed figures
come from `--num-seeds 3` runs of the same command)."""
from __future__ import annotations

import pytest

from experiments import anakin_runner
from experiments import config as config_lib

pytestmark = [pytest.mark.learning, pytest.mark.family_learning]


@pytest.mark.parametrize("agent", ["sac", "td3", "d4pg"])
def test_reaches_minus_200_on_pendulum_within_20k_steps(tmp_path, agent):
  config = config_lib.default_config(
      agent, "Pendulum-v1", runner="anakin", seed=0, num_steps=20_000,
      stop_at_return=-200.0, eval_every=1_000, eval_episodes=0,
      progress=False, tensorboard=False, run_dir=str(tmp_path / "run"))
  summary = anakin_runner.run(config)
  steps = summary.steps_to_target[0]
  final = summary.final_mean_return[0]
  assert steps is not None and steps <= 20_000, (
      f"10-episode mean {'n/a' if final is None else f'{final:.1f}'} after "
      f"{summary.env_steps} steps")
