"""An in-process Reverb server with a checked port and a checkpoint folder.

Reverb 0.14 binds its gRPC port on every interface ("[::]:PORT") and has no
option to bind loopback only; see the README's "Network exposure" section.
Clients in this process reach the tables directly (Reverb skips gRPC for
same-process samplers) and address the server as localhost.
"""
from __future__ import annotations

import errno
import os
import socket
import tempfile
from typing import Any, Sequence

from building_blocks import errors
from building_blocks import optional_deps


def check_port_free(port: int) -> None:
  """Raises PortInUseError if anything already listens on `port`."""
  for family, address in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
    try:
      probe = socket.socket(family, socket.SOCK_STREAM)
    except OSError:
      continue
    try:
      probe.bind((address, port))
      return
    except OSError as e:
      if e.errno == errno.EADDRINUSE:
        raise errors.PortInUseError(
            f"Replay port {port} is already in use by another program (or "
            "another Relay run). Pass --replay-port 0 to let Relay pick a free "
            "port, or stop the program holding it.") from e
      if e.errno != errno.EAFNOSUPPORT and e.errno != errno.EADDRNOTAVAIL:
        raise
    finally:
      probe.close()


class ReplayServer:
  """Owns a Reverb server: start, client, checkpoint, idempotent stop.

  `checkpoint_dir`: where `checkpoint()` writes the table contents; when it
  already holds a checkpoint, the server starts from it (resume).
  Without one, a temporary folder is used and removed on `stop()`.
  """

  def __init__(self, tables: Sequence[Any], port: int = 0,
               checkpoint_dir: str | None = None):
    reverb = optional_deps.import_reverb()
    if port < 0 or port > 65535:
      raise errors.ConfigError(f"replay port must be in 0..65535, got {port}.")
    if port:
      check_port_free(port)
    self._tmp = None
    if checkpoint_dir is None:
      self._tmp = tempfile.TemporaryDirectory(prefix="relay-replay-")
      checkpoint_dir = self._tmp.name
    os.makedirs(checkpoint_dir, exist_ok=True)
    self.checkpoint_dir = checkpoint_dir
    # Reverb loads the latest checkpoint in the folder, if any. Its tables
    # then replace the Table objects passed in, whose can_sample() no
    # longer sees the server's state (see ReverbReplay.ready).
    self.restored = bool(os.listdir(checkpoint_dir))
    checkpointer = reverb.checkpointers.DefaultCheckpointer(path=checkpoint_dir)
    self.tables = {table.name: table for table in tables}
    self._server = reverb.Server(tables=list(tables), port=port or None,
                                 checkpointer=checkpointer)
    self.port = self._server.port
    self.address = f"localhost:{self.port}"
    self.client = reverb.Client(self.address)
    self._stopped = False

  def checkpoint(self) -> str:
    """Writes all tables to `checkpoint_dir`; returns the checkpoint path."""
    return self.client.checkpoint()

  def stop(self) -> None:
    """Shuts the server down and frees its port; safe to call twice."""
    if self._stopped:
      return
    self._stopped = True
    self._server.stop()
    if self._tmp is not None:
      self._tmp.cleanup()

  def __enter__(self) -> "ReplayServer":
    return self

  def __exit__(self, *exc: Any) -> None:
    self.stop()
