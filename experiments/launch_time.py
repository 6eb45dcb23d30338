"""When this process started, so "time from launch" includes interpreter
start-up and imports (what a user waits for)."""
from __future__ import annotations

import os
import time


def process_start_time() -> float:
  """time.time() at process start, read from /proc (10 ms resolution);
  the current time where /proc is missing."""
  now = time.time()
  try:
    with open("/proc/uptime") as f:
      uptime = float(f.read().split()[0])
    with open("/proc/self/stat") as f:
      # Field 22 (starttime, clock ticks after boot) is the 20th after ")".
      start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    return now - max(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)
  except (OSError, ValueError, IndexError):
    return now
