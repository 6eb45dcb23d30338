"""The README's agent table: each agent on its reference tasks, several
seeds in one all-on-accelerator program, with the steps each seed took to
reach the task's target and the final returns.

  python benchmarks/agent_figures.py                      # every row, 3 seeds
  python benchmarks/agent_figures.py --agents c51 pqn --tasks cartpole
  python benchmarks/agent_figures.py --num-seeds 5
  # the harder tasks, at a budget reduced for this machine:
  python benchmarks/agent_figures.py --tasks breakout \
      --agents dqn c51 qr_dqn mdqn rainbow pqn
  python benchmarks/agent_figures.py --tasks halfcheetah \
      --agents sac td3 d4pg --jobs 2
  (benchmarks/halfcheetah_vs_cleanrl.py runs HalfCheetah beside CleanRL.)

Each (agent, task) row is one process:
  <python> -m experiments.train --runner anakin --agent AGENT --env ENV
    --num-steps N --num-seeds S --eval-every N/20 --seed 0 --no-progress
    --no-tensorboard --run-dir DIR
with the agent's defaults and its preset for ENV (nothing tuned here), a
10-episode greedy evaluation every period (the program reports once per
period, 20 in all) and JAX's compilation cache off, so "wall" includes a
cold compile. HalfCheetah-v5, which is not JAX-native, runs --runner single
--replay device --eval-every N/5, one process per seed (seeds 0 to S-1,
--jobs of them at a time). The row is read back from the run folders:
  steps to target  per seed, the first logged env step whose 10-episode
                   mean training return reached the task's target (logs/
                   train.csv: one row per period, so to within N/20; the
                   single-process runner logs every episode)
  final            the 10-episode mean training return at the last step,
                   mean +- standard deviation over the seeds
  eval             the last greedy evaluation (10 episodes per seed), the
                   same statistics
  wall             seconds from launch to the process's end (all seeds in
                   one program; single-process rows: the median over the
                   seeds' processes)
Printed as a Markdown table; JSON to benchmarks/results/agent_figures-
<time>.json and each run's log to benchmarks/results/logs/.
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
# name: (environment id, step budget, target 10-episode mean return,
# runner). The reference tasks run by default; the harder ones, at a budget
# reduced for this 2-core machine, only when named with --tasks.
TASKS = {
    "cartpole": ("CartPole-v1", 100_000, 475.0, "anakin"),
    "acrobot": ("Acrobot-v1", 200_000, -100.0, "anakin"),
    "pendulum": ("Pendulum-v1", 20_000, -200.0, "anakin"),
    "mountaincar": ("MountainCarContinuous-v0", 50_000, 90.0, "anakin"),
    "breakout": ("MinAtar/Breakout-v1", 250_000, 10.0, "anakin"),
    # Not JAX-native (MuJoCo through gymnasium): the single-process runner,
    # one seed per process; needs the `mujoco` extra.
    "halfcheetah": ("HalfCheetah-v5", 50_000, 1_000.0, "single"),
}
DEFAULT_TASKS = ("cartpole", "acrobot", "pendulum", "mountaincar")
CONTINUOUS_TASKS = ("pendulum", "mountaincar", "halfcheetah")
DISCRETE = ("dqn", "c51", "qr_dqn", "mdqn", "rainbow", "pqn")
CONTINUOUS = ("sac", "td3", "d4pg")


def rows_wanted(agents: list[str], tasks: list[str]) -> list[tuple[str, str]]:
  """(agent, task) pairs: discrete agents on the discrete tasks, continuous
  ones on the continuous tasks."""
  out = []
  for agent in agents:
    kind = CONTINUOUS if agent in CONTINUOUS else DISCRETE
    for task in tasks:
      continuous_task = task in CONTINUOUS_TASKS
      if (kind is CONTINUOUS) == continuous_task:
        out.append((agent, task))
  return out


def first_reached(train_csv: str, target: float, seeds: list[int]
                  ) -> tuple[list[int | None], list[float], int]:
  """Per seed of `seeds` (the values of train.csv's seed column): the first
  env step whose mean_return_10 >= target (None if none), the last
  mean_return_10, and the last env step logged."""
  index = {seed: i for i, seed in enumerate(seeds)}
  first: list[int | None] = [None] * len(seeds)
  last = [float("nan")] * len(seeds)
  last_step = 0
  with open(train_csv) as f:
    for row in csv.DictReader(f):
      i, step = index[int(row["seed"])], int(row["env_steps"])
      value = float(row["mean_return_10"])
      if first[i] is None and value >= target:
        first[i] = step
      last[i] = value
      last_step = max(last_step, step)
  return first, last, last_step


def mean_std(values: list[float | None]) -> str:
  finite = [v for v in values if v is not None and np.isfinite(v)]
  if not finite:
    return "-"
  return f"{np.mean(finite):.1f} ± {np.std(finite):.1f}"


def run_row(agent: str, task: str, args: Any, run_root: str, log_dir: str
            ) -> dict[str, Any]:
  """One (agent, task) row: one all-on-accelerator process for every seed,
  or one single-process run per seed (args.jobs at a time)."""
  env_id, budget, target, runner = TASKS[task]
  budget = args.num_steps or budget
  cmd = [args.python, "-m", "experiments.train", "--runner", runner,
         "--agent", agent, "--env", env_id, "--num-steps", str(budget),
         "--compilation-cache-dir", "", "--no-progress", "--no-tensorboard"]
  if runner == "anakin":
    # The program logs (and evaluates) once per period: 20 periods, so the
    # steps to the target are known to a twentieth of the budget.
    cmd += ["--num-seeds", str(args.num_seeds), "--eval-every",
            str(budget // 20)]
    runs = [(0, list(range(args.num_seeds)))]
  else:
    cmd += ["--replay", "device", "--eval-every", str(budget // 5)]
    runs = [(seed, [seed]) for seed in range(args.num_seeds)]

  def launch(run: tuple[int, list[int]]) -> dict[str, Any]:
    seed, seeds = run
    name = f"{agent}-{task}" + (f"-seed{seed}" if runner != "anakin" else "")
    run_dir = os.path.join(run_root, name)
    record = timing.run_record(
        cmd + ["--seed", str(seed), "--run-dir", run_dir], ROOT,
        timing.child_env(), args.timeout, os.path.join(log_dir, f"{name}.log"),
        f"{agent}:{task}", seed)
    try:
      with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
      record["reached"] = first_reached(
          os.path.join(run_dir, "logs", "train.csv"), target, seeds)
    except OSError as e:
      record["error"] = f"no run folder results: {e}"
      return record
    evals = summary.get("final_eval_return")
    record["evals"] = evals if isinstance(evals, list) else [evals]
    record["compile_seconds"] = summary.get("extra", {}).get(
        "compile_seconds")
    return record

  # Threads only wait on child processes here.
  with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
    records = list(pool.map(launch, runs))
  row = dict(agent=agent, task=task, env=env_id, budget=budget,
             target=target, runner=runner, num_seeds=args.num_seeds,
             command=records[0]["command"], runs=records,
             log=records[0]["log"],
             wall_seconds=float(np.median([r["wall_seconds"]
                                           for r in records])))
  failed = [r for r in records if "error" in r]
  if failed:
    row["error"] = failed[0]["error"]
    row["log"] = failed[0]["log"]
    return row
  row.update(
      steps_to_target=[s for r in records for s in r["reached"][0]],
      final_mean_return=[v for r in records for v in r["reached"][1]],
      final_eval_return=[v for r in records for v in r["evals"]],
      env_steps=max(r["reached"][2] for r in records),
      compile_seconds=[r["compile_seconds"] for r in records])
  return row


def markdown(records: list[dict[str, Any]]) -> str:
  lines = ["| agent | task, budget, runner | final | eval | steps to target "
           "per seed | wall (s) |", "| --- | --- | --- | --- | --- | --- |"]
  for r in records:
    if "steps_to_target" not in r:
      lines.append(f"| {r['agent']} | {r['env']}, {r['budget'] // 1000}k, "
                   f"{r['runner']} | failed: see {r['log']} | | | |")
      continue
    steps = ", ".join("never" if s is None else f"{s / 1000:.1f}k"
                      for s in r["steps_to_target"])
    lines.append(
        f"| {r['agent']} | {r['env']}, {r['budget'] // 1000}k, "
        f"{r['runner']} x{r['num_seeds']} | {mean_std(r['final_mean_return'])} | "
        f"{mean_std(r['final_eval_return'] or [])} | "
        f"{r['target']:g}: {steps} | {r['wall_seconds']:.0f} |")
  return "\n".join(lines)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--agents", nargs="+", default=list(DISCRETE + CONTINUOUS),
                 choices=DISCRETE + CONTINUOUS)
  p.add_argument("--tasks", nargs="+", default=list(DEFAULT_TASKS),
                 choices=TASKS)
  p.add_argument("--num-seeds", type=int, default=3,
                 help="seeds per row (all on the accelerator: in one "
                 "program; single process: one process each)")
  p.add_argument("--jobs", type=int, default=1,
                 help="single-process seeds run at a time (their wall "
                 "times grow when they share cores)")
  p.add_argument("--num-steps", type=int, default=None,
                 help="override every row's step budget")
  p.add_argument("--python", default=os.path.join(ROOT, ".venv-core", "bin",
                                                   "python"),
                 help="interpreter with Relay installed (core install)")
  p.add_argument("--timeout", type=float, default=1800.0,
                 help="seconds before a row's process is killed")
  p.add_argument("--keep-runs", action="store_true",
                 help="keep the run folders (printed) instead of deleting")
  args = p.parse_args()
  timing.require_paths([args.python])
  now, log_dir, run_root = timing.start_session("agent_figures",
                                                "agent_figures-")
  wanted = rows_wanted(args.agents, args.tasks)
  print(f"{len(wanted)} rows, {args.num_seeds} seeds each, "
        f"{os.cpu_count()} cores; logs in {os.path.relpath(log_dir, ROOT)}",
        flush=True)
  records = []
  try:
    for agent, task in wanted:
      record = run_row(agent, task, args, run_root, log_dir)
      records.append(record)
      print(markdown([record]).splitlines()[-1], flush=True)
  finally:
    if args.keep_runs:
      print(f"runs kept in {run_root}")
    else:
      shutil.rmtree(run_root, ignore_errors=True)
  print()
  print(markdown(records))
  path = timing.write_results(
      f"agent_figures-{now}",
      {"benchmark": "agent_figures", "time": now, "args": vars(args),
       "relay_git": timing.git_state(), "cpu_count": os.cpu_count(),
       "records": records})
  print(f"\nresults: {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
  main()
