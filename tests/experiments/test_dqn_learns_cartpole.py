"""DQN with its default config reaches its reference return on CartPole-v1,
with replay in device memory (every install) and in Reverb (where it is
installed)."""
from __future__ import annotations

import json
import os

import pytest

from experiments import config as config_lib
from experiments import single_process
from tests.conftest import requires_reverb

pytestmark = pytest.mark.learning


@pytest.mark.parametrize("replay", [
    "device", pytest.param("reverb", marks=requires_reverb)])
def test_default_dqn_reaches_475_within_50k_steps(tmp_path, replay):
  config = config_lib.ExperimentConfig(
      agent="dqn", env="CartPole-v1", seed=0, num_steps=50_000,
      stop_at_return=475.0, progress=False, tensorboard=False,
      run_dir=str(tmp_path / "run"), replay=replay)
  result = single_process.run_experiment(config)
  assert result.steps_to_target is not None, (
      f"best 10-episode mean {result.best_mean_return:.1f} < 475 "
      f"after {result.actor_steps} steps")
  assert result.steps_to_target <= 50_000
  # The greedy policy it learned is also good (evaluation after stopping).
  assert result.final_eval_return >= 400
  assert os.path.exists(result.plot_path)
  with open(os.path.join(result.run_dir, "config.json")) as f:
    assert json.load(f)["replay"] == replay  # the run records its backend
