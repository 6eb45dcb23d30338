"""PPO in the single-process runner reaches its reference returns on
gymnasium environments (one seed each; benchmarks/ppo_single_vs_sb3.py
has the multi-seed figures)."""
from __future__ import annotations

import pytest

from experiments import config as config_lib
from experiments import single_process_runner

pytestmark = pytest.mark.learning


@pytest.mark.parametrize("env,target,budget", [
    ("CartPole-v1", 475.0, 100_000),
    ("Pendulum-v1", -250.0, 300_000),
])
def test_ppo_reaches_its_reference_return(tmp_path, env, target, budget):
  config = config_lib.default_config(
      "ppo", env, "single", seed=0, num_steps=budget, stop_at_return=target,
      eval_every=0, eval_episodes=5, progress=False, tensorboard=False,
      replay="device", run_dir=str(tmp_path / "run"),
      compilation_cache_dir="")
  summary = single_process_runner.run(config)
  assert summary.steps_to_target[0] is not None, (
      f"best 10-episode mean {summary.extra['best_mean_return']:.1f} < "
      f"{target} after {summary.env_steps} steps")
  assert summary.steps_to_target[0] <= budget
