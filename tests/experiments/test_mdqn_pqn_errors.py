"""Bad input for M-DQN and PQN on the command line: exit code 2, a message
that names the field and the fix, and no run folder created (the style of
test_cli_errors.py)."""
from __future__ import annotations

import pytest

from experiments import train


def _main(capsys, *args):
  code = train.main(list(args) + ["--no-progress"])
  return code, capsys.readouterr().err


@pytest.mark.parametrize("flag,value,needle", [
    ("--mdqn.tau", "0", "mdqn.tau must be > 0 (the softmax temperature"),
    ("--mdqn.tau", "-0.03", "mdqn.tau must be > 0"),
    ("--mdqn.alpha", "1.5", "mdqn.alpha must be in [0, 1]"),
    ("--mdqn.alpha", "-0.1", "mdqn.alpha must be in [0, 1]"),
    ("--mdqn.l0", "0", "mdqn.l0 must be < 0 (the bonus's lower clip; e.g. -1)"),
    ("--mdqn.l0", "0.5", "mdqn.l0 must be < 0"),
    ("--mdqn.n-step", "0", "mdqn.n_step must be an integer >= 1"),
])
def test_out_of_range_mdqn_fields(capsys, tmp_path, flag, value, needle):
  run_dir = tmp_path / "r"
  code, err = _main(capsys, "--agent", "mdqn", flag, value, "--run-dir",
                    str(run_dir))
  assert code == train.EXIT_BAD_INPUT
  assert needle in err
  assert not run_dir.exists()


@pytest.mark.parametrize("runner", ["single", "anakin"])
@pytest.mark.parametrize("value", ["1.5", "-0.2"])
def test_pqn_lambda_outside_the_unit_interval(capsys, tmp_path, runner, value):
  run_dir = tmp_path / "r"
  code, err = _main(capsys, "--agent", "pqn", "--runner", runner,
                    "--pqn.q-lambda", value, "--run-dir", str(run_dir))
  assert code == train.EXIT_BAD_INPUT
  assert "pqn.q_lambda must be in [0, 1]" in err
  assert value in err
  assert not run_dir.exists()


@pytest.mark.parametrize("agent,name", [("pqn", "PQN"), ("mdqn", "M-DQN")])
@pytest.mark.parametrize("runner", ["single", "anakin"])
def test_continuous_action_environment(capsys, tmp_path, agent, name, runner):
  run_dir = tmp_path / "r"
  code, err = _main(capsys, "--agent", agent, "--runner", runner, "--env",
                    "Pendulum-v1", "--run-dir", str(run_dir))
  assert code == train.EXIT_BAD_INPUT
  assert f"{name} needs a discrete action space" in err
  assert "Pendulum-v1" in err
  assert "CartPole-v1" in err  # the fix: an environment with discrete actions
  assert not run_dir.exists()


def test_pqn_in_the_distributed_runner(capsys, tmp_path):
  run_dir = tmp_path / "r"
  code, err = _main(capsys, "--agent", "pqn", "--runner", "distributed",
                    "--run-dir", str(run_dir))
  assert code == train.EXIT_BAD_INPUT
  assert "pqn does not run in the distributed runner: PQN learns" in err
  assert "Choose --runner single or anakin." in err
  assert not run_dir.exists()


@pytest.mark.parametrize("runner", ["single", "anakin"])
def test_pqn_rollout_that_does_not_split_into_minibatches(capsys, tmp_path,
                                                          runner):
  run_dir = tmp_path / "r"
  code, err = _main(capsys, "--agent", "pqn", "--runner", runner,
                    "--num-envs", "5", "--rollout-length", "5",
                    "--run-dir", str(run_dir))
  assert code == train.EXIT_BAD_INPUT
  assert "(5 x 5 = 25) must split into pqn.num_minibatches (4)" in err
  assert "change --num-envs, --rollout-length or --pqn.num-minibatches" in err
  assert not run_dir.exists()
