"""`python -m experiments.train --runner anakin`: outputs, bad input,
several devices and Ctrl-C, each run as a user would, in a subprocess."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from experiments import stopping
from tests.conftest import ROOT

CLI = [sys.executable, "-m", "experiments.train", "--runner", "anakin",
       "--no-progress", "--compilation-cache-dir", ""]


def _env(**extra: str) -> dict[str, str]:
  env = dict(os.environ, PYTHONPATH=ROOT)
  env.update(extra)
  return env


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
  return subprocess.run([*CLI, *args], cwd=ROOT, env=_env(**env),
                        capture_output=True, text=True, timeout=300)


def test_cli_trains_seeds_and_writes_outputs(tmp_path):
  run_dir = tmp_path / "run"
  proc = _cli("--agent", "ppo", "--env", "CartPole-v1", "--num-seeds", "3",
              "--num-steps", "4096", "--eval-every", "2048",
              "--run-dir", str(run_dir))
  assert proc.returncode == 0, proc.stderr
  assert "over 3 seeds" in proc.stdout
  assert "Done: 4,096 env steps x 3 seeds" in proc.stdout
  with open(run_dir / "logs" / "train.csv") as f:
    rows = list(csv.DictReader(f))
  assert sorted({r["seed"] for r in rows}) == ["0", "1", "2"]
  assert len(rows) == 3 * 2
  with open(run_dir / "logs" / "eval.csv") as f:
    assert len(list(csv.DictReader(f))) == 3 * 2
  with open(run_dir / "final_returns.csv") as f:
    assert len(list(csv.DictReader(f))) == 3
  assert (run_dir / "learning_curve.png").stat().st_size > 1000
  assert (run_dir / "summary.json").is_file()
  assert os.listdir(run_dir / "checkpoints")


@pytest.mark.parametrize("args, message", [
    (["--agent", "ppo", "--env", "Cartpole-v1"], "Did you mean: CartPole-v1"),
    (["--agent", "ppo", "--env", "LunarLander-v3"], "--runner single"),
    (["--agent", "dqn", "--env", "Pendulum-v1"], "discrete"),
    (["--agent", "ppo", "--num-seeds", "0"],
     "num_seeds must be an integer >= 1"),
    (["--agent", "ppo", "--ppo.num-minibatches", "3"], "equal minibatches"),
    (["--agent", "ppo", "--ppo.learning-rate", "0"],
     "ppo.learning_rate must be > 0"),
])
def test_cli_bad_input_exits_2_with_a_clear_message(tmp_path, args, message):
  run_dir = tmp_path / "run"
  proc = _cli(*args, "--run-dir", str(run_dir))
  assert proc.returncode == stopping.EXIT_BAD_INPUT == 2, proc.stderr
  assert message in proc.stderr
  assert "Traceback" not in proc.stderr
  assert not run_dir.exists()


SHARDED = """
import os
import jax, numpy as np
from experiments import anakin_runner
from experiments import config as config_lib
assert jax.local_device_count() == 4, jax.local_devices()
final = {{}}
save_state = anakin_runner._save_state
def capture(run_dir, state, step):
  final["state"] = state  # the sharded device arrays, before device_get
  return save_state(run_dir, state, step)
anakin_runner._save_state = capture
config = config_lib.default_config("ppo", "CartPole-v1", runner="anakin",
    num_seeds=8, num_steps=2048, eval_every=1024, eval_episodes=2,
    progress=False, compilation_cache_dir="", run_dir={run_dir!r})
summary = anakin_runner.run(config)
leaf = jax.tree_util.tree_leaves(final["state"].agent.params)[0]
print("devices", len(leaf.sharding.device_set), "shape", leaf.shape)
print("returns", len(summary.final_eval_return) == 8 and all(
    r is not None and np.isfinite(r) for r in summary.final_eval_return))
try:
  anakin_runner.run(config_lib.default_config("ppo", "CartPole-v1",
      runner="anakin", num_seeds=6, progress=False, compilation_cache_dir="",
      run_dir={run_dir!r} + "-6"))
except Exception as e:
  print("error", type(e).__name__, e)
print("written", os.path.exists({run_dir!r} + "-6"))
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
  assert ("error ConfigError num_seeds (6) does not divide across 4"
          in proc.stdout)
  assert "written False" in proc.stdout


def test_ctrl_c_stops_after_the_current_period_and_keeps_outputs(tmp_path):
  run_dir = tmp_path / "run"
  proc = subprocess.Popen(
      [*CLI, "--agent", "ppo", "--num-steps", "50000000", "--eval-every",
       "4096", "--run-dir", str(run_dir)],
      cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True)
  try:
    train_csv = run_dir / "logs" / "train.csv"
    deadline = time.time() + 240
    while time.time() < deadline:
      if train_csv.exists() and len(train_csv.read_text().splitlines()) >= 3:
        break
      if proc.poll() is not None:
        pytest.fail(f"the run ended early: {proc.communicate()[1][-3000:]}")
      time.sleep(0.2)
    else:
      pytest.fail("the run never logged two periods")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == stopping.EXIT_INTERRUPTED == 130, err
  assert "Interrupted" in out
  assert "Traceback" not in err
  assert (run_dir / "final_returns.csv").exists()
  assert (run_dir / "learning_curve.png").exists()
  assert (run_dir / "summary.json").exists()
  assert os.listdir(run_dir / "checkpoints")
  rows = train_csv.read_text().splitlines()
  assert len(rows) >= 3
