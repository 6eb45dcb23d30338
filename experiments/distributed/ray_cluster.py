"""Starting or joining Ray for a distributed run, and leaving nothing behind.

Local (no address): `ray.init` starts a Ray instance for this run only,
with its node address on loopback and no dashboard; `stop()` shuts it down
(every process of the run ends with it). Ray 2.60 still binds some of its
ports on every interface, so the command line moves a local distributed run
into a loopback-only network namespace first (experiments/train.py), as it
does for a single-process Reverb run: then nothing of the run can be
reached from outside the machine.

Cluster (`--ray-address host:port`): joins it after checking, within a few
seconds, that something answers at that address (Ray itself would retry
for minutes). `stop()` then only disconnects; the launcher kills the
processes it started.
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import tempfile
from typing import Any

from building_blocks import errors

CONNECT_TIMEOUT_SECONDS = 5.0
SESSION_PREFIX = "relay-ray-"
OWNER_FILE = "relay-owner.pid"
KEPT_FILE = "relay-kept"


def _remove_stale_sessions() -> None:
  """Removes the session folders of local runs whose launcher was killed
  outright (it could not remove its own); a failed run's folder, kept for
  its logs, stays."""
  import glob  # pylint: disable=g-import-not-at-top
  for folder in glob.glob(os.path.join(tempfile.gettempdir(),
                                       SESSION_PREFIX + "*")):
    try:
      with open(os.path.join(folder, OWNER_FILE)) as f:
        owner = int(f.read().strip())
    except (OSError, ValueError):
      continue
    if os.path.exists(os.path.join(folder, KEPT_FILE)):
      continue
    try:
      os.kill(owner, 0)
      continue  # its launcher still runs
    except ProcessLookupError:
      shutil.rmtree(folder, ignore_errors=True)
    except PermissionError:
      continue


def _import_ray() -> Any:
  try:
    import ray  # pylint: disable=g-import-not-at-top
  except ImportError:
    from building_blocks import optional_deps  # pylint: disable=g-import-not-at-top
    raise optional_deps.MissingDependencyError(
        "--runner distributed needs Ray, which is not installed in this "
        "environment. Install the distributed extra: pip install -e "
        "'.[distributed]' (with your profile's constraints file)."
    ) from None
  return ray


def split_address(address: str) -> tuple[str, int]:
  """"host:port" -> (host, port); raises ConfigError when malformed."""
  host, sep, port = address.rpartition(":")
  if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
    raise errors.ConfigError(
        f"--ray-address must be host:port (the head node's GCS address, "
        f"e.g. 10.0.0.5:6379), got {address!r}.")
  return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
  """Whether `host` (a name or an address) resolves to a loopback address."""
  try:
    return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
  except (OSError, ValueError):
    return False


def check_reachable(address: str,
                    timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
  """Raises ConfigError unless a TCP connection to `address` opens within
  `timeout` seconds."""
  host, port = split_address(address)
  try:
    with socket.create_connection((host, port), timeout=timeout):
      pass
  except OSError as e:
    raise errors.ConfigError(
        f"Cannot reach a Ray cluster at --ray-address {address} ({e}; gave "
        f"up after {timeout:.0f} s). Start one with `ray start --head` on "
        "that machine, check the address and port, or drop --ray-address to "
        "start a local Ray.") from None


class RayCluster:
  """The Ray this run uses; `stop()` undoes `start()`."""

  def __init__(self, address: str | None, num_cpus: int | None = None):
    self.address = address
    self.num_cpus = num_cpus
    self.started_locally = False
    self.connected = False
    self.temp_dir: str | None = None
    self.ray = _import_ray()

  def start(self) -> "RayCluster":
    ray = self.ray
    if ray.is_initialized():
      return self  # a notebook's own Ray: used as it is, left running
    if self.address:
      check_reachable(self.address)
      ray.init(address=self.address, log_to_driver=False,
               configure_logging=False)
      self.connected = True
    else:
      # Ray's session files (logs, sockets) in a folder of this run's own,
      # removed by stop() unless the run failed (then its logs help).
      _remove_stale_sessions()
      self.temp_dir = tempfile.mkdtemp(prefix=SESSION_PREFIX)
      with open(os.path.join(self.temp_dir, OWNER_FILE), "w") as f:
        f.write(str(os.getpid()))
      ray.init(num_cpus=self.num_cpus or os.cpu_count(),
               include_dashboard=False, _node_ip_address="127.0.0.1",
               log_to_driver=False, configure_logging=False,
               _temp_dir=self.temp_dir)
      self.started_locally = True
      self.connected = True
    return self

  def cpus(self) -> float:
    return float(self.ray.cluster_resources().get("CPU", 0.0))

  def stop(self, keep_logs: bool = False) -> str | None:
    """Shuts a local Ray down, or disconnects from a cluster (which keeps
    running); a Ray the caller had started is left as it was. A local Ray's
    session folder is removed, or kept with `keep_logs` (returns its path
    then)."""
    if self.connected and self.ray.is_initialized():
      self.ray.shutdown()
    self.connected = self.started_locally = False
    temp_dir, self.temp_dir = self.temp_dir, None
    if temp_dir is None:
      return None
    if keep_logs:
      open(os.path.join(temp_dir, KEPT_FILE), "w").close()
      return temp_dir
    shutil.rmtree(temp_dir, ignore_errors=True)
    return None
