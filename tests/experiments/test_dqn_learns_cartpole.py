"""DQN with its default config reaches its reference return on CartPole-v1,
with replay in device memory (every install) and in Reverb (where it is
installed)."""
from __future__ import annotations

import json
import os

import pytest

from experiments import config as config_lib
from experiments import single_process_runner
from tests.conftest import requires_reverb

pytestmark = pytest.mark.learning


@pytest.mark.parametrize("replay", [
    "device", pytest.param("reverb", marks=requires_reverb)])
def test_default_dqn_reaches_475_within_50k_steps(tmp_path, replay):
  config = config_lib.ExperimentConfig(
      agent="dqn", env="CartPole-v1", seed=0, num_steps=50_000,
      stop_at_return=475.0, progress=False, tensorboard=False,
      run_dir=str(tmp_path / "run"), replay=replay)
  summary = single_process_runner.run(config)
  assert summary.steps_to_target[0] is not None, (
      f"best 10-episode mean {summary.extra['best_mean_return']:.1f} < 475 "
      f"after {summary.env_steps} steps")
  assert summary.steps_to_target[0] <= 50_000
  # The greedy policy it learned is also good (evaluation after stopping).
  assert summary.final_eval_return[0] >= 400
  assert os.path.exists(summary.plot_path)
  with open(os.path.join(summary.run_dir, "config.json")) as f:
    assert json.load(f)["replay"] == replay  # the run records its backend
