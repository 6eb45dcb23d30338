"""Bad input to `python -m experiments.train` for the continuous-control
agents (TD3, SAC, D4PG): exit code 2, a message naming the problem and the
fix, and no run folder created."""
from __future__ import annotations

import pytest

from experiments import train


def _main(capsys, *args):
  code = train.main(list(args) + ["--no-progress"])
  return code, capsys.readouterr().err


@pytest.mark.parametrize("runner", ["single", "anakin"])
@pytest.mark.parametrize("agent,name", [("td3", "TD3"), ("sac", "SAC"),
                                        ("d4pg", "D4PG")])
def test_continuous_agent_on_a_discrete_environment(capsys, tmp_path, runner,
                                                    agent, name):
  run_dir = tmp_path / "r"
  code, err = _main(capsys, "--runner", runner, "--agent", agent, "--env",
                    "CartPole-v1", "--replay", "device", "--run-dir",
                    str(run_dir))
  assert code == train.EXIT_BAD_INPUT
  assert f"{name} needs a continuous action space" in err
  assert "CartPole-v1" in err and "DiscreteArray" in err  # what it has
  assert "Pendulum-v1" in err and "dqn" in err  # the fixes
  assert not run_dir.exists()


@pytest.mark.parametrize("args,needle", [
    (["--d4pg.v-min", "0", "--d4pg.v-max", "0"],
     "d4pg.v_min (0.0) must be smaller than d4pg.v_max (0.0)"),
    (["--d4pg.v-min", "5", "--d4pg.v-max", "-5"],
     "d4pg.v_min (5.0) must be smaller than d4pg.v_max (-5.0)"),
    (["--d4pg.num-atoms", "1"], "d4pg.num_atoms must be an integer >= 2"),
    (["--d4pg.v-min", "10", "--d4pg.v-max", "100"],
     "[d4pg.v_min, d4pg.v_max] = [10.0, 100.0] must contain 0"),
])
def test_inconsistent_d4pg_atoms(capsys, tmp_path, args, needle):
  run_dir = tmp_path / "r"
  code, err = _main(capsys, "--agent", "d4pg", "--env", "Pendulum-v1",
                    "--replay", "device", *args, "--run-dir", str(run_dir))
  assert code == train.EXIT_BAD_INPUT
  assert needle in err
  assert not run_dir.exists()


@pytest.mark.parametrize("agent,args,needle", [
    ("td3", ["--td3.tau", "0"], "td3.tau must be in (0, 1]"),
    ("td3", ["--td3.policy-update-period", "3"],
     "td3.num_sgd_steps_per_step (8) must be a multiple of "
     "td3.policy_update_period (3)"),
    ("td3", ["--td3.exploration-noise", "-0.1"],
     "td3.exploration_noise must be >= 0"),
    ("sac", ["--sac.initial-temperature", "0"],
     "sac.initial_temperature must be > 0"),
    ("sac", ["--sac.discount", "1.5"], "sac.discount must be in [0, 1]"),
    ("sac", ["--sac.warmup-steps", "-1"],
     "sac.warmup_steps must be an integer >= 0"),
    ("sac", ["--sac.critic-hidden-sizes", "0"],
     "sac.critic_hidden_sizes must be non-empty and positive"),
    ("d4pg", ["--d4pg.min-replay-size", "10", "--d4pg.max-replay-size", "5"],
     "d4pg.min_replay_size (10) must not exceed d4pg.max_replay_size (5)"),
])
def test_out_of_range_fields(capsys, tmp_path, agent, args, needle):
  run_dir = tmp_path / "r"
  code, err = _main(capsys, "--agent", agent, "--env", "Pendulum-v1",
                    "--replay", "device", *args, "--run-dir", str(run_dir))
  assert code == train.EXIT_BAD_INPUT
  assert needle in err
  assert not run_dir.exists()


def test_anakin_rollout_that_does_not_fit_the_replay_ratio(capsys, tmp_path):
  run_dir = tmp_path / "r"
  code, err = _main(capsys, "--runner", "anakin", "--agent", "sac", "--env",
                    "Pendulum-v1", "--rollout-length", "4", "--run-dir",
                    str(run_dir))
  assert code == train.EXIT_BAD_INPUT
  assert "whole number" in err and "--rollout-length" in err
  assert not run_dir.exists()
