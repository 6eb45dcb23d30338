"""PPO, single process: Relay against stable-baselines3 (rl-zoo's tuned
hyperparameters), wall-clock time and environment steps from launch to a
10-episode mean training return at the target.

  python benchmarks/ppo_single_vs_sb3.py                     # CartPole-v1, 475, seeds 1 2 3
  python benchmarks/ppo_single_vs_sb3.py --env Pendulum-v1   # target -250
  python benchmarks/ppo_single_vs_sb3.py --seeds 1 2 3 4 5 --timeout 600

Command for the README figure (CartPole-v1):
  .venv-core/bin/python benchmarks/ppo_single_vs_sb3.py --seeds 1 2 3
and for Pendulum-v1:
  .venv-core/bin/python benchmarks/ppo_single_vs_sb3.py --env Pendulum-v1 --seeds 1 2 3

Relay runs
  <relay python> -m experiments.train --agent ppo --env ENV --runner single
    --replay device --seed S --stop-at-return T --num-steps N
    --compilation-cache-dir "" --no-progress --no-tensorboard --run-dir DIR
(Relay's preset for the environment, no JAX compilation cache: every run
compiles cold). The peer is shared/peers/sb3_peer.py (its docstring lists its
hyperparameters, rl-baselines3-zoo's entries):
  <peer python> sb3_peer.py --lib sb3 --algo ppo --env ENV --seed S
    --total-timesteps N --target T --stop-at-target
Both get the same step budget N. Runs alternate (relay seed 1, sb3 seed 1,
relay seed 2, ...) so the noise of this shared machine falls on both alike;
each is a fresh process. "seconds" is measured here, the same way for both:
from just before the process is started until its "Reached a 10-episode
mean return of ..." line arrives (interpreter start, imports and
compilation included). Each program's own figure ("X s after launch") is
kept in the JSON too. Medians count a seed that never reached the target as
infinitely slow. Results and per-run logs go to benchmarks/results/
(git-ignored): ppo_single_vs_sb3-<env>-<time>.json and a logs/ folder.

Peer setup (a virtual environment outside this repository; torch 2.13.0 is
the CPU build on this machine's disk for Python 3.11, an unpinned torch
downloads a CUDA build of several GB):
  python3.11 -m venv /tmp/peer-sb3
  /tmp/peer-sb3/bin/pip install torch==2.13.0 stable-baselines3 'gymnasium[classic-control]'
(measured with stable-baselines3 2.9.2, gymnasium 1.4.0, torch 2.13.0+cpu,
numpy 2.4.6). Relay's own venv: see the README (.venv-core, core install).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "ppo_single_vs_sb3"
DEFAULTS = {  # env: (target, step budget)
    "CartPole-v1": (475.0, 200_000),
    "Pendulum-v1": (-250.0, 500_000),
}
REACHED = re.compile(
    r"Reached a 10-episode mean return of (?P<mean>\S+) >= (?P<target>\S+) "
    r"at step (?P<step>\d+), (?P<seconds>[\d.]+) s after launch")


def timed_run(cmd: list[str], cwd: str, log_path: str, timeout: float,
              env: dict | None = None) -> dict:
  """Runs `cmd` (stdout and stderr together, written to `log_path`); returns
  the seconds from just before launch to the arrival of the first "Reached"
  line (None if none), what that line says, the wall time and the exit
  code. Kills the process group after `timeout` seconds."""
  start = time.time()
  proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, bufsize=1,
                          start_new_session=True)
  timed_out = threading.Event()

  def kill():
    timed_out.set()
    try:
      os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
      pass

  timer = threading.Timer(timeout, kill)
  timer.start()
  result = {"seconds_to_target": None, "steps_to_target": None,
            "self_reported_seconds": None, "mean_at_target": None}
  tail: list[str] = []
  try:
    with open(log_path, "w", buffering=1) as log:
      for line in proc.stdout:
        now = time.time() - start
        log.write(f"[{now:9.3f}] {line}")
        tail = (tail + [line.rstrip()])[-8:]
        m = REACHED.search(line)
        if m and result["seconds_to_target"] is None:
          result.update(seconds_to_target=round(now, 3),
                        steps_to_target=int(m["step"]),
                        self_reported_seconds=float(m["seconds"]),
                        mean_at_target=float(m["mean"]))
    proc.wait()
  finally:
    timer.cancel()
    if proc.poll() is None:
      kill()
      proc.wait()
  result.update(wall_seconds=round(time.time() - start, 3),
                returncode=proc.returncode, timed_out=timed_out.is_set(),
                log=os.path.relpath(log_path, ROOT))
  if result["seconds_to_target"] is None:
    result["output_tail"] = tail
  return result


def median_seconds(values: list[float | None]) -> float | None:
  """Median with a seed that never reached the target counted as infinitely
  slow; None when that median is itself "never"."""
  if not values:
    return None
  m = statistics.median([math.inf if v is None else v for v in values])
  return None if math.isinf(m) else m


def fmt(v, spec=".1f") -> str:
  return "never" if v is None else format(v, spec)


def secs(v) -> str:
  return "never" if v is None else f"{v:.1f} s"


def git_state() -> dict:
  def git(*a):
    return subprocess.run(["git", *a], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
  return {"commit": git("rev-parse", "HEAD"),
          "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--env", choices=sorted(DEFAULTS), default="CartPole-v1")
  p.add_argument("--target", type=float, default=None,
                 help="10-episode mean return to reach (default: 475 on "
                      "CartPole-v1, -250 on Pendulum-v1)")
  p.add_argument("--num-steps", type=int, default=None,
                 help="step budget for both (default: 200k on CartPole-v1, "
                      "500k on Pendulum-v1)")
  p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
  p.add_argument("--relay-python",
                 default=os.path.join(ROOT, ".venv-core", "bin", "python"))
  p.add_argument("--peer-python", default="/tmp/peer-sb3/bin/python")
  p.add_argument("--peer-script",
                 default=os.path.join(os.path.dirname(ROOT), "shared",
                                      "peers", "sb3_peer.py"))
  p.add_argument("--peer-lib", choices=["sb3", "sbx"], default="sb3",
                 help="sbx needs its own venv (see sb3_peer.py)")
  p.add_argument("--timeout", type=float, default=900.0,
                 help="seconds per run before it is killed")
  p.add_argument("--keep-runs", action="store_true",
                 help="keep Relay's run folders (default: deleted)")
  args = p.parse_args()
  target = DEFAULTS[args.env][0] if args.target is None else args.target
  num_steps = (DEFAULTS[args.env][1] if args.num_steps is None
               else args.num_steps)
  for path in (args.relay_python, args.peer_python, args.peer_script):
    if not os.path.exists(path):
      sys.exit(f"not found: {path} (see this script's docstring for setup)")

  stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
  results_dir = os.path.join(ROOT, "benchmarks", "results")
  log_dir = os.path.join(results_dir, "logs", f"{NAME}-{args.env}-{stamp}")
  os.makedirs(log_dir, exist_ok=True)
  run_root = tempfile.mkdtemp(prefix=f"{NAME}-")
  # No persistent JAX compilation cache for either side (sb3 does not use
  # JAX; the variable matters only for --peer-lib sbx).
  env = dict(os.environ, PYTHONUNBUFFERED="1",
             JAX_ENABLE_COMPILATION_CACHE="false")
  env.pop("JAX_COMPILATION_CACHE_DIR", None)
  peer = args.peer_lib

  runs = []
  print(f"PPO on {args.env}, target {target}, budget {num_steps:,} steps, "
        f"seeds {args.seeds}; logs in {os.path.relpath(log_dir, ROOT)}",
        flush=True)
  try:
    for seed in args.seeds:
      run_dir = os.path.join(run_root, f"relay-seed{seed}")
      relay_cmd = [args.relay_python, "-m", "experiments.train",
                   "--agent", "ppo", "--env", args.env, "--runner", "single",
                   "--replay", "device", "--seed", str(seed),
                   "--stop-at-return", str(target),
                   "--num-steps", str(num_steps),
                   "--compilation-cache-dir", "", "--no-progress",
                   "--no-tensorboard", "--run-dir", run_dir]
      peer_cmd = [args.peer_python, args.peer_script, "--lib", peer,
                  "--algo", "ppo", "--env", args.env, "--seed", str(seed),
                  "--total-timesteps", str(num_steps),
                  "--target", str(target), "--stop-at-target"]
      for label, cmd, cwd in (("relay", relay_cmd, ROOT),
                              (peer, peer_cmd, run_root)):
        load = os.getloadavg()[0]
        r = timed_run(cmd, cwd,
                      os.path.join(log_dir, f"{label}-seed{seed}.log"),
                      args.timeout, env)
        r.update(label=label, seed=seed, loadavg_1min_before=load,
                 command=cmd)
        runs.append(r)
        print(f"  seed {seed} {label:5s}: {secs(r['seconds_to_target'])}, "
              f"{fmt(r['steps_to_target'], ',')} steps to {target:g} "
              f"(self-reported {fmt(r['self_reported_seconds'])} s; wall "
              f"{r['wall_seconds']:.1f} s, exit {r['returncode']}"
              f"{', TIMED OUT' if r['timed_out'] else ''}; load "
              f"{load:.1f})", flush=True)
  finally:
    if not args.keep_runs:
      shutil.rmtree(run_root, ignore_errors=True)

  summary = {}
  for label in ("relay", peer):
    rs = [r for r in runs if r["label"] == label]
    summary[label] = {
        "median_seconds_to_target": median_seconds(
            [r["seconds_to_target"] for r in rs]),
        "median_steps_to_target": median_seconds(
            [r["steps_to_target"] for r in rs]),
        "reached": sum(r["seconds_to_target"] is not None for r in rs),
        "runs": len(rs)}
  rel, oth = (summary["relay"]["median_seconds_to_target"],
              summary[peer]["median_seconds_to_target"])
  summary["ratio_relay_over_peer_seconds"] = (
      None if rel is None or oth is None else rel / oth)

  print(f"\n| seed | Relay (s) | Relay steps | {peer} (s) | {peer} steps |")
  print("| --- | --- | --- | --- | --- |")
  by = {(r["label"], r["seed"]): r for r in runs}
  for seed in args.seeds:
    a, b = by[("relay", seed)], by[(peer, seed)]
    print(f"| {seed} | {fmt(a['seconds_to_target'])} | "
          f"{fmt(a['steps_to_target'], ',')} | {fmt(b['seconds_to_target'])}"
          f" | {fmt(b['steps_to_target'], ',')} |")
  sr, sp = summary["relay"], summary[peer]
  print(f"| median | {fmt(sr['median_seconds_to_target'])} | "
        f"{fmt(sr['median_steps_to_target'], ',.0f')} | "
        f"{fmt(sp['median_seconds_to_target'])} | "
        f"{fmt(sp['median_steps_to_target'], ',.0f')} |")
  print(f"reached: Relay {sr['reached']}/{sr['runs']}, {peer} "
        f"{sp['reached']}/{sp['runs']}")
  ratio = summary["ratio_relay_over_peer_seconds"]
  if ratio is not None:
    print(f"ratio of median seconds, Relay / {peer}: {ratio:.2f} "
          f"(Relay {1 / ratio:.2f}x as fast)")
  else:
    print(f"ratio of median seconds, Relay / {peer}: None "
          "(a median never reached the target)")

  out = {"benchmark": NAME, "time": stamp, "env": args.env,
         "target": target, "num_steps": num_steps, "seeds": args.seeds,
         "peer": peer, "args": vars(args), "relay_git": git_state(),
         "cpu_count": os.cpu_count(), "summary": summary, "runs": runs}
  path = os.path.join(results_dir, f"{NAME}-{args.env}-{stamp}.json")
  with open(path, "w") as f:
    json.dump(out, f, indent=1)
  print(f"wrote {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
  main()
