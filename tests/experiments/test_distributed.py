"""The distributed runner for real: the command line starts Ray, a replay
server, a learner, actors and an evaluator as processes; these tests check
what a user sees (learning, the step budget, the run folder, exit codes)
and what must not happen (processes or ports left behind, a crash that
loses the run). Each run is a subprocess, as a user runs it (with Ray in
its loopback-only namespace)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import HAS_REVERB
from tests.conftest import ROOT

ray = pytest.importorskip("ray", reason="needs the distributed extra (Ray)")

# The replay the install has: a Reverb server with Reverb, else the device
# buffer (inside a Ray actor either way).
REPLAY = "reverb" if HAS_REVERB else "device"
RAY_PROCESS_MARKERS = ("ray::", "raylet", "gcs_server", "ray/dashboard",
                       "ray/_private")


# Every process a test starts carries RELAY_TEST_RUN=<a value of the
# test's own> in its environment, and so do their children and Ray's
# processes, which inherit it (the raylet from the launcher, the workers
# from the raylet). "Left behind" then counts this test's processes only,
# not another job's Ray processes on the same machine, and a SIGKILL aimed
# at a worker cannot hit another job's.
TAG_VARIABLE = "RELAY_TEST_RUN"


def _new_tag() -> str:
  import uuid  # pylint: disable=g-import-not-at-top
  return uuid.uuid4().hex


def _tagged_env(tag: str, env=None) -> dict[str, str]:
  return {**os.environ, **(env or {}), TAG_VARIABLE: tag}


def _ray_pids(tag: str) -> set[int]:
  """PIDs of Ray processes (workers, raylet, GCS, ...) started with `tag`."""
  marker = f"{TAG_VARIABLE}={tag}".encode()
  pids = set()
  for name in os.listdir("/proc"):
    if not name.isdigit():
      continue
    try:
      with open(f"/proc/{name}/cmdline", "rb") as f:
        cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
      if not any(m in cmdline for m in RAY_PROCESS_MARKERS):
        continue
      with open(f"/proc/{name}/environ", "rb") as f:
        if marker in f.read().split(b"\0"):
          pids.add(int(name))
    except OSError:
      continue
  return pids


def _pids_of(title: str, tag: str) -> list[int]:
  """PIDs of `tag`'s processes whose command line starts with `title` (Ray
  sets a worker's to ray::Class.method)."""
  found = []
  for pid in _ray_pids(tag):
    try:
      with open(f"/proc/{pid}/cmdline", "rb") as f:
        if f.read().startswith(title.encode()):
          found.append(pid)
    except OSError:
      pass
  return found


def _listening_sockets() -> set[tuple[str, str]]:
  """(local address, port) of every listening TCP socket this machine's
  network namespace shows (from /proc/net/tcp and tcp6)."""
  found = set()
  for path in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
      with open(path) as f:
        lines = f.readlines()[1:]
    except OSError:
      continue
    for line in lines:
      fields = line.split()
      if fields[3] == "0A":  # TCP_LISTEN
        address, port = fields[1].rsplit(":", 1)
        found.add((address, port))
  return found


def _train(run_dir, *args, tag, env=None):
  return subprocess.Popen(
      [sys.executable, "-m", "experiments.train", "--runner", "distributed",
       "--no-progress", "--no-tensorboard", "--run-dir", str(run_dir),
       "--replay", REPLAY, *args],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env=_tagged_env(tag, env), start_new_session=True)


def _finish(proc, timeout):
  try:
    return proc.communicate(timeout=timeout)
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, signal.SIGKILL)
      proc.communicate()


def _wait_for(predicate, proc, timeout, what):
  deadline = time.time() + timeout
  while time.time() < deadline:
    if predicate():
      return
    if proc.poll() is not None:
      raise AssertionError(f"the run ended before {what}: "
                           f"{proc.communicate()}")
    time.sleep(0.2)
  raise AssertionError(f"timed out waiting for {what}")


def _resume(run_dir, num_steps, tag):
  """`--resume run_dir --num-steps num_steps`, which must succeed; its stdout."""
  proc = subprocess.Popen(
      [sys.executable, "-m", "experiments.train", "--resume", str(run_dir),
       "--num-steps", str(num_steps), "--no-progress"],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env=_tagged_env(tag), start_new_session=True)
  out, err = _finish(proc, 240)
  assert proc.returncode == 0, (out, err)
  return out


def _summary(run_dir):
  with open(os.path.join(run_dir, "summary.json")) as f:
    return json.load(f)


def _train_rows(run_dir):
  import csv  # pylint: disable=g-import-not-at-top
  with open(os.path.join(run_dir, "logs", "train.csv"), newline="") as f:
    return list(csv.DictReader(f))


def _ray_session_folders() -> set[str]:
  """Ray's session folders (logs, sockets) of local runs."""
  import glob  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  return set(glob.glob(os.path.join(tempfile.gettempdir(), "relay-ray-*")))


_SESSIONS_BEFORE = _ray_session_folders()


def _assert_nothing_left(tag):
  deadline = time.time() + 15
  while time.time() < deadline and _ray_pids(tag):
    time.sleep(0.5)
  assert not _ray_pids(tag), "Ray processes left behind"


@pytest.mark.learning
@pytest.mark.parametrize("agent,steps", [("dqn", 40_000), ("ppo", 40_000)])
def test_two_actors_learn_cartpole(tmp_path, agent, steps):
  """Two actor processes and a learner reach a 10-episode evaluation mean
  of 475 (greedy, evaluated every 2.5k steps) within the budget; the run
  stops at the budget exactly, every episode is logged once, the run
  folder is the other runners', no port is opened on this machine's
  network and no process is left behind."""
  tag, before_ports = _new_tag(), _listening_sockets()
  run_dir = tmp_path / "run"
  proc = _train(run_dir, "--agent", agent, "--num-actors", "2",
                "--num-steps", str(steps), "--eval-every", "2500", tag=tag)
  ports_during = set()

  def started():
    ports_during.update(_listening_sockets())
    return os.path.exists(run_dir / "logs" / "train.csv")

  _wait_for(started, proc, 120, "the first episodes")
  ports_during.update(_listening_sockets())
  out, err = _finish(proc, 300)
  assert proc.returncode == 0, err
  assert not ports_during - before_ports, (
      "the run listened on this machine's network", ports_during - before_ports)
  summary = _summary(run_dir)
  assert summary["runner"] == "distributed"
  total = summary["env_steps"]
  assert total == steps
  import csv  # pylint: disable=g-import-not-at-top
  with open(run_dir / "logs" / "eval.csv", newline="") as f:
    rows = list(csv.DictReader(f))
  evaluations = [float(r["eval_mean_return"]) for r in rows]
  assert max(evaluations) >= 475.0, (evaluations, out)
  # Eval points are evaluated even while the evaluator is busy with an
  # earlier one. The launcher sees the step count every 0.2 s, in actors'
  # grants of 512 steps, so an evaluation lands up to ~2k steps after its
  # point; skipping points while busy left gaps of ~10k steps here.
  eval_steps = [0] + [int(r["env_steps"]) for r in rows]
  assert max(b - a for a, b in zip(eval_steps, eval_steps[1:])) < 3 * 2500, (
      eval_steps)
  assert summary["extra"]["replay"] == REPLAY
  assert len(summary["extra"]["actors"]) == 2
  assert sum(a["env_steps"] for a in summary["extra"]["actors"].values()) == total
  assert summary["extra"]["learner_steps"] > 0
  rows = _train_rows(run_dir)
  steps_logged = [int(r["env_steps"]) for r in rows]
  assert steps_logged == sorted(steps_logged) and steps_logged[-1] <= total
  assert [int(r["episodes"]) for r in rows] == list(range(1, len(rows) + 1))
  assert {r["actor"] for r in rows} == {"0", "1"}
  for name in ("config.json", "learning_curve.png", "logs/eval.csv"):
    assert (run_dir / name).exists(), name
  from experiments import checkpointing  # pylint: disable=g-import-not-at-top
  assert checkpointing.Checkpointer(str(run_dir / "checkpoints")).latest_step() == total
  _assert_nothing_left(tag)
  assert _ray_session_folders() <= _SESSIONS_BEFORE, "Ray's files left behind"


def test_killed_actor_learner_and_replay_server_are_restarted(tmp_path):
  """SIGKILL of an actor, then the learner, then the replay server: each
  comes back (the actor re-synced, the learner and the replay from their
  checkpoints) and the run ends at its step budget with its checkpoint."""
  tag = _new_tag()
  run_dir = tmp_path / "run"
  steps = 24_000
  proc = _train(run_dir, "--agent", "dqn", "--num-actors", "2",
                "--num-steps", str(steps), "--eval-every", "0",
                "--checkpoint-every", "2000", tag=tag)
  csv_path = run_dir / "logs" / "train.csv"

  def logged_steps():
    if not csv_path.exists():
      return 0
    rows = _train_rows(run_dir)
    return int(rows[-1]["env_steps"]) if rows else 0

  killed = {}
  for title, at_step in (("ray::ActorWorker", 3000),
                         ("ray::LearnerWorker", 7000),
                         ("ray::ReplayServer", 11000)):
    _wait_for(lambda: logged_steps() >= at_step, proc, 180, f"step {at_step}")
    pids = _pids_of(title, tag)
    assert pids, title
    os.kill(pids[0], signal.SIGKILL)
    killed[title] = pids[0]
  out, err = _finish(proc, 300)
  assert proc.returncode == 0, err
  summary = _summary(run_dir)
  assert summary["env_steps"] == steps
  restarts = summary["extra"]["restarts"]
  assert restarts.get("actor0", 0) + restarts.get("actor1", 0) == 1, restarts
  assert restarts.get("learner", 0) >= 1, restarts
  assert "crashed" in out + err
  rows = _train_rows(run_dir)
  steps_logged = [int(r["env_steps"]) for r in rows]
  assert steps_logged == sorted(steps_logged)
  from experiments import checkpointing  # pylint: disable=g-import-not-at-top
  assert checkpointing.Checkpointer(str(run_dir / "checkpoints")).latest_step() == steps
  _assert_nothing_left(tag)


def test_an_actor_that_keeps_crashing_stops_the_run(tmp_path):
  """An environment that raises in every actor process: the actor is
  restarted --max-restarts times, then the run stops with exit code 2 and
  the actor's traceback in the error."""
  tag = _new_tag()
  run_dir = tmp_path / "run"
  proc = _train(run_dir, "--agent", "dqn", "--num-actors", "1",
                "--env", "tests.experiments.crashing_env:RelayCrashing-v0",
                "--max-restarts", "2", "--num-steps", "5000",
                tag=tag, env={"RELAY_TEST_CRASH_AFTER": "200"})
  out, err = _finish(proc, 240)
  assert proc.returncode == 2, (out, err)
  assert "actor0 crashed 3 times (--max-restarts 2)" in err
  assert "test environment crashed at step 201" in err
  assert "\x1b[" not in err.split("Its last error:")[1]
  _assert_nothing_left(tag)
  # A failed run keeps Ray's logs, and says where.
  kept = err.split("Ray's logs of this run are in ")[1].split()[0]
  assert os.path.isdir(kept)
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.rmtree(kept)


def test_ctrl_c_stops_every_process_and_resume_continues(tmp_path):
  """SIGINT to the launcher: exit code 130, a checkpoint at the step the
  run stopped, logs intact, no process left; --resume then continues from
  that checkpoint to a new budget, with every step logged once."""
  tag = _new_tag()
  run_dir = tmp_path / "run"
  proc = _train(run_dir, "--agent", "dqn", "--num-actors", "2",
                "--num-steps", "200000", "--eval-every", "0", tag=tag)
  _wait_for(lambda: (run_dir / "logs" / "train.csv").exists() and
            len(_train_rows(run_dir)) > 20, proc, 180, "20 episodes")
  proc.send_signal(signal.SIGINT)
  out, err = _finish(proc, 120)
  assert proc.returncode == 130, (out, err)
  summary = _summary(run_dir)
  assert summary["interrupted"] and 0 < summary["env_steps"] < 200_000
  from experiments import checkpointing  # pylint: disable=g-import-not-at-top
  assert (checkpointing.Checkpointer(str(run_dir / "checkpoints")).latest_step()
          == summary["env_steps"])
  rows = _train_rows(run_dir)
  assert rows and int(rows[-1]["env_steps"]) <= summary["env_steps"]
  assert "--resume" in err
  _assert_nothing_left(tag)

  target = summary["env_steps"] + 3000
  out = _resume(run_dir, target, tag)
  assert f"Resumed at step {summary['env_steps']}" in out
  resumed = _summary(run_dir)
  assert resumed["runner"] == "distributed" and resumed["env_steps"] == target
  assert not resumed["interrupted"]
  rows = _train_rows(run_dir)
  steps_logged = [int(r["env_steps"]) for r in rows]
  assert steps_logged == sorted(steps_logged) and steps_logged[-1] <= target
  assert [int(r["episodes"]) for r in rows] == list(range(1, len(rows) + 1))
  assert (checkpointing.Checkpointer(str(run_dir / "checkpoints")).latest_step()
          == target)
  _assert_nothing_left(tag)


def test_killed_launcher_leaves_no_process(tmp_path):
  """SIGKILL of the launcher itself: every process of the run ends anyway
  (the namespace reaper), and --resume continues from the checkpoint. The
  workers compile into the run's --compilation-cache-dir (the launcher
  itself compiles nothing there)."""
  tag = _new_tag()
  run_dir = tmp_path / "run"
  cache = tmp_path / "jax-cache"
  proc = _train(run_dir, "--agent", "dqn", "--num-actors", "1",
                "--num-steps", "100000", "--eval-every", "0",
                "--checkpoint-every", "1000", "--compilation-cache-dir",
                str(cache), tag=tag)
  _wait_for(lambda: (run_dir / "checkpoints").exists() and any(
      name.isdigit() for name in os.listdir(run_dir / "checkpoints")),
            proc, 180, "the first checkpoint")
  assert _ray_pids(tag), "the run's Ray processes were not found"
  os.kill(proc.pid, signal.SIGKILL)
  proc.communicate()
  _assert_nothing_left(tag)
  assert cache.is_dir() and os.listdir(cache), "workers compiled uncached"
  target = 3000
  out = _resume(run_dir, target, tag)
  assert _summary(run_dir)["env_steps"] == target
  _assert_nothing_left(tag)
  # The resumed run removed the killed launcher's Ray session folder.
  assert _ray_session_folders() <= _SESSIONS_BEFORE, "Ray's files left behind"


def test_unreachable_ray_address_is_a_clear_error_within_seconds(tmp_path):
  """Nothing listens on the port: exit code 2 within the connect timeout,
  a message that names the address, and no run folder."""
  import socket  # pylint: disable=g-import-not-at-top
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  start = time.time()
  proc = _train(tmp_path / "run", "--ray-address", f"127.0.0.1:{port}",
                tag=_new_tag())
  out, err = _finish(proc, 60)
  assert proc.returncode == 2, (out, err)
  assert f"Cannot reach a Ray cluster at --ray-address 127.0.0.1:{port}" in err
  assert time.time() - start < 30
  assert not (tmp_path / "run").exists()


def test_two_node_cluster_by_address(tmp_path):
  """A two-node Ray cluster on this machine, joined by --ray-address: the
  actors run on both nodes, the run stops at its budget, the cluster's
  processes all end with it."""
  tag = _new_tag()
  run_dir = tmp_path / "run"
  proc = subprocess.Popen(
      [sys.executable, "-m", "tests.experiments.distributed_two_nodes",
       str(run_dir), REPLAY],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env=_tagged_env(tag), start_new_session=True)
  out, err = _finish(proc, 300)
  assert proc.returncode == 0, err
  result = json.loads(out.strip().splitlines()[-1])
  assert result["env_steps"] == 3000
  assert len(result["cluster_nodes"]) == 2
  assert set(result["actor_nodes"].values()) == set(result["cluster_nodes"])
  assert (run_dir / "summary.json").exists()
  _assert_nothing_left(tag)


def test_more_actors_than_cores_warns_with_the_numbers():
  """--num-actors beyond the machine's cores: a warning naming the actors,
  the cores wanted and the cores there are, and a count that fits."""
  from experiments import config as config_lib  # pylint: disable=g-import-not-at-top
  from experiments import distributed_runner  # pylint: disable=g-import-not-at-top
  cores = os.cpu_count()
  config = config_lib.default_config("dqn", "CartPole-v1", runner="distributed",
                                     num_actors=cores + 2, replay="device")
  warnings = distributed_runner.check(config)
  assert len(warnings) == 1
  assert (f"{cores + 2} actors and a learner want {cores + 3} cores; this "
          f"machine has {cores}") in warnings[0]
  assert f"--num-actors {max(1, cores - 1)} fits" in warnings[0]
  config.num_actors = 1
  assert distributed_runner.check(config) == [] or cores < 2


@pytest.mark.skipif(not HAS_REVERB, reason="the Reverb replay server's port")
def test_busy_replay_port_is_refused_before_anything_is_written(tmp_path):
  """--replay-port that another program holds: PortInUseError naming it,
  from the checks that run before the run folder is made."""
  import socket  # pylint: disable=g-import-not-at-top
  from building_blocks import errors  # pylint: disable=g-import-not-at-top
  from experiments import config as config_lib  # pylint: disable=g-import-not-at-top
  from experiments import distributed_runner  # pylint: disable=g-import-not-at-top
  with socket.socket() as holder:
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    config = config_lib.default_config(
        "dqn", "CartPole-v1", runner="distributed", replay="reverb",
        replay_port=port, run_dir=str(tmp_path / "run"))
    with pytest.raises(errors.PortInUseError, match=f"Replay port {port}"):
      distributed_runner.check(config)
  assert not (tmp_path / "run").exists()
