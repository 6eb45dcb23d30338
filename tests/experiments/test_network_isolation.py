"""The training command keeps Reverb's port unreachable from outside (a
run with replay in device memory opens no port and is left alone)."""
from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest

from experiments import train
from tests.conftest import HAS_REVERB
from tests.conftest import ROOT
from tests.conftest import requires_reverb

# Only the end-to-end test needs Reverb; the others run in the core install.
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="Linux namespaces")


def _connectable(port: int) -> bool:
  for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    with socket.socket(family, socket.SOCK_STREAM) as s:
      s.settimeout(1.0)
      try:
        s.connect((host, port))
        return True
      except OSError:
        continue
  return False


@requires_reverb
def test_default_run_port_is_invisible_outside_the_process(tmp_path):
  proc = subprocess.Popen(
      [sys.executable, "-m", "experiments.train", "--no-progress",
       "--no-tensorboard", "--num-steps", "1500", "--eval-episodes", "1",
       "--replay", "reverb", "--run-dir", str(tmp_path / "run")],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    port = None
    for line in proc.stdout:
      match = re.search(r"Replay server on localhost:(\d+)", line)
      if match:
        port = int(match.group(1))
        break
    assert port is not None, proc.communicate()
    assert proc.poll() is None, "the run ended before the port could be probed"
    assert not _connectable(port)
    out, err = proc.communicate(timeout=180)
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.communicate()
  assert proc.returncode == 0, err
  assert "could not be kept off the network" not in err
  assert "Done:" in out


@pytest.mark.parametrize("argv,asks", [
    ([], False), (["--replay-port", "0"], False), (["--replay-port=0"], False),
    (["--replay-port", "8000"], True), (["--replay-port=8000"], True),
    (["--help"], True),
])
def test_only_an_explicit_port_leaves_the_host_network(argv, asks):
  assert train._wants_open_port(train._pre_parse(argv)) == asks  # pylint: disable=protected-access


@pytest.mark.parametrize("argv,uses", [
    (["--replay", "device"], False), (["--replay=device"], False),
    (["--replay", "reverb"], True), (["--replay=reverb"], True),
    (["--replay", "auto"], HAS_REVERB), ([], HAS_REVERB),
    (["--runner", "anakin"], False), (["--runner=anakin", "--replay", "reverb"], False),
])
def test_only_reverb_runs_are_isolated(argv, uses):
  assert train._uses_reverb(train._pre_parse(argv)) == uses  # pylint: disable=protected-access


def test_a_resume_is_isolated_as_its_run_was(tmp_path):
  run_dir = tmp_path / "run"
  run_dir.mkdir()
  (run_dir / "config.json").write_text('{"replay": "device"}')
  # The folder's recorded backend counts, not the flags.
  argv = ["--resume", str(run_dir), "--replay", "reverb"]
  assert not train._uses_reverb(train._pre_parse(argv))  # pylint: disable=protected-access
  (run_dir / "config.json").write_text('{"replay": "reverb"}')
  assert train._uses_reverb(train._pre_parse(["--resume", str(run_dir)]))  # pylint: disable=protected-access
  missing = ["--resume", str(tmp_path / "none")]
  assert train._uses_reverb(train._pre_parse(missing)) == HAS_REVERB  # pylint: disable=protected-access


def _in_fresh_python(code: str) -> str:
  return subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                        capture_output=True, text=True, timeout=60).stdout


@linux_only
def test_isolated_process_sees_only_loopback():
  out = _in_fresh_python(
      "import socket\n"
      "from experiments import network_isolation\n"
      "print(network_isolation.isolate_network())\n"
      "print(sorted(name for _, name in socket.if_nameindex()))\n"
      "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n"
      "c = socket.create_connection(s.getsockname(), timeout=2)\n"
      "print('loopback works')\n")
  assert out.splitlines() == ["None", "['lo']", "loopback works"]


@linux_only
def test_isolation_failure_is_reported_not_raised():
  # A process that already runs a second thread cannot enter a new user
  # namespace: the reason comes back for the CLI's warning.
  out = _in_fresh_python(
      "import threading, time\n"
      "threading.Thread(target=time.sleep, args=(3,), daemon=True).start()\n"
      "from experiments import network_isolation\n"
      "print(network_isolation.isolate_network())\n")
  assert out.startswith("unshare failed")


def test_isolation_warning_names_what_stays_open():
  """A single-process run that could not be isolated leaves Reverb's port
  open; a distributed one Ray's ports, whatever its replay."""
  single = train.isolation_warning("single", "unshare failed")
  assert "Reverb" in single and "unshare failed" in single
  distributed = train.isolation_warning("distributed", "unshare failed")
  assert "Ray" in distributed and "unshare failed" in distributed
  assert not distributed.startswith("warning: the replay port")
