"""Keeps the in-process Reverb port off the network.

Reverb 0.14 binds its gRPC port on every interface ("[::]:PORT") and has no
option to bind loopback only. A single-process run needs no network at all,
so before anything else starts, the training command moves its own process
into a private Linux network namespace (inside an unprivileged user
namespace) whose only interface is loopback. The Reverb port then exists
only inside that namespace: nothing outside the process can reach it.

Written by hand because no library does this in-process; it is the
`unshare(CLONE_NEWUSER | CLONE_NEWNET)` that `unshare -rn` performs.
Works only while the process has a single thread, i.e. before numpy,
TensorFlow or JAX are imported.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def _write(path: str, text: str) -> None:
  with open(path, "w") as f:
    f.write(text)


def _bring_loopback_up() -> None:
  with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    request = struct.pack("16sH22x", b"lo", 0)
    flags = struct.unpack("16sH22x", fcntl.ioctl(s, _SIOCGIFFLAGS, request))[1]
    fcntl.ioctl(s, _SIOCSIFFLAGS,
                struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def isolate_network() -> str | None:
  """Enters a loopback-only network namespace; returns None on success or
  the reason it was not possible (the caller warns)."""
  if not os.path.exists("/proc/self/ns/net"):
    return "not a Linux system with network namespaces"
  uid, gid = os.getuid(), os.getgid()
  libc = ctypes.CDLL(None, use_errno=True)
  if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
    code = ctypes.get_errno()
    return (f"unshare failed: {errno.errorcode.get(code, code)} "
            f"({os.strerror(code)}); unprivileged user namespaces may be "
            "disabled on this system")
  try:
    # Map our own ids, so files written keep their usual owner.
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    _bring_loopback_up()
  except OSError as e:
    return f"could not set up the private network namespace: {e}"
  return None
