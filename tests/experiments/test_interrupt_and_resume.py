"""Ctrl-C mid-run keeps checkpoint, logs and replay; --resume continues."""
from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.conftest import requires_reverb


def _rows(path):
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def _train(*args):
  return subprocess.Popen(
      [sys.executable, "-m", "experiments.train", "--no-progress",
       "--no-tensorboard", *args],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("replay", [
    "device", pytest.param("reverb", marks=requires_reverb)])
def test_ctrl_c_saves_everything_and_resume_continues(tmp_path, replay):
  from experiments import checkpointing
  run_dir = str(tmp_path / "run")
  train_csv = os.path.join(run_dir, "logs", "train.csv")
  proc = _train("--run-dir", run_dir, "--num-steps", "200000",
                "--eval-every", "0", "--dqn.min-replay-size", "200",
                "--replay", replay)
  try:
    deadline = time.time() + 120
    # Wait until the learner has run (rows report learner steps > 0).
    while time.time() < deadline:
      if os.path.exists(train_csv):
        rows = _rows(train_csv)
        if rows and int(rows[-1]["learner_steps"]) > 50:
          break
      assert proc.poll() is None, proc.communicate()
      time.sleep(0.2)
    else:
      raise AssertionError("the run did not start learning in time")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.communicate()
  assert proc.returncode == 130, err
  assert "Interrupted at step" in err and f"--resume {run_dir}" in err
  if replay == "reverb":
    assert "Shutting down replay server" in err  # Reverb's own log line

  rows = _rows(train_csv)
  logged_steps = int(rows[-1]["env_steps"])
  assert logged_steps > 200
  steps_at_interrupt = int(re.search(r"Interrupted at step (\d+)", err).group(1))
  # The checkpoint counts every step taken, including the cut-off episode
  # (whose row was never logged: rows are written per finished episode).
  assert steps_at_interrupt >= logged_steps
  ckpt = checkpointing.Checkpointer(os.path.join(run_dir, "checkpoints"))
  assert ckpt.latest_step() == steps_at_interrupt
  ckpt.close()
  replay_files = os.listdir(os.path.join(run_dir, "replay"))
  assert replay_files, "the replay checkpoint is missing"
  if replay == "device":
    assert replay_files == ["device_replay.npz"]
  with open(os.path.join(run_dir, "summary.json")) as f:
    assert json.load(f)["interrupted"] is True

  target = steps_at_interrupt + 1500
  resumed = _train("--resume", run_dir, "--num-steps", str(target))
  out, err = resumed.communicate(timeout=300)
  assert resumed.returncode == 0, err
  assert "Restored step" in out + err
  restored_items = int(re.search(r"Restored replay with (\d+) items",
                                 out + err).group(1))
  # Every transition written before Ctrl-C is back: one per step, but for
  # the last n - 1 = 2 steps of the cut-off episode, still in the adder.
  assert steps_at_interrupt - 2 <= restored_items <= steps_at_interrupt
  rows_after = _rows(train_csv)
  assert rows_after[:len(rows)] == rows  # old log rows untouched
  new = rows_after[len(rows):]
  assert int(new[0]["env_steps"]) > steps_at_interrupt
  assert int(new[0]["env_steps"]) - steps_at_interrupt <= 500
  assert int(new[0]["learner_steps"]) >= int(rows[-1]["learner_steps"])
  # The restored replay and rate limiter go on learning at once (both
  # backends): one learner step per 8 environment steps.
  learned = int(new[-1]["learner_steps"]) - int(rows[-1]["learner_steps"])
  stepped = int(new[-1]["env_steps"]) - logged_steps
  assert abs(learned - stepped / 8) <= 8, (learned, stepped)
  # The run stops at the step budget (the episode it cuts is not logged).
  assert target - 500 < int(new[-1]["env_steps"]) <= target
  with open(os.path.join(run_dir, "summary.json")) as f:
    assert json.load(f)["env_steps"] == target
  assert int(new[0]["episodes"]) == int(rows[-1]["episodes"]) + 1


@pytest.mark.parametrize("replay", [
    "device", pytest.param("reverb", marks=requires_reverb)])
def test_sigkill_then_resume_logs_every_step_once(tmp_path, replay):
  """A run killed outright (no handler runs) after a checkpoint resumes from
  it, and its logs (CSV and TensorBoard) hold every step once: the rows the
  killed process wrote after its last checkpoint are replaced by the
  resumed run's."""
  from experiments import checkpointing
  from tests.experiments.test_loggers import _effective_scalars
  run_dir = str(tmp_path / "run")
  logs = os.path.join(run_dir, "logs")
  proc = subprocess.Popen(
      [sys.executable, "-m", "experiments.train", "--no-progress",
       "--run-dir", run_dir, "--num-steps", "200000", "--eval-every", "1500",
       "--checkpoint-every", "2000", "--dqn.min-replay-size", "200",
       "--replay", replay],
      cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.time() + 180
    while time.time() < deadline:  # rows well past the first checkpoint
      rows = _rows(os.path.join(logs, "train.csv")) if os.path.exists(
          os.path.join(logs, "train.csv")) else []
      if rows and int(rows[-1]["env_steps"]) > 3500:
        break
      assert proc.poll() is None, proc.communicate()
      time.sleep(0.05)
    else:
      raise AssertionError("the run did not get past its first checkpoint")
    proc.kill()  # SIGKILL: nothing is saved or closed
    proc.communicate(timeout=60)
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.communicate()
  killed_rows = _rows(os.path.join(logs, "train.csv"))
  ckpt = checkpointing.Checkpointer(os.path.join(run_dir, "checkpoints"))
  checkpoint_step = ckpt.latest_step()
  ckpt.close()
  assert checkpoint_step is not None and checkpoint_step >= 2000
  assert int(killed_rows[-1]["env_steps"]) > checkpoint_step  # rows to drop

  resumed = _train_with_tensorboard("--resume", run_dir, "--num-steps",
                                    str(checkpoint_step + 3000))
  out, err = resumed.communicate(timeout=300)
  assert resumed.returncode == 0, err
  assert f"Restored step {checkpoint_step}" in out + err

  rows = _rows(os.path.join(logs, "train.csv"))
  steps = [int(r["env_steps"]) for r in rows]
  assert steps == sorted(set(steps)), "a step is logged twice"
  episodes = [int(r["episodes"]) for r in rows]
  assert episodes == list(range(1, len(rows) + 1))
  kept = [r for r in killed_rows if int(r["env_steps"]) <= checkpoint_step]
  assert rows[:len(kept)] == kept
  assert checkpoint_step + 2500 < steps[-1] <= checkpoint_step + 3000
  eval_steps = [int(r["env_steps"])
                for r in _rows(os.path.join(logs, "eval.csv"))]
  assert eval_steps == sorted(set(eval_steps))
  for name in ("train", "eval"):
    series = _effective_scalars(os.path.join(run_dir, "tensorboard", name))
    assert series, name
    for tag, points in series.items():
      tb_steps = [s for s, _ in points]
      assert tb_steps == sorted(set(tb_steps)), (tag, tb_steps)


def _train_with_tensorboard(*args):
  return subprocess.Popen(
      [sys.executable, "-m", "experiments.train", "--no-progress", *args],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_resume_keeps_the_runs_compilation_cache_setting(tmp_path,
                                                         monkeypatch):
  """--resume takes --compilation-cache-dir from the run's config.json (as
  every flag but --num-steps): a run started with the cache off resumes
  with it off, not with the default cache."""
  from experiments import config as config_lib
  from experiments import train

  run_dir = tmp_path / "run"
  run_dir.mkdir()
  saved = config_lib.default_config(run_dir=str(run_dir),
                                    compilation_cache_dir="")
  (run_dir / "config.json").write_text(saved.to_json())

  class Reached(Exception):
    pass

  seen = []

  def record(config):
    seen.append(config.compilation_cache_dir)
    raise Reached  # stop before anything runs

  monkeypatch.setattr(train, "set_process_state", record)
  with pytest.raises(Reached):
    train.main(["--resume", str(run_dir)])
  assert seen == [""]
