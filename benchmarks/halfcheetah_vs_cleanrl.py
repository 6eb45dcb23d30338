"""Continuous control on MuJoCo HalfCheetah: Relay's SAC, TD3 and D4PG
against CleanRL's own sac_continuous_action.py and td3_continuous_action.py,
compared at equal environment steps (the issue's "harder benchmark", at a
budget reduced for a 2-core CPU machine).

  python benchmarks/halfcheetah_vs_cleanrl.py                # 50k, seeds 1-3
  python benchmarks/halfcheetah_vs_cleanrl.py --rows relay-sac cleanrl-sac \
      --seeds 1 --num-steps 30000 --jobs 1

Command for the README figure:
  .venv-core/bin/python benchmarks/halfcheetah_vs_cleanrl.py --jobs 2

Rows, each seed a fresh process:
  relay-AGENT   <relay python> -m experiments.train --agent AGENT
                --env HalfCheetah-v5 --replay device --num-steps N --seed S
                --eval-every N/5 --compilation-cache-dir "" --no-progress
                --no-tensorboard --run-dir DIR
                (the agent's HalfCheetah preset, nothing tuned here)
  cleanrl-sac   <cleanrl python> sac_continuous_action.py --env-id
                HalfCheetah-v4 --total-timesteps N --seed S --no-cuda
  cleanrl-td3   <cleanrl python> td3_continuous_action.py (the same flags)
                (CleanRL's defaults otherwise, scripts not edited; run in a
                scratch folder, where their TensorBoard writer puts runs/)
--jobs runs that many processes at a time (on 2 cores, 2 at a time roughly
halves the session; the returns at equal steps do not depend on it, the
wall times do). Every process runs with OMP_NUM_THREADS=1 and
MKL_NUM_THREADS=1: torch on this 2-core machine, sharing it with a second
run, slows to a crawl (about 30 steps/s against 70-200) with more threads.

The comparison is of training episodes (every episode is 1,000 steps), at
the checkpoints --at (default 10k, 20k, 30k, 40k, 50k): for each run, the
mean return of the episodes that ended in the 5,000 steps up to the
checkpoint (5 episodes), then mean +- standard deviation over the seeds.
Relay's greedy evaluation at the end (10 episodes) is reported beside it;
CleanRL evaluates nothing while training. CleanRL runs gymnasium 0.29.1's
HalfCheetah-v4 (its pin; it reads infos["final_info"], which gymnasium 1.x
no longer gives), Relay gymnasium 1.x's HalfCheetah-v5: the same model,
reward (forward velocity - 0.1 |a|^2) and 1,000-step limit.

CleanRL setup (outside this repository), its commit
fe8d8a03c41a7ef5b523e2e354bd01c363e786bb (vwxyzjn/cleanrl):
  mkdir -p /tmp/peer-cleanrl/cleanrl_utils && cd /tmp/peer-cleanrl
  for f in cleanrl/sac_continuous_action.py cleanrl/td3_continuous_action.py; do
    git --git-dir=<cleanrl clone>/.git show HEAD:$f > $(basename $f); done
  git --git-dir=<cleanrl clone>/.git show HEAD:cleanrl_utils/buffers.py \\
      > cleanrl_utils/buffers.py && touch cleanrl_utils/__init__.py
  python3.11 -m venv venv && venv/bin/pip install torch==2.13.0 \\
      'gymnasium[mujoco]==0.29.1' 'mujoco<3.2' tyro tensorboard \\
      stable-baselines3==2.3.2
(measured with torch 2.13.0+cpu, gymnasium 0.29.1, mujoco 3.1.6). Relay's
side needs the `mujoco` extra: `pip install -c constraints-core.txt -e
'.[mujoco]'`. Results and per-run logs go to benchmarks/results/
(git-ignored).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import csv
import json
import os
import shutil
import sys
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402

ROOT = timing.ROOT
NAME = "halfcheetah_vs_cleanrl"
ROWS = ("relay-sac", "relay-td3", "relay-d4pg", "cleanrl-sac", "cleanrl-td3")
WINDOW = 5_000


def window_means(episodes: list[tuple[int, float]], checkpoints: list[int]
                 ) -> list[float | None]:
  """For each checkpoint c, the mean return of the episodes (end step,
  return) that ended in (c - WINDOW, c]; None where none did."""
  out: list[float | None] = []
  for c in checkpoints:
    inside = [r for step, r in episodes if c - WINDOW < step <= c]
    out.append(float(np.mean(inside)) if inside else None)
  return out


def relay_episodes(run_dir: str) -> list[tuple[int, float]]:
  """(env steps at the episode's end, return) from Relay's train.csv."""
  with open(os.path.join(run_dir, "logs", "train.csv")) as f:
    return [(int(r["env_steps"]), float(r["episode_return"]))
            for r in csv.DictReader(f)]


def cleanrl_episodes(log_path: str) -> list[tuple[int, float]]:
  """(env steps at the episode's end, return) from CleanRL's
  'global_step=N, episodic_return=[R]' lines (N counts from 0)."""
  out = []
  with open(log_path) as f:
    for line in f:
      m = timing.CLEANRL_EPISODE.search(line)
      if m:
        out.append((int(m["step"]) + 1, float(m["ret"])))
  return out


def run_one(row: str, seed: int, args: Any, run_root: str, log_dir: str,
            env: dict[str, str]) -> dict[str, Any]:
  """One seed of one row: launch, wait, read its episodes back."""
  name = f"{row}-seed{seed}"
  log_path = os.path.join(log_dir, f"{name}.log")
  run_dir = os.path.join(run_root, name)
  if row.startswith("cleanrl"):
    os.makedirs(run_dir)
    algo = row.split("-", 1)[1]
    script = os.path.join(args.cleanrl_dir, f"{algo}_continuous_action.py")
    cmd = [args.cleanrl_python, script, "--env-id", "HalfCheetah-v4",
           "--total-timesteps", str(args.num_steps), "--seed", str(seed),
           "--no-cuda"]
    cwd = run_dir
  else:
    cmd = [args.relay_python, "-m", "experiments.train", "--agent",
           row.split("-", 1)[1], "--env", "HalfCheetah-v5", "--replay",
           "device", "--num-steps", str(args.num_steps), "--seed", str(seed),
           "--eval-every", str(args.num_steps // 5),
           "--compilation-cache-dir", "", "--no-progress", "--no-tensorboard",
           "--run-dir", run_dir]
    cwd = ROOT
  record = timing.run_record(cmd, cwd, env, args.timeout, log_path, row, seed,
                             detector=lambda line: None)
  try:
    if row.startswith("cleanrl"):
      episodes = cleanrl_episodes(log_path)
    else:
      episodes = relay_episodes(run_dir)
      with open(os.path.join(run_dir, "summary.json")) as f:
        record["final_eval_return"] = json.load(f).get("final_eval_return")
  except OSError as e:
    record["error"] = f"no results: {e}"
    episodes = []
  record["episodes"] = episodes
  record["at"] = window_means(episodes, args.at)
  last = max((step for step, _ in episodes), default=0)
  record["env_steps_per_second"] = (last / record["wall_seconds"]
                                    if record["wall_seconds"] else None)
  print(f"  {name}: " + ", ".join(
      f"{c // 1000}k {'-' if v is None else f'{v:,.0f}'}"
      for c, v in zip(args.at, record["at"]))
        + f"; wall {record['wall_seconds']:.0f} s, exit "
          f"{record['returncode']}", flush=True)
  return record


def mean_std(values: list[float | None]) -> str:
  finite = [v for v in values if v is not None]
  if not finite:
    return "-"
  text = f"{np.mean(finite):,.0f} ± {np.std(finite):,.0f}"
  return text if len(finite) == len(values) else f"{text} ({len(finite)} runs)"


def markdown(records: list[dict[str, Any]], rows: list[str],
             checkpoints: list[int]) -> str:
  head = (["row"] + [f"{c // 1000}k" for c in checkpoints] +
          ["Relay greedy eval at the end", "median wall (s)"])
  lines = ["| " + " | ".join(head) + " |",
           "| " + " | ".join("---" for _ in head) + " |"]
  for row in rows:
    rs = [r for r in records if r["label"] == row]
    if not rs:
      continue
    cells = [mean_std([r["at"][i] for r in rs])
             for i in range(len(checkpoints))]
    evals = [r.get("final_eval_return") for r in rs]
    cells.append(mean_std(evals) if row.startswith("relay") else "")
    cells.append(f"{np.median([r['wall_seconds'] for r in rs]):.0f}")
    lines.append(f"| {row} ({len(rs)} seeds) | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS))
  p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
  p.add_argument("--num-steps", type=int, default=50_000)
  p.add_argument("--at", type=int, nargs="+",
                 default=[10_000, 20_000, 30_000, 40_000, 50_000],
                 help="checkpoints (env steps) of the comparison")
  p.add_argument("--jobs", type=int, default=1,
                 help="processes at a time")
  p.add_argument("--relay-python",
                 default=os.path.join(ROOT, ".venv-core", "bin", "python"))
  p.add_argument("--cleanrl-python", default="/tmp/peer-cleanrl/venv/bin/python")
  p.add_argument("--cleanrl-dir", default="/tmp/peer-cleanrl",
                 help="folder of CleanRL's scripts and cleanrl_utils/")
  timing.add_run_args(p, "keep the run folders (default: deleted)")
  args = p.parse_args()
  needed = [args.relay_python]
  if any(r.startswith("cleanrl") for r in args.rows):
    needed += [args.cleanrl_python] + [
        os.path.join(args.cleanrl_dir, f"{r.split('-', 1)[1]}"
                     "_continuous_action.py")
        for r in args.rows if r.startswith("cleanrl")]
  timing.require_paths(needed)

  stamp, log_dir, run_root = timing.start_session(NAME, f"{NAME}-")
  env = dict(timing.child_env(), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
  # Seed by seed, rows alternating, so that a change in the machine's load
  # touches every row alike.
  work = [(row, seed) for seed in args.seeds for row in args.rows]
  print(f"HalfCheetah, {args.num_steps:,} steps, rows {args.rows}, seeds "
        f"{args.seeds}, {args.jobs} at a time; logs in "
        f"{os.path.relpath(log_dir, ROOT)}", flush=True)
  try:
    # Threads only wait on child processes here.
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
      records = list(pool.map(
          lambda w: run_one(w[0], w[1], args, run_root, log_dir, env), work))
  finally:
    if args.keep_runs:
      print(f"runs kept in {run_root}")
    else:
      shutil.rmtree(run_root, ignore_errors=True)
  table = markdown(records, args.rows, args.at)
  print("\nMean training return of the episodes ending in the 5k steps "
        "up to each checkpoint, mean ± std over seeds:\n")
  print(table)
  path = timing.write_results(
      f"{NAME}-{stamp}",
      {"benchmark": NAME, "time": stamp, "args": vars(args),
       "relay_git": timing.git_state(), "cpu_count": os.cpu_count(),
       "records": records, "table": table})
  print(f"\nresults: {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
  main()
