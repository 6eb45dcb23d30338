"""`python -m experiments.anakin`: outputs, bad input, several devices and
Ctrl-C, each run as a user would, in a subprocess."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT


def _env(**extra):
  env = dict(os.environ, PYTHONPATH=ROOT)
  env.update(extra)
  return env


def _cli(*args, **env):
  return subprocess.run(
      [sys.executable, "-m", "experiments.anakin", "--no-progress",
       "--compilation-cache-dir", "", *args],
      cwd=ROOT, env=_env(**env), capture_output=True, text=True, timeout=300)


def test_cli_trains_seeds_and_writes_outputs(tmp_path):
  run_dir = tmp_path / "run"
  proc = _cli("--agent", "ppo", "--env", "CartPole-v1", "--num-seeds", "3",
              "--num-steps", "4096", "--eval-every", "2048",
              "--run-dir", str(run_dir))
  assert proc.returncode == 0, proc.stderr
  assert "over 3 seeds" in proc.stdout
  assert "Done: 4,096 env steps x 3 seeds" in proc.stdout
  with open(run_dir / "learning_curves.csv") as f:
    rows = list(csv.DictReader(f))
  assert sorted({r["seed"] for r in rows}) == ["0", "1", "2"]
  assert len(rows) == 3 * 2
  with open(run_dir / "final_returns.csv") as f:
    assert len(list(csv.DictReader(f))) == 3
  assert (run_dir / "learning_curve.png").stat().st_size > 1000


@pytest.mark.parametrize("args, message", [
    (["--env", "Cartpole-v1"], "CartPole-v1"),
    (["--agent", "dqn", "--env", "Pendulum-v1"], "discrete"),
    (["--num-seeds", "0"], "num_seeds must be an integer >= 1"),
    (["--ppo.num-minibatches", "3"], "equal minibatches"),
])
def test_cli_bad_input_exits_2_with_a_clear_message(tmp_path, args, message):
  run_dir = tmp_path / "run"
  proc = _cli(*args, "--run-dir", str(run_dir))
  assert proc.returncode == 2, proc.stderr
  assert message in proc.stderr
  assert "Traceback" not in proc.stderr
  assert not run_dir.exists()


SHARDED = """
import jax, numpy as np
from experiments import anakin_config, anakin_run
assert jax.local_device_count() == 4, jax.local_devices()
config = anakin_config.default_config("ppo", "CartPole-v1", num_seeds=8,
    num_steps=2048, eval_every=1024, eval_episodes=2, progress=False,
    compilation_cache_dir="", run_dir={run_dir!r})
result = anakin_run.run(config)
leaf = jax.tree_util.tree_leaves(result.state.agent.params)[0]
print("devices", len(leaf.sharding.device_set), "shape", leaf.shape)
print("returns", np.isfinite(result.final_eval_return).all())
try:
  anakin_run.run(anakin_config.default_config(num_seeds=6, progress=False,
                 run_dir={run_dir!r} + "-6"))
except Exception as e:
  print("error", type(e).__name__, e)
"""


def test_seeds_are_sharded_across_four_cpu_devices(tmp_path):
  code = SHARDED.format(run_dir=str(tmp_path / "run"))
  proc = subprocess.run(
      [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
      timeout=300,
      env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=4"))
  assert proc.returncode == 0, proc.stderr
  assert "devices 4 shape (8," in proc.stdout
  assert "returns True" in proc.stdout
  assert "error ConfigError num_seeds (6) does not divide across 4" in proc.stdout


def test_ctrl_c_stops_after_the_current_period_and_keeps_outputs(tmp_path):
  run_dir = tmp_path / "run"
  proc = subprocess.Popen(
      [sys.executable, "-m", "experiments.anakin", "--no-progress",
       "--compilation-cache-dir", "", "--num-steps", "50000000",
       "--eval-every", "4096", "--run-dir", str(run_dir)],
      cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True)
  try:
    curves = run_dir / "learning_curves.csv"
    deadline = time.time() + 240
    while time.time() < deadline:
      if curves.exists() and len(curves.read_text().splitlines()) >= 3:
        break
      time.sleep(0.2)
    else:
      pytest.fail("the run never logged two periods")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 130, err
  assert "Interrupted" in out
  assert (run_dir / "final_returns.csv").exists()
  assert (run_dir / "learning_curve.png").exists()
  assert os.listdir(run_dir / "checkpoints")
  rows = (run_dir / "learning_curves.csv").read_text().splitlines()
  assert len(rows) >= 3
