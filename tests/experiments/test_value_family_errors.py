"""Bad input for C51, QR-DQN and Rainbow through `python -m
experiments.train`: exit code 2, a message naming the field, what was
wrong and what to do, and no run folder."""
from __future__ import annotations

import pytest

from experiments import train


def _main(capsys, *args):
  code = train.main(list(args) + ["--no-progress"])
  return code, capsys.readouterr().err


@pytest.mark.parametrize("args,needles", [
    (["--agent", "c51", "--c51.v-min", "10", "--c51.v-max", "5"],
     ["c51.v_min (10) must be less than c51.v_max (5)", "--c51.v-min"]),
    (["--agent", "rainbow", "--rainbow.v-min", "3", "--rainbow.v-max", "3"],
     ["rainbow.v_min (3) must be less than rainbow.v_max (3)"]),
    (["--agent", "c51", "--c51.num-atoms", "1"],
     ["c51.num_atoms must be an integer >= 2", "got 1", "--c51.num-atoms 51"]),
    (["--agent", "rainbow", "--rainbow.num-atoms", "0"],
     ["rainbow.num_atoms must be an integer >= 2"]),
    (["--agent", "qr_dqn", "--qr_dqn.num-quantiles", "0"],
     ["qr_dqn.num_quantiles must be an integer >= 1", "got 0",
      "--qr_dqn.num-quantiles"]),
    (["--agent", "c51", "--c51.v-min", "10", "--c51.v-max", "200"],
     ["atom support [10, 200]", "does not contain 0",
      "lower c51.v_min to 0 or below"]),
    (["--agent", "rainbow", "--rainbow.v-min", "-50", "--rainbow.v-max", "-1"],
     ["atom support [-50, -1]", "does not contain 0",
      "raise rainbow.v_max to 0 or above"]),
])
@pytest.mark.parametrize("runner", ["single", "anakin"])
def test_inconsistent_distributional_settings(capsys, tmp_path, runner, args,
                                              needles):
  run_dir = tmp_path / "r"
  code, err = _main(capsys, "--runner", runner, "--replay", "device", *args,
                    "--run-dir", str(run_dir))
  assert code == train.EXIT_BAD_INPUT
  for needle in needles:
    assert needle in err
  assert not run_dir.exists()


def test_support_is_ignored_without_the_distributional_loss(capsys, tmp_path):
  """Rainbow without the C51 loss has no atoms: its v_min/v_max are not
  checked (the run is refused here only for its step budget)."""
  code, err = _main(capsys, "--agent", "rainbow", "--runner", "anakin",
                    "--rainbow.no-distributional", "--rainbow.v-min", "5",
                    "--rainbow.v-max", "1", "--num-steps", "-1",
                    "--run-dir", str(tmp_path / "r"))
  assert code == train.EXIT_BAD_INPUT
  assert "num_steps must be an integer >= 1" in err
  assert "v_min" not in err


@pytest.mark.parametrize("agent,name", [("c51", "C51"), ("qr_dqn", "QR-DQN"),
                                        ("rainbow", "Rainbow")])
@pytest.mark.parametrize("runner", ["single", "anakin"])
def test_continuous_env(capsys, tmp_path, agent, name, runner):
  code, err = _main(capsys, "--agent", agent, "--runner", runner,
                    "--replay", "device", "--env", "Pendulum-v1",
                    "--run-dir", str(tmp_path / "r"))
  assert code == train.EXIT_BAD_INPUT
  assert f"{name} needs a discrete action space" in err
  assert "Pendulum-v1" in err
  assert not (tmp_path / "r").exists()
