"""Seconds from launch to a 10-episode mean return, for any Relay agents and
runners against stable-baselines3 and sbx, in one session.

  # PQN against Relay's PPO preset, all on the accelerator (issue 10):
  python benchmarks/time_to_target.py --env CartPole-v1 --target 475 \\
      --num-steps 100000 --relay pqn:anakin ppo:anakin
  # SAC and TD3 against the fastest of stable-baselines3 and sbx:
  python benchmarks/time_to_target.py --env Pendulum-v1 --target -200 \\
      --num-steps 20000 --relay sac:single td3:single sac:anakin td3:anakin \\
      --peer sbx:sac sbx:td3 sb3:sac sb3:td3

Rows: `--relay AGENT:RUNNER` runs
  <relay python> -m experiments.train --agent AGENT --runner RUNNER
    --env ENV --seed S --stop-at-return T --num-steps N
    --compilation-cache-dir "" --no-progress --no-tensorboard --run-dir DIR
(the single-process runner: --replay device --eval-every 0, the target
checked after every episode; the all-on-accelerator runner: --eval-every
--anakin-period --eval-episodes 0; the agent's defaults and its preset for
ENV), and `--peer LIB:ALGO` runs ../shared/peers/sb3_peer.py
(rl-baselines3-zoo's tuned hyperparameters, listed in its docstring) with
--total-timesteps N --target T --stop-at-target. For each seed every row
runs once, in the order given, each a fresh process, so the noise of this
shared machine falls on all rows alike; compilation caches are off.

"seconds" is each program's own figure from its launch until the target was
reached: Relay's summary.json `seconds_to_target` (from the process's start
time as the kernel records it; the all-on-accelerator runner checks the
target once per evaluation period of its compiled program) and the peer's
"Reached ... S s after launch" line (from the first line of its script).
Medians count a seed that never got there as infinitely slow. Printed: a
table per row, each Relay row's ratio to the fastest peer row's median and
to the first Relay row's. Results and per-run logs go to
benchmarks/results/ (git-ignored): time_to_target-<env>-<time>.json and
logs/.

Peer setup (virtual environments outside this repository; see
../shared/peers/sb3_peer.py):
  python3.11 -m venv /tmp/peer-sb3 && /tmp/peer-sb3/bin/pip install \\
      torch==2.13.0 stable-baselines3 'gymnasium[classic-control]'
  python3.11 -m venv /tmp/peer-sbx && /tmp/peer-sbx/bin/pip install \\
      sbx-rl 'gymnasium[classic-control]'
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402
from timing import fmt  # noqa: E402

ROOT = timing.ROOT
NAME = "time_to_target"
PEER_LIBS = ("sb3", "sbx")
REACHED_KEYS = ("steps_to_target", "self_reported_seconds", "mean_at_target")


def parse_row(text: str, kinds: tuple[str, ...] | None) -> tuple[str, str]:
  """"a:b" -> (a, b); a must be one of `kinds` when given."""
  first, sep, second = text.partition(":")
  if not sep or not first or not second or (kinds and first not in kinds):
    want = "LIB:ALGO with LIB in " + "/".join(kinds) if kinds else (
        "AGENT:RUNNER")
    raise argparse.ArgumentTypeError(f"{text!r}: expected {want}")
  return first, second


def relay_record(agent: str, runner: str, args: Any, seed: int,
                 run_root: str, log_dir: str, env: dict[str, str]
                 ) -> dict[str, Any]:
  """One Relay run: the timed process, then its summary.json's figures."""
  label = f"{agent}:{runner}"
  run_dir = os.path.join(run_root, f"{agent}-{runner}-seed{seed}")
  cmd = [args.relay_python, "-m", "experiments.train", "--agent", agent,
         "--runner", runner, "--env", args.env, "--seed", str(seed),
         "--stop-at-return", str(args.target),
         "--num-steps", str(args.num_steps),
         "--compilation-cache-dir", "", "--no-progress", "--no-tensorboard",
         "--run-dir", run_dir]
  if runner == "anakin":
    # The compiled program reports (and can stop) once per period; no
    # greedy evaluation episodes inside it, as the peers run none.
    cmd += ["--eval-every", str(args.anakin_period), "--eval-episodes", "0"]
  else:
    # Relay checks the target after every episode; it evaluates once,
    # after the target (not timed).
    cmd += ["--eval-every", "0"]
  if runner == "single":
    cmd += ["--replay", "device"]
  record = timing.run_record(
      cmd, ROOT, env, args.timeout,
      os.path.join(log_dir, f"{agent}-{runner}-seed{seed}.log"), label, seed,
      blank=REACHED_KEYS)
  record["timed_here_seconds"] = record["seconds_to_target"]
  try:
    with open(os.path.join(run_dir, "summary.json")) as f:
      summary = json.load(f)
  except OSError:
    record["seconds_to_target"] = None
    return record
  record["seconds_to_target"] = summary.get("seconds_to_target")
  steps = summary.get("steps_to_target") or [None]
  record["steps_to_target"] = steps[0]
  record["final_mean_return"] = (summary.get("final_mean_return") or [None])[0]
  return record


def peer_record(lib: str, algo: str, args: Any, seed: int, run_root: str,
                log_dir: str, env: dict[str, str]) -> dict[str, Any]:
  """One peer run, stopped at the target; seconds are its own figure."""
  python = args.sb3_python if lib == "sb3" else args.sbx_python
  cmd = [python, args.peer_script, "--lib", lib, "--algo", algo,
         "--env", args.env, "--seed", str(seed),
         "--total-timesteps", str(args.num_steps),
         "--target", str(args.target), "--stop-at-target"]
  record = timing.run_record(
      cmd, run_root, env, args.timeout,
      os.path.join(log_dir, f"{lib}-{algo}-seed{seed}.log"), f"{lib}:{algo}",
      seed, blank=REACHED_KEYS)
  record["timed_here_seconds"] = record["seconds_to_target"]
  if record["seconds_to_target"] is not None:
    record["seconds_to_target"] = record["self_reported_seconds"]
  return record


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--env", required=True)
  p.add_argument("--target", type=float, required=True,
                 help="10-episode mean training return to reach")
  p.add_argument("--num-steps", type=int, required=True,
                 help="step budget of every run")
  p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
  p.add_argument("--relay", nargs="+", default=[],
                 type=lambda s: parse_row(s, None),
                 help="AGENT:RUNNER rows, e.g. pqn:anakin sac:single")
  p.add_argument("--peer", nargs="*", default=[],
                 type=lambda s: parse_row(s, PEER_LIBS),
                 help="LIB:ALGO rows, e.g. sbx:td3 sb3:sac")
  p.add_argument("--anakin-period", type=int, default=5_000,
                 help="env steps per reporting period of an all-on-"
                      "accelerator run (the target is checked once per "
                      "period; default 5,000)")
  p.add_argument("--relay-python",
                 default=os.path.join(ROOT, ".venv-core", "bin", "python"))
  p.add_argument("--sb3-python", default="/tmp/peer-sb3/bin/python")
  p.add_argument("--sbx-python", default="/tmp/peer-sbx/bin/python")
  p.add_argument("--peer-script",
                 default=os.path.join(os.path.dirname(ROOT), "shared",
                                      "peers", "sb3_peer.py"))
  timing.add_run_args(p, "keep Relay's run folders (default: deleted)")
  args = p.parse_args()
  if not args.relay:
    p.error("give at least one --relay AGENT:RUNNER row")
  paths = [args.relay_python]
  if args.peer:
    paths.append(args.peer_script)
  paths += sorted({args.sb3_python if lib == "sb3" else args.sbx_python
                   for lib, _ in args.peer})
  timing.require_paths(paths)

  stamp, log_dir, run_root = timing.start_session(f"{NAME}-{args.env}",
                                                  f"{NAME}-")
  env = timing.child_env()
  rows = ([("relay",) + r for r in args.relay] +
          [("peer",) + r for r in args.peer])
  labels = [f"{a}:{b}" for _, a, b in rows]
  width = max(len(label) for label in labels)
  print(f"{args.env}: {', '.join(labels)} to a 10-episode mean of "
        f"{args.target:g}, budget {args.num_steps:,} steps, seeds "
        f"{args.seeds}, {os.cpu_count()} cores; logs in "
        f"{os.path.relpath(log_dir, ROOT)}", flush=True)
  runs = []
  try:
    for seed in args.seeds:
      for kind, a, b in rows:
        make = relay_record if kind == "relay" else peer_record
        r = make(a, b, args, seed, run_root, log_dir, env)
        runs.append(r)
        print(timing.describe_run(r, width, args.target), flush=True)
  finally:
    if not args.keep_runs:
      shutil.rmtree(run_root, ignore_errors=True)

  summary = {label: timing.summarize_label(runs, label) for label in labels}
  relay_labels = labels[:len(args.relay)]
  peer_labels = labels[len(args.relay):]
  peer_medians = [summary[l]["median_seconds_to_target"] for l in peer_labels
                  if summary[l]["median_seconds_to_target"] is not None]
  fastest_peer = min(peer_medians) if peer_medians else None
  first = summary[relay_labels[0]]["median_seconds_to_target"]
  print(f"\n| row | median s | reached | median steps | x fastest peer | "
        f"x {relay_labels[0]} |")
  print("| --- | --- | --- | --- | --- | --- |")
  for label in labels:
    s = summary[label]
    secs = s["median_seconds_to_target"]
    versus_peer = versus_first = "-"
    if label in relay_labels and secs is not None:
      if fastest_peer is not None:
        versus_peer = f"{fastest_peer / secs:.2f}x as fast"
      if first is not None and label != relay_labels[0]:
        versus_first = f"{first / secs:.2f}x as fast"
    s["times_faster_than_fastest_peer"] = (
        None if versus_peer == "-" else fastest_peer / secs)
    print(f"| {label} | {fmt(secs)} | {s['reached']}/{s['runs']} | "
          f"{fmt(s['median_steps_to_target'], ',.0f')} | {versus_peer} | "
          f"{versus_first} |")
  out = {"benchmark": NAME, "time": stamp, "env": args.env,
         "target": args.target, "num_steps": args.num_steps,
         "seeds": args.seeds, "rows": labels, "args": vars(args),
         "relay_git": timing.git_state(), "cpu_count": os.cpu_count(),
         "summary": summary, "fastest_peer_median_seconds": fastest_peer,
         "runs": runs}
  path = timing.write_results(f"{NAME}-{args.env}-{stamp}", out)
  print(f"wrote {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
  main()
