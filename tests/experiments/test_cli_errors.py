"""Bad input to `python -m experiments.train`: each has a clear outcome
(exit code 2, a message naming the problem and the fix, nothing lost).

They run on whichever replay backend the install has (Reverb where it is
installed, else device memory); the port checks need the Reverb server."""
from __future__ import annotations

import os
import socket

import pytest

from experiments import train
from tests.conftest import HAS_REVERB
from tests.conftest import requires_reverb


def _main(capsys, *args):
  code = train.main(list(args) + ["--no-progress"])
  return code, capsys.readouterr().err


def test_unknown_env_id(capsys, tmp_path):
  code, err = _main(capsys, "--env", "CartPool-v1", "--run-dir",
                    str(tmp_path / "r"))
  assert code == train.EXIT_BAD_INPUT
  assert not (tmp_path / "r").exists()
  assert "Unknown environment id 'CartPool-v1'" in err
  assert "CartPole-v1" in err


def test_continuous_env_for_dqn(capsys, tmp_path):
  code, err = _main(capsys, "--env", "Pendulum-v1", "--run-dir",
                    str(tmp_path / "r"))
  assert code == train.EXIT_BAD_INPUT
  assert not (tmp_path / "r").exists()
  assert "DQN needs a discrete action space" in err
  assert "Pendulum-v1" in err


@pytest.mark.parametrize("flag,value,needle", [
    ("--dqn.batch-size", "0", "dqn.batch_size must be an integer >= 1"),
    ("--dqn.discount", "1.5", "dqn.discount must be in [0, 1]"),
    ("--num-steps", "-5", "num_steps must be an integer >= 1"),
    ("--agent", "no_such_agent", "Unknown agent 'no_such_agent'"),
])
def test_out_of_range_values(capsys, tmp_path, flag, value, needle):
  run_dir = tmp_path / "r"
  code, err = _main(capsys, flag, value, "--run-dir", str(run_dir))
  assert code == train.EXIT_BAD_INPUT
  assert needle in err
  assert not run_dir.exists()  # nothing created for a rejected config


def test_unparseable_value(capsys):
  with pytest.raises(SystemExit) as info:
    train.main(["--dqn.learning-rate", "fast"])
  assert info.value.code == 2
  assert "fast" in capsys.readouterr().err


@requires_reverb
def test_occupied_port(capsys, tmp_path):
  holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
  holder.bind(("127.0.0.1", 0))
  holder.listen(1)
  port = holder.getsockname()[1]
  try:
    code, err = _main(capsys, "--replay-port", str(port), "--run-dir",
                      str(tmp_path / "r"))
  finally:
    holder.close()
  assert code == train.EXIT_BAD_INPUT
  assert f"Replay port {port} is already in use" in err
  assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args", [["--replay", "device"], []])
def test_replay_port_without_the_reverb_server(capsys, tmp_path, args):
  if not args and HAS_REVERB:
    pytest.skip("the default replay is Reverb here")
  code, err = _main(capsys, *args, "--replay-port", "8123", "--run-dir",
                    str(tmp_path / "r"))
  assert code == train.EXIT_BAD_INPUT
  assert "--replay-port 8123 needs the Reverb replay server" in err
  assert "'device'" in err
  assert not (tmp_path / "r").exists()


def test_unknown_replay_backend(capsys):
  with pytest.raises(SystemExit) as info:
    train.main(["--replay", "memory"])
  assert info.value.code == 2
  err = capsys.readouterr().err
  assert "memory" in err and "device" in err


def test_existing_run_dir_is_never_overwritten(capsys, tmp_path):
  run_dir = tmp_path / "old"
  run_dir.mkdir()
  (run_dir / "precious.txt").write_text("keep me")
  code, err = _main(capsys, "--run-dir", str(run_dir))
  assert code == train.EXIT_BAD_INPUT
  assert "exists already" in err and "--resume" in err
  assert os.listdir(run_dir) == ["precious.txt"]
  assert (run_dir / "precious.txt").read_text() == "keep me"


def test_resume_of_a_folder_that_is_not_a_run(capsys, tmp_path):
  code, err = _main(capsys, "--resume", str(tmp_path))
  assert code == train.EXIT_BAD_INPUT
  assert "not a Relay run folder" in err


def test_resume_with_a_broken_config_touches_nothing(capsys, tmp_path):
  run_dir = tmp_path / "run"
  (run_dir / "logs").mkdir(parents=True)
  (run_dir / "config.json").write_text('{"agent": "dqn", "bogus_field": 1}')
  (run_dir / "logs" / "train.csv").write_text("actor_steps\n5\n")
  code, err = _main(capsys, "--resume", str(run_dir))
  assert code == train.EXIT_BAD_INPUT
  assert "Unknown config fields: ['bogus_field']" in err
  assert (run_dir / "logs" / "train.csv").read_text() == "actor_steps\n5\n"
  assert sorted(p.name for p in run_dir.iterdir()) == ["config.json", "logs"]
  (run_dir / "config.json").write_text("{not json")
  code, err = _main(capsys, "--resume", str(run_dir))
  assert code == train.EXIT_BAD_INPUT
  assert "Cannot read run config" in err


def test_anakin_with_an_environment_that_has_no_jax_version(capsys, tmp_path):
  code, err = _main(capsys, "--runner", "anakin", "--env", "LunarLander-v3",
                    "--run-dir", str(tmp_path / "r"))
  assert code == train.EXIT_BAD_INPUT
  assert "Unknown JAX environment id 'LunarLander-v3'" in err
  assert "CartPole-v1" in err and "--runner single" in err
  assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("runner", ["single", "anakin"])
def test_agent_that_does_not_fit_the_environment(capsys, tmp_path, runner):
  code, err = _main(capsys, "--runner", runner, "--env", "Pendulum-v1",
                    "--agent", "dqn", "--run-dir", str(tmp_path / "r"))
  assert code == train.EXIT_BAD_INPUT
  assert "DQN needs a discrete action space" in err
  assert not (tmp_path / "r").exists()


def test_several_seeds_need_the_anakin_runner(capsys, tmp_path):
  code, err = _main(capsys, "--num-seeds", "4", "--run-dir",
                    str(tmp_path / "r"))
  assert code == train.EXIT_BAD_INPUT
  assert "--num-seeds 4 needs --runner anakin" in err
  assert not (tmp_path / "r").exists()


def test_resume_of_a_run_from_another_runner(capsys, tmp_path):
  from experiments import config as config_lib
  run_dir = tmp_path / "anakin-run"
  run_dir.mkdir()
  config = config_lib.default_config("ppo", "CartPole-v1", "anakin",
                                     run_dir=str(run_dir))
  (run_dir / "config.json").write_text(config.to_json())
  before = sorted(p.name for p in run_dir.iterdir())
  code, err = _main(capsys, "--resume", str(run_dir))
  assert code == train.EXIT_BAD_INPUT
  assert "a run of the 'anakin' runner" in err and "single" in err
  assert sorted(p.name for p in run_dir.iterdir()) == before


def test_agent_in_a_runner_it_does_not_fit(capsys, tmp_path, monkeypatch):
  import dataclasses

  import agents
  entry = dataclasses.replace(
      agents.REGISTRY["dqn"], runners=("anakin",),
      unsupported_reason="it needs many environments in one program")
  monkeypatch.setitem(agents.REGISTRY, "only_anakin", entry)
  code, err = _main(capsys, "--agent", "only_anakin", "--runner", "single",
                    "--run-dir", str(tmp_path / "r"))
  assert code == train.EXIT_BAD_INPUT
  assert ("only_anakin does not run in the single runner: it needs many "
          "environments in one program. Choose --runner anakin.") in err
  assert not (tmp_path / "r").exists()
