"""Shared helpers of the time-to-target benchmarks (dqn_vs_cleanrl.py,
ppo_single_vs_sb3.py, regression.py).

Each benchmark starts its runs as fresh processes with `child_env()`
(unbuffered output, no persistent JAX compilation cache), times them with
`run_timed` from just before the process starts until the line that shows
the target reached arrives (Relay's "Reached a 10-episode mean return ..."
line by default), summarizes seeds with `median_seconds` (a seed that never
got there counts as infinitely slow) and writes its JSON with
`write_results` to benchmarks/results/ (git-ignored).

The scripts are run as `python benchmarks/X.py`, so they import this module
by putting their own folder on sys.path.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(ROOT, "benchmarks", "results")
TAIL_LINES = 8
RELAY_REACHED = re.compile(
    r"Reached a 10-episode mean return of (?P<mean>\S+) >= (?P<target>\S+) "
    r"at step (?P<step>\d+), (?P<seconds>[\d.]+) s after launch")
# The line CleanRL's scripts print at each episode's end (global_step
# counts from 0; the return may be printed as a one-element list).
CLEANRL_EPISODE = re.compile(
    r"global_step=(?P<step>\d+), episodic_return=\[?\s*(?P<ret>[-+0-9.eE]+)")

Detector = Callable[[str], dict[str, Any] | None]


def child_env() -> dict[str, str]:
  """This process's environment for a timed child: PYTHONUNBUFFERED=1 (so
  the target line is not held back in a pipe buffer) and JAX's persistent
  compilation cache off (JAX_ENABLE_COMPILATION_CACHE=false, no
  JAX_COMPILATION_CACHE_DIR), so every run compiles cold."""
  env = dict(os.environ, PYTHONUNBUFFERED="1",
             JAX_ENABLE_COMPILATION_CACHE="false")
  env.pop("JAX_COMPILATION_CACHE_DIR", None)
  return env


def relay_reached(line: str) -> dict[str, Any] | None:
  """Detector for Relay's "Reached a 10-episode mean return of M >= T at
  step N, S s after launch." line: {"steps_to_target": N,
  "self_reported_seconds": S, "mean_at_target": M}, or None for any other
  line."""
  m = RELAY_REACHED.search(line)
  if m is None:
    return None
  return {"steps_to_target": int(m["step"]),
          "self_reported_seconds": float(m["seconds"]),
          "mean_at_target": float(m["mean"])}


def run_timed(cmd: Sequence[str], cwd: str, env: Mapping[str, str] | None,
              timeout: float, log_path: str,
              detector: Detector = relay_reached,
              stop_at_target: bool = False) -> dict[str, Any]:
  """Runs `cmd` in `cwd` as its own process group, stdout and stderr
  together, writing each line to `log_path` prefixed with its arrival time
  ("[  12.345] ", seconds after launch). `detector(line)` is called on each
  line until it first returns a dict: the target is reached then.

  The process group is killed after `timeout` seconds, or at the target
  when `stop_at_target` (a line saying so goes to the log).

  Returns the raw measurement (`to_record` turns it into a JSON record):
    launch             time.time() just before the process was started
    seconds_to_target  seconds from launch to the target line, or None
    hit                the detector's dict, or None
    wall_seconds       seconds from launch to the process's end
    returncode, timed_out, stopped_at_target
    log                log_path
    tail               the last TAIL_LINES lines as read (newlines kept)
  """
  launch = time.time()
  proc = subprocess.Popen(list(cmd), cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1, start_new_session=True)
  timed_out = threading.Event()

  def kill() -> None:
    try:
      os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
      pass

  def on_timeout() -> None:
    timed_out.set()
    kill()

  timer = threading.Timer(timeout, on_timeout)
  timer.start()
  seconds = hit = None
  tail: list[str] = []
  stopped = False
  try:
    with open(log_path, "w", buffering=1) as log:
      for line in proc.stdout:
        now = time.time() - launch
        log.write(f"[{now:9.3f}] {line}")
        tail = (tail + [line])[-TAIL_LINES:]
        if hit is None:
          hit = detector(line)
          if hit is not None:
            seconds = now
            if stop_at_target:
              log.write(f"[{now:9.3f}] (benchmark: target reached, "
                        "stopping the process)\n")
              stopped = True
              kill()
              break
    proc.wait()
  finally:
    timer.cancel()
    if proc.poll() is None:
      kill()
      proc.wait()
  return {"launch": launch, "seconds_to_target": seconds, "hit": hit,
          "wall_seconds": time.time() - launch,
          "returncode": proc.returncode, "timed_out": timed_out.is_set(),
          "stopped_at_target": stopped, "log": log_path, "tail": tail}


def to_record(run: Mapping[str, Any],
              blank: Iterable[str] = ("steps_to_target",)) -> dict[str, Any]:
  """The JSON record of a `run_timed` result: seconds_to_target (to the
  millisecond, None if never), the `blank` keys (None until the detector's
  dict fills them), the detector's keys, wall_seconds, returncode,
  timed_out, stopped_at_target, log (relative to the repository root) and,
  when the target was not reached, output_tail (the last lines, stripped)."""
  reached = run["seconds_to_target"] is not None
  record: dict[str, Any] = {
      "seconds_to_target": round(run["seconds_to_target"], 3) if reached
                           else None}
  record.update(dict.fromkeys(blank))
  record.update(run["hit"] or {})
  record.update(wall_seconds=round(run["wall_seconds"], 3),
                returncode=run["returncode"], timed_out=run["timed_out"],
                stopped_at_target=run["stopped_at_target"],
                log=os.path.relpath(run["log"], ROOT))
  if not reached:
    record["output_tail"] = [line.rstrip() for line in run["tail"]]
  return record


def run_record(cmd: Sequence[str], cwd: str, env: Mapping[str, str] | None,
               timeout: float, log_path: str, label: str, seed: int,
               detector: Detector = relay_reached,
               stop_at_target: bool = False,
               blank: Iterable[str] = ("steps_to_target",)
               ) -> dict[str, Any]:
  """One seed of one row: `run_timed` then `to_record`, with label, seed,
  loadavg_1min_before (the 1-minute load average just before the launch)
  and command added to the record."""
  load = os.getloadavg()[0]
  record = to_record(run_timed(cmd, cwd, env, timeout, log_path, detector,
                               stop_at_target), blank)
  record.update(label=label, seed=seed, loadavg_1min_before=load,
                command=list(cmd))
  return record


def median_seconds(values: Iterable[float | None]) -> float | None:
  """Median with a seed that never reached the target (None) counted as
  infinitely slow; None when there are no values or that median is itself
  "never"."""
  values = list(values)
  if not values:
    return None
  m = statistics.median([math.inf if v is None else v for v in values])
  return None if math.isinf(m) else m


def summarize_label(runs: Iterable[Mapping[str, Any]], label: str
                    ) -> dict[str, Any]:
  """Medians of seconds_to_target and steps_to_target over the records
  with this "label", how many reached the target and how many there
  are."""
  rs = [r for r in runs if r["label"] == label]
  return {"median_seconds_to_target": median_seconds(
              [r["seconds_to_target"] for r in rs]),
          "median_steps_to_target": median_seconds(
              [r["steps_to_target"] for r in rs]),
          "reached": sum(r["seconds_to_target"] is not None for r in rs),
          "runs": len(rs)}


def fmt(v: float | None, spec: str = ".1f") -> str:
  """`v` formatted with `spec`, or "never" for None."""
  return "never" if v is None else format(v, spec)


def secs(v: float | None) -> str:
  """`v` as "12.3 s", or "never" for None."""
  return "never" if v is None else f"{v:.1f} s"


def add_run_args(parser: argparse.ArgumentParser, keep_runs_help: str
                 ) -> None:
  """Adds --timeout (seconds per run before it is killed, default 900) and
  --keep-runs (help text `keep_runs_help`) to `parser`."""
  parser.add_argument("--timeout", type=float, default=900.0,
                      help="seconds per run before it is killed")
  parser.add_argument("--keep-runs", action="store_true",
                      help=keep_runs_help)


def require_paths(paths: Iterable[str]) -> None:
  """Exits with a message naming the first of `paths` that does not
  exist."""
  for path in paths:
    if not os.path.exists(path):
      sys.exit(f"not found: {path} (see this script's docstring for setup)")


def describe_run(record: Mapping[str, Any], width: int, target: float,
                 before: str = "", after: str = "") -> str:
  """The progress line of a `run_record`: "  seed S LABEL: 12.3 s, 14,560
  steps to 475 (wall 15.0 s, exit 0; load 1.2)", the label padded to
  `width`, ", stopped at target" and ", TIMED OUT" added when so, `before`
  put just before "wall" and `after` just before the closing bracket."""
  r = record
  return (f"  seed {r['seed']} {r['label']:{width}s}: "
          f"{secs(r['seconds_to_target'])}, "
          f"{fmt(r['steps_to_target'], ',')} steps to {target:g} "
          f"({before}wall {r['wall_seconds']:.1f} s, exit {r['returncode']}"
          f"{', stopped at target' if r.get('stopped_at_target') else ''}"
          f"{', TIMED OUT' if r['timed_out'] else ''}; load "
          f"{r['loadavg_1min_before']:.1f}{after})")


def stamp() -> str:
  """The local time as YYYYmmdd-HHMMSS, for file names."""
  return datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


def start_session(log_name: str, run_prefix: str) -> tuple[str, str, str]:
  """A benchmark session's (stamp, log_dir, run_root): the time stamp, the
  folder benchmarks/results/logs/<log_name>-<stamp> for the per-run logs
  (created), and a new temporary folder (prefix `run_prefix`) for the runs'
  own files, which the caller deletes."""
  now = stamp()
  log_dir = os.path.join(RESULTS_DIR, "logs", f"{log_name}-{now}")
  os.makedirs(log_dir, exist_ok=True)
  return now, log_dir, tempfile.mkdtemp(prefix=run_prefix)


def git_state() -> dict[str, Any]:
  """HEAD's commit id and whether tracked files differ from it."""
  def git(*a: str) -> str:
    return subprocess.run(["git", *a], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
  return {"commit": git("rev-parse", "HEAD"),
          "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def write_results(name: str, data: Any, indent: int = 1,
                  default: Callable[[Any], Any] | None = None) -> str:
  """Writes `data` as JSON to benchmarks/results/<name>.json (creating the
  folder) and returns that path."""
  os.makedirs(RESULTS_DIR, exist_ok=True)
  path = os.path.join(RESULTS_DIR, f"{name}.json")
  with open(path, "w") as f:
    json.dump(data, f, indent=indent, default=default)
  return path
