"""Ends every process of a run's private network namespace once the
launcher is gone, however it went (SIGKILL included).

A local distributed run lives in a network namespace of its own
(network_isolation.py): Ray's processes are started by the launcher and
stopped by it at the end, on an error or on Ctrl-C. A launcher killed
outright cannot stop them, and some of Ray's helper processes (its dashboard
and runtime-env agents) then keep running. The reaper is a small process
started by the command line right after isolating: it waits for the
launcher to exit, then kills whatever else is still in the namespace. Only
the command line starts it, and only inside a namespace it made: there,
every process is the run's.

Written by hand: Ray's own cleanup needs a living driver, and no library
ties processes to a namespace's lifetime.
"""
from __future__ import annotations

import os
import subprocess
import sys

_REAPER = r"""
import os, signal, sys, time
parent, netns = int(sys.argv[1]), sys.argv[2]
def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
while alive(parent) and os.getppid() == parent:
    time.sleep(0.5)
me = os.getpid()
for _ in range(3):
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            if os.readlink(f"/proc/{name}/ns/net") == netns:
                os.kill(int(name), signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.5)
"""


def start() -> subprocess.Popen | None:
  """Starts the reaper for this process's namespace; None where there is
  no /proc (not Linux)."""
  try:
    netns = os.readlink("/proc/self/ns/net")
  except OSError:
    return None
  return subprocess.Popen(
      [sys.executable, "-c", _REAPER, str(os.getpid()), netns],
      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL, start_new_session=True)
