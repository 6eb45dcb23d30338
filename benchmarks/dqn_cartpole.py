"""DQN on CartPole-v1: wall-clock time from launch to a 10-episode mean
return >= 475, Relay against a CleanRL-style baseline run in the same
session, plus Relay's actor-only throughput.

  python benchmarks/dqn_cartpole.py                 # seeds 0 1 2
  python benchmarks/dqn_cartpole.py --seeds 0 1 2 3 4

Relay runs the README's main command (`python -m experiments.train --agent
dqn --env CartPole-v1`, default config) with `--stop-at-return 475`; the
baseline is benchmarks/cleanrl_style_dqn.py (CleanRL's dqn_jax.py algorithm
and defaults: 500k steps, epsilon decaying over the first half). Both are separate processes timed from launch, so
imports and compilation count; seeds alternate between the two so machine
noise hits both alike. Relay uses a fresh JAX compilation cache for this
session: the first seed compiles cold, later seeds reuse the cache, as a
user's second run would. Results also go to benchmarks/results/.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = 475.0


def _timed(cmd: list[str], marker: str, timeout: float) -> dict:
  """Runs `cmd`; returns seconds from launch to the first line containing
  `marker` (None if never) and the total wall time."""
  start = time.time()
  proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
  reached = None
  try:
    for line in proc.stdout:
      if reached is None and marker in line:
        reached = time.time() - start
      if time.time() - start > timeout:
        proc.kill()
        break
    proc.wait(timeout=60)
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.wait()
  return {"seconds_to_target": reached, "wall_seconds": time.time() - start,
          "returncode": proc.returncode}


def relay_run(seed: int, run_root: str, cache_dir: str, timeout: float) -> dict:
  cmd = [sys.executable, "-m", "experiments.train", "--agent", "dqn",
         "--env", "CartPole-v1", "--seed", str(seed),
         "--stop-at-return", str(TARGET), "--no-progress",
         "--compilation-cache-dir", cache_dir,
         "--run-dir", os.path.join(run_root, f"relay-seed{seed}")]
  result = _timed(cmd, "Reached a 10-episode mean", timeout)
  result_file = os.path.join(run_root, f"relay-seed{seed}", "result.json")
  if os.path.exists(result_file):
    with open(result_file) as f:
      result["steps_to_target"] = json.load(f)["steps_to_target"]
  return result


def baseline_run(seed: int, steps: int, timeout: float) -> dict:
  cmd = [sys.executable, os.path.join("benchmarks", "cleanrl_style_dqn.py"),
         "--seed", str(seed), "--total-timesteps", str(steps),
         "--stop-at-target", "--target", str(TARGET)]
  return _timed(cmd, "REACHED", timeout)


def actor_throughput(num_steps: int) -> dict:
  """Env steps/s of Relay's DQN actor with the learner off: jitted
  epsilon-greedy policy + gymnasium CartPole, with and without writing
  n-step transitions to an in-process Reverb table."""
  sys.path.insert(0, ROOT)
  import jax  # pylint: disable=g-import-not-at-top
  from agents.dqn import DQNBuilder, DQNConfig
  from building_blocks import counting, environment_loop
  from envs import gymnasium_adapter
  from replay import server as server_lib

  builder = DQNBuilder(DQNConfig())
  env = gymnasium_adapter.make_environment("CartPole-v1", seed=0)
  spec = gymnasium_adapter.make_environment_spec(env)
  networks = builder.make_networks(spec)
  tables = builder.make_replay_tables(spec, block_inserts=False)
  results = {}
  with server_lib.ReplayServer(tables) as server:
    learner = builder.make_learner(networks, iter(()), server, spec,
                                   jax.random.PRNGKey(0))
    for label, adder in (("act_only", None),
                         ("act_and_insert", builder.make_adder(server, None))):
      actor = builder.make_actor(networks, learner, jax.random.PRNGKey(1),
                                 adder=adder)
      loop = environment_loop.EnvironmentLoop(env, actor, counting.Counter())
      loop.run(num_steps=500)  # compile and warm up
      start = time.perf_counter()
      steps = sum(r["episode_length"] for r in loop.run(num_steps=num_steps))
      results[label] = steps / (time.perf_counter() - start)
  return results


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  parser.add_argument("--baseline-steps", type=int, default=500_000)
  parser.add_argument("--timeout", type=float, default=150.0)
  parser.add_argument("--actor-steps", type=int, default=20_000)
  args = parser.parse_args()

  rows = []
  with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
    cache_dir = os.path.join(tmp, "jax-cache")
    for seed in args.seeds:
      relay = relay_run(seed, tmp, cache_dir, args.timeout)
      base = baseline_run(seed, args.baseline_steps, args.timeout)
      rows.append({"seed": seed, "relay": relay, "baseline": base})
      print(f"seed {seed}: relay {_fmt(relay)} | baseline {_fmt(base)}",
            flush=True)
  actor = actor_throughput(args.actor_steps)

  relay_times = [r["relay"]["seconds_to_target"] for r in rows]
  base_times = [r["baseline"]["seconds_to_target"] for r in rows]
  print(f"\nTime from launch to a 10-episode mean return >= {TARGET:g} "
        "on CartPole-v1 (seconds; '-' = not reached)")
  print(f"{'seed':>4} {'relay':>8} {'steps':>7} {'baseline':>9}")
  for row, rt, bt in zip(rows, relay_times, base_times):
    steps = row["relay"].get("steps_to_target")
    print(f"{row['seed']:>4} {_num(rt):>8} {_num(steps, 0):>7} {_num(bt):>9}")
  summary = {
      "relay_reached": sum(t is not None for t in relay_times),
      "baseline_reached": sum(t is not None for t in base_times),
      "seeds": len(rows),
      "relay_median_s": _median(relay_times),
      "baseline_median_s": _median(base_times),
  }
  print(f"reached: relay {summary['relay_reached']}/{len(rows)}, "
        f"baseline {summary['baseline_reached']}/{len(rows)}")
  print(f"median (unreached counted as +inf): relay "
        f"{_num(summary['relay_median_s'])} s, baseline "
        f"{_num(summary['baseline_median_s'])} s")
  if summary["relay_median_s"] and summary["baseline_median_s"]:
    ratio = summary["baseline_median_s"] / summary["relay_median_s"]
    summary["speedup_vs_baseline"] = ratio
    print(f"relay reaches the target {ratio:.2f}x as fast as the baseline")
  print(f"actor-only throughput (learner off): {actor['act_only']:.0f} env "
        f"steps/s acting, {actor['act_and_insert']:.0f} env steps/s acting + "
        "Reverb inserts")
  os.makedirs(os.path.join(ROOT, "benchmarks", "results"), exist_ok=True)
  out = os.path.join(ROOT, "benchmarks", "results", "dqn_cartpole.json")
  with open(out, "w") as f:
    json.dump({"rows": rows, "summary": summary, "actor": actor}, f, indent=2)
  print(f"wrote {out}")


def _median(values):
  finite = [v if v is not None else float("inf") for v in values]
  m = statistics.median(finite) if finite else None
  return None if m is None or m == float("inf") else m


def _num(value, digits=1):
  return "-" if value is None else f"{value:.{digits}f}"


def _fmt(result):
  return (f"{_num(result['seconds_to_target'])} s to target, "
          f"{result['wall_seconds']:.1f} s wall")


if __name__ == "__main__":
  main()
