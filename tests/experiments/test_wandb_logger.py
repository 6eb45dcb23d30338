"""Weights & Biases as one more sink of a run's logs: the same rows under
the same names as the CSV (and TensorBoard) in the single-process and the
all-on-accelerator runner, the run id kept for a resume, and a clear error
before anything is written when the wandb package is missing.

Every W&B run here is offline, in tmp_path: the W&B runs are read back
from the records W&B writes offline (run-<id>.wandb), never sent, and
`wandb.login` fails the test if anything calls it.
"""
from __future__ import annotations

import csv
import glob
import json
import os
import struct
import sys
import time
from typing import Any

import pytest

from building_blocks import errors
from building_blocks import optional_deps
from experiments import anakin_runner
from experiments import config as config_lib
from experiments import run_logs
from experiments import single_process_runner
from experiments import train

STEP = run_logs.STEP_KEY


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch):
  """W&B offline, every file it writes under tmp_path/wandb-home; yields the
  folder the W&B runs go to (WANDB_DIR)."""
  wandb = pytest.importorskip("wandb")
  home = tmp_path / "wandb-home"
  runs = home / "runs"
  runs.mkdir(parents=True)
  monkeypatch.delenv("WANDB_API_KEY", raising=False)
  for name, value in {
      "WANDB_MODE": "offline", "WANDB_DIR": str(runs),
      "WANDB_CONFIG_DIR": str(home / "config"),
      "WANDB_CACHE_DIR": str(home / "cache"),
      "WANDB_DATA_DIR": str(home / "data"),
      "WANDB_ARTIFACT_DIR": str(home / "artifacts"),
      "WANDB_DISABLE_CODE": "true", "WANDB_DISABLE_GIT": "true",
      "WANDB_SILENT": "true", "WANDB_CONSOLE": "off"}.items():
    monkeypatch.setenv(name, value)

  def no_login(*args, **kwargs):
    raise AssertionError("the library called wandb.login")

  monkeypatch.setattr(wandb, "login", no_login)
  yield runs
  wandb.teardown()  # ends W&B's service process


def _records(path: str) -> list[Any]:
  """The protobuf records of a W&B run file: a LevelDB log (32 KiB blocks
  of records, each a 7-byte header (CRC, length, type) and data split into
  FULL or FIRST/MIDDLE/LAST pieces) after a 7-byte ":W&B" file header."""
  from wandb.proto import wandb_internal_pb2  # pylint: disable=g-import-not-at-top
  block = 32768
  with open(path, "rb") as f:
    raw = f.read()
  assert raw[:4] == b":W&B", raw[:7]
  records, pieces, index = [], [], 7
  while index + 7 <= len(raw):
    if block - index % block < 7:  # a block's zero-filled tail
      index += block - index % block
      continue
    _, length, kind = struct.unpack("<IHB", raw[index:index + 7])
    data = raw[index + 7:index + 7 + length]
    index += 7 + length
    pieces = [data] if kind in (1, 2) else pieces + [data]
    if kind in (1, 4):
      record = wandb_internal_pb2.Record()
      record.ParseFromString(b"".join(pieces))
      records.append(record)
  return records


def _offline_runs(directory: Any) -> list[str]:
  return sorted(glob.glob(os.path.join(str(directory), "wandb",
                                       "offline-run-*")))


def _run_id_of(run_folder: str) -> str:
  """The id in offline-run-<date>_<time>-<id>[-<n>] (W&B adds -<n> when a
  folder of that second and id exists already)."""
  return os.path.basename(run_folder).split("-")[3]


def _history(run_folder: str, timeout: float = 60.0) -> list[dict[str, Any]]:
  """The rows logged to one offline W&B run (its history records), once
  the file is complete: W&B's service may still be writing it when
  `finish()` returns, and its last record is the run's exit."""
  [path] = glob.glob(os.path.join(run_folder, "run-*.wandb"))
  deadline = time.monotonic() + timeout
  while True:
    records = _records(path)
    kinds = [record.WhichOneof("record_type") for record in records]
    if "exit" in kinds or time.monotonic() > deadline:
      break
    time.sleep(0.1)
  assert "exit" in kinds, f"{path} has no exit record after {timeout} s"
  rows = []
  for record in records:
    if record.WhichOneof("record_type") == "history":
      rows.append({item.key or "/".join(item.nested_key):
                   json.loads(item.value_json)
                   for item in record.history.item})
  return rows


def _logged(rows: list[dict[str, Any]], prefix: str
            ) -> tuple[set[str], list[dict[str, Any]]]:
  """(metric names, rows) of one log (`prefix`/...) in W&B's rows."""
  mine = [{k[len(prefix) + 1:]: v for k, v in row.items()
           if k.startswith(prefix + "/")} for row in rows]
  mine = [row for row in mine if row]
  return set().union(*mine) if mine else set(), mine


def _csv(path: str) -> tuple[list[str], list[dict[str, str]]]:
  with open(path, newline="") as f:
    reader = csv.DictReader(f)
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def test_run_logs_send_the_rows_to_wandb_and_a_resume_keeps_the_run_id(
    tmp_path, offline_wandb):
  run_dir = str(tmp_path / "run")
  os.makedirs(run_dir)
  options = run_logs.WandbOptions(project="relay-test", mode="offline")
  logs = run_logs.RunLogs(run_dir, tensorboard=False, wandb=options)
  logs.train({STEP: 10, "seed": 0, "episode_return": 3.0, "loss": None})
  logs.train({STEP: 20, "seed": 0, "episode_return": 5.0, "loss": 0.5})
  logs.evaluation({STEP: 20, "eval_mean_return": 4.0})
  logs.train({STEP: 30, "episode_return": 1.0}, tensorboard=False)  # CSV only
  logs.close()
  with open(os.path.join(run_dir, run_logs.WANDB_ID_FILE)) as f:
    run_id = f.read().strip()
  [first] = _offline_runs(offline_wandb)
  assert _run_id_of(first) == run_id
  names, rows = _logged(_history(first), "train")
  assert names == {STEP, "seed", "episode_return", "loss"}
  assert [r[STEP] for r in rows] == [10, 20]
  assert "loss" not in rows[0] and rows[1]["loss"] == 0.5  # None: not sent
  assert _logged(_history(first), "eval")[1] == [
      {STEP: 20, "eval_mean_return": 4.0}]

  # A resume continues the W&B run: same id (offline: a second folder of
  # that run, which `wandb sync` appends to it).
  logs = run_logs.RunLogs(run_dir, tensorboard=False, resume_from_step=20,
                          wandb=options)
  logs.train({STEP: 30, "seed": 0, "episode_return": 7.0, "loss": 0.1})
  logs.close()
  runs = _offline_runs(offline_wandb)
  assert len(runs) == 2 and all(_run_id_of(r) == run_id for r in runs)
  second = [r for r in runs if r != first][0]
  assert [r[STEP] for r in _logged(_history(second), "train")[1]] == [30]
  _, csv_rows = _csv(logs.train_csv)
  assert [int(r[STEP]) for r in csv_rows] == [10, 20, 30]  # rewound, resumed


def test_single_process_run_logs_the_csv_metrics_to_wandb(tmp_path,
                                                          offline_wandb):
  config = config_lib.default_config(
      "dqn", "CartPole-v1", "single", num_steps=1500, eval_every=1000,
      eval_episodes=2, replay="device", progress=False,
      compilation_cache_dir="", run_dir=str(tmp_path / "run"), wandb=True,
      wandb_project="relay-test")
  summary = single_process_runner.run(config)
  [wandb_run] = _offline_runs(offline_wandb)
  history = _history(wandb_run)
  for name, csv_path in (("train", "train.csv"), ("eval", "eval.csv")):
    fields, csv_rows = _csv(os.path.join(summary.run_dir, "logs", csv_path))
    names, rows = _logged(history, name)
    assert names == set(fields), name
    assert [r[STEP] for r in rows] == [int(r[STEP]) for r in csv_rows]
  _, train_rows = _logged(history, "train")
  assert "loss" in train_rows[-1]  # learning had started
  # The W&B run's config is the run's config.
  with open(os.path.join(summary.run_dir, "config.json")) as f:
    assert json.load(f)["wandb"] is True


def test_anakin_run_logs_the_same_names_to_wandb_as_tensorboard(
    tmp_path, offline_wandb):
  """Several seeds: the CSV has each seed's row, TensorBoard and W&B the
  mean over seeds (every CSV column but `seed`), one row per period."""
  config = config_lib.default_config(
      "ppo", "CartPole-v1", "anakin", num_seeds=2, num_steps=2048,
      eval_every=1024, eval_episodes=2, progress=False,
      compilation_cache_dir="", run_dir=str(tmp_path / "run"),
      tensorboard=False, wandb=True, wandb_project="relay-test")
  summary = anakin_runner.run(config)
  [wandb_run] = _offline_runs(offline_wandb)
  history = _history(wandb_run)
  for name, csv_path in (("train", "train.csv"), ("eval", "eval.csv")):
    fields, csv_rows = _csv(os.path.join(summary.run_dir, "logs", csv_path))
    names, rows = _logged(history, name)
    assert names == set(fields) - {"seed"}, name
    steps = sorted({int(r[STEP]) for r in csv_rows})
    assert [r[STEP] for r in rows] == steps == [1024, 2048]
  fields, csv_rows = _csv(os.path.join(summary.run_dir, "logs", "train.csv"))
  _, rows = _logged(history, "train")
  mean = (float(csv_rows[0]["mean_return_10"]) +
          float(csv_rows[1]["mean_return_10"])) / 2
  assert rows[0]["mean_return_10"] == pytest.approx(mean)


def _wandb_missing(monkeypatch):
  monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` fails


@pytest.mark.parametrize("runner", ["single", "anakin"])
def test_missing_wandb_is_a_clear_error_before_anything_is_written(
    tmp_path, monkeypatch, runner):
  _wandb_missing(monkeypatch)
  run_dir = tmp_path / "run"
  config = config_lib.default_config(
      "dqn", "CartPole-v1", runner, num_steps=1000, progress=False,
      compilation_cache_dir="", run_dir=str(run_dir), wandb=True)
  module = single_process_runner if runner == "single" else anakin_runner
  with pytest.raises(optional_deps.MissingDependencyError,
                     match=r"(?s)wandb package.*\.\[wandb\]"):
    module.run(config)
  assert not run_dir.exists()


def test_missing_wandb_from_the_command_line(tmp_path, monkeypatch, capsys):
  _wandb_missing(monkeypatch)
  run_dir = tmp_path / "run"
  code = train.main(["--wandb", "--run-dir", str(run_dir), "--no-progress",
                     "--compilation-cache-dir", ""])
  err = capsys.readouterr().err
  assert code == train.EXIT_BAD_INPUT
  assert "pip install -c constraints-core.txt -e '.[wandb]'" in err
  assert not run_dir.exists()


def test_online_mode_is_refused_inside_the_loopback_only_namespace(
    tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(train, "_ISOLATED", True)
  run_dir = tmp_path / "run"
  code = train.main(["--wandb", "--wandb-mode", "online", "--run-dir",
                     str(run_dir), "--no-progress"])
  assert code == train.EXIT_BAD_INPUT
  assert "--wandb-mode offline" in capsys.readouterr().err
  assert not run_dir.exists()


def test_bad_wandb_mode_from_python():
  config = config_lib.default_config("dqn", "CartPole-v1",
                                     wandb_mode="sometimes")
  with pytest.raises(errors.ConfigError, match="wandb_mode"):
    config.validate()
