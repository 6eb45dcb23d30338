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
  logged_steps = int(rows[-1]["actor_steps"])
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
  with open(os.path.join(run_dir, "result.json")) as f:
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
  assert int(new[0]["actor_steps"]) > steps_at_interrupt
  assert int(new[0]["actor_steps"]) - steps_at_interrupt <= 500
  assert int(new[0]["learner_steps"]) >= int(rows[-1]["learner_steps"])
  # The restored replay and rate limiter go on learning at once (both
  # backends): one learner step per 8 environment steps.
  learned = int(new[-1]["learner_steps"]) - int(rows[-1]["learner_steps"])
  stepped = int(new[-1]["actor_steps"]) - logged_steps
  assert abs(learned - stepped / 8) <= 8, (learned, stepped)
  assert int(new[-1]["actor_steps"]) >= target
  assert int(new[0]["actor_episodes"]) == int(rows[-1]["actor_episodes"]) + 1
