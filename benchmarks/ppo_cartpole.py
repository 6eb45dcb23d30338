"""PPO on CartPole-v1, all on the accelerator: Relay against a
PureJaxRL-style baseline (benchmarks/purejaxrl_style_ppo.py) run in the same
session, alternating, each in a fresh process timed from launch.

  python benchmarks/ppo_cartpole.py                      # 3 rounds, 1 seed
  python benchmarks/ppo_cartpole.py --rounds 3 --num-seeds 8

Each round runs, in this order:
  baseline  benchmarks/purejaxrl_style_ppo.py (PureJaxRL's ppo.py algorithm
            and CartPole settings, one jax.jit(train))
  relay     Relay's `make_train` with the same settings (4 envs x 128 steps,
            4 epochs x 4 minibatches, 500k steps), jax.jit(vmap(train)): the
            same measurements as the baseline (import, compile, run, steps
            to 475 and the time to 475 estimated the same way)
  cli       `python -m experiments.train --runner anakin --stop-at-return
            475`, with Relay's CartPole preset (agents/ppo/config.py) and
            again with PureJaxRL's settings: the real time from launch
            until every seed's 10-episode mean reached 475 (the CLI stops
            there)
  cli_full  the CLI with PureJaxRL's settings for all 500k steps: its wall
            time (plot, table and checkpoint written) against the baseline's
Compilation caches are off for all three (cold compiles). Figures are
printed and written to benchmarks/results/ppo_cartpole-<time>.json.
The baseline needs gymnax: `pip install --no-deps gymnax==0.0.9`.
"""
from __future__ import annotations

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from experiments import launch_time  # pylint: disable=wrong-import-position

LAUNCH = launch_time.process_start_time()

# pylint: disable=g-import-not-at-top,wrong-import-position
import argparse
import json
import statistics
import subprocess
import tempfile

TARGET = 475.0


def relay_worker(num_seeds: int, seed: int, num_steps: int) -> dict:
  """Relay's pure train function with PureJaxRL's settings (PPOConfig's
  defaults and PPO's default runner settings, 4 envs x 128 steps, not the
  CartPole preset), jitted like the baseline."""
  import jax
  import numpy as np
  from agents.ppo import config as ppo_config
  from experiments import anakin_program
  from experiments import config as config_lib
  imported = time.time()
  # ExperimentConfig's ppo field holds PPOConfig's defaults; the runner
  # settings are given, else the CartPole preset's would apply.
  config = config_lib.ExperimentConfig(
      agent="ppo", env="CartPole-v1", runner="anakin", seed=seed,
      num_seeds=num_seeds, num_steps=num_steps, eval_every=16 * 512,
      eval_episodes=0, ppo=ppo_config.PPOConfig(),
      **ppo_config.RUNNER_DEFAULTS)
  train = anakin_program.make_train(config)
  plan = anakin_program.make_plan(config)
  keys = anakin_program.seed_keys(seed, num_seeds)
  start = time.perf_counter()
  # jax.jit(train) for one seed, jax.jit(jax.vmap(train)) for several, as
  # the baseline (and PureJaxRL) does.
  compiled = jax.jit(anakin_program.over_seeds(train, num_seeds)).lower(
      keys).compile()
  compile_s = time.perf_counter() - start
  start = time.perf_counter()
  out = jax.block_until_ready(compiled(keys))
  run_s = time.perf_counter() - start
  returns = np.asarray(out.metrics["mean_return_10"])
  steps = np.asarray(out.metrics["env_steps"])
  import_s = imported - LAUNCH
  seeds = []
  for i in range(num_seeds):
    reached = np.nonzero(np.nan_to_num(returns[i], nan=-np.inf) >= TARGET)[0]
    to_target = int(steps[i, reached[0]]) if len(reached) else None
    seeds.append({
        "steps_to_target": to_target,
        "time_to_target_s": None if to_target is None else
        import_s + compile_s + run_s * to_target / plan.total_steps,
        "final_moving_mean": float(returns[i, -1])})
  return {"import_s": import_s, "compile_s": compile_s, "run_s": run_s,
          "steps_per_seed": plan.total_steps,
          "steps_per_s_total": num_seeds * plan.total_steps / run_s,
          "seeds": seeds, "wall_s": time.time() - LAUNCH}


def _run_json(cmd: list[str], json_path: str) -> dict:
  start = time.time()
  proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                        timeout=900)
  wall = time.time() - start
  if proc.returncode != 0:
    raise RuntimeError(f"{cmd} failed:\n{proc.stderr[-3000:]}")
  with open(json_path) as f:
    result = json.load(f)
  result["process_wall_s"] = wall
  return result


def run_baseline(num_seeds: int, seed: int, tmp: str) -> dict:
  path = os.path.join(tmp, "baseline.json")
  return _run_json([sys.executable, "benchmarks/purejaxrl_style_ppo.py",
                    "--num-seeds", str(num_seeds), "--seed", str(seed),
                    "--json", path], path)


def run_relay(num_seeds: int, seed: int, tmp: str) -> dict:
  path = os.path.join(tmp, "relay.json")
  return _run_json([sys.executable, "benchmarks/ppo_cartpole.py", "--worker",
                    "--num-seeds", str(num_seeds), "--seed", str(seed),
                    "--json", path], path)


def purejaxrl_flags() -> list[str]:
  """CLI flags that replace the CartPole preset by PPOConfig's defaults and
  PPO's default runner settings (PureJaxRL's settings)."""
  from agents.ppo import config as ppo_config
  defaults = ppo_config.PPOConfig()
  preset = ppo_config.PRESETS["CartPole-v1"]
  flags = []
  for name in preset.agent:
    flags += [f"--ppo.{name.replace('_', '-')}", str(getattr(defaults, name))]
  for name in preset.runner:
    flags += [f"--{name.replace('_', '-')}",
              str(ppo_config.RUNNER_DEFAULTS[name])]
  return flags


def run_cli(num_seeds: int, seed: int, tmp: str, extra: list[str],
            stop: bool = True) -> dict:
  """One `python -m experiments.train --runner anakin` process; its
  summary.json's figures, flattened, and the process's wall time."""
  run_dir = os.path.join(tmp, f"cli-{time.time_ns()}")
  start = time.time()
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.train", "--runner", "anakin",
       "--agent", "ppo", "--env", "CartPole-v1", "--num-seeds",
       str(num_seeds), "--seed", str(seed),
       "--eval-episodes", "0", "--eval-every", str(16 * 512),
       *(["--stop-at-return", str(TARGET)] if stop else []), "--no-progress",
       "--compilation-cache-dir", "", "--run-dir", run_dir, *extra],
      cwd=ROOT, capture_output=True, text=True, timeout=900)
  wall = time.time() - start
  if proc.returncode != 0:
    raise RuntimeError(f"CLI failed:\n{proc.stderr[-3000:]}")
  with open(os.path.join(run_dir, "summary.json")) as f:
    summary = json.load(f)  # run_folder.RunSummary
  extra = summary.pop("extra")
  extra.pop("table", None)  # the printed table of final returns
  return dict(summary, **extra, env_steps_per_seed=summary["env_steps"],
              process_wall_s=wall)


def _median(values):
  values = [v for v in values if v is not None]
  return statistics.median(values) if values else None


def _fmt(value, unit="s"):
  return "n/a" if value is None else f"{value:.2f} {unit}".strip()


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--num-seeds", type=int, default=1)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--num-steps", type=int, default=500_000)
  parser.add_argument("--worker", action="store_true",
                      help="internal: run Relay once and write --json")
  parser.add_argument("--json", default=None)
  args = parser.parse_args()
  if args.worker:
    result = relay_worker(args.num_seeds, args.seed, args.num_steps)
    with open(args.json, "w") as f:
      json.dump(result, f)
    return

  rows = {"baseline": [], "relay": [], "cli": [], "cli_purejaxrl": [],
          "cli_full": []}
  with tempfile.TemporaryDirectory() as tmp:
    for r in range(args.rounds):
      seed = args.seed + r
      rows["baseline"].append(run_baseline(args.num_seeds, seed, tmp))
      rows["relay"].append(run_relay(args.num_seeds, seed, tmp))
      rows["cli"].append(run_cli(args.num_seeds, seed, tmp, []))
      rows["cli_purejaxrl"].append(run_cli(args.num_seeds, seed, tmp,
                                           purejaxrl_flags()))
      rows["cli_full"].append(run_cli(args.num_seeds, seed, tmp,
                                      purejaxrl_flags(), stop=False))
      b, x, c = rows["baseline"][-1], rows["relay"][-1], rows["cli"][-1]
      cp = rows["cli_purejaxrl"][-1]
      cf = rows["cli_full"][-1]
      print(f"round {r} (seed {seed}):")
      for name, res in (("baseline", b), ("relay", x)):
        tt = _median([s["time_to_target_s"] for s in res["seeds"]])
        print(f"  {name:8s} import {res['import_s']:.2f} s, compile "
              f"{res['compile_s']:.2f} s, run {res['run_s']:.2f} s "
              f"({res['steps_per_s_total']:,.0f} steps/s), est. time to 475 "
              f"{_fmt(tt)}, wall {res['process_wall_s']:.2f} s")
      for name, res in (("cli", c), ("cli-pjx", cp)):
        print(f"  {name:8s} time to 475 (measured) "
              f"{_fmt(res['seconds_to_target'])}, compile "
              f"{res['compile_seconds']:.2f} s, steps "
              f"{res['env_steps_per_seed']:,}, wall {res['process_wall_s']:.2f} s")
      print(f"  cli-full PureJaxRL settings, all {cf['env_steps_per_seed']:,} "
            f"steps: compile {cf['compile_seconds']:.2f} s, run "
            f"{cf['run_seconds']:.2f} s ({cf['steps_per_second']:,.0f} steps/s),"
            f" wall {cf['process_wall_s']:.2f} s")
  summary = {}
  for name in ("baseline", "relay"):
    res = rows[name]
    summary[name] = {
        "compile_s": _median([x["compile_s"] for x in res]),
        "run_s": _median([x["run_s"] for x in res]),
        "steps_per_s_total": _median([x["steps_per_s_total"] for x in res]),
        "time_to_475_s": _median([_median([s["time_to_target_s"]
                                           for s in x["seeds"]]) for x in res]),
        "wall_s": _median([x["process_wall_s"] for x in res]),
    }
  summary["cli_full"] = {
      "wall_s": _median([c["process_wall_s"] for c in rows["cli_full"]]),
      "run_s": _median([c["run_seconds"] for c in rows["cli_full"]])}
  for name in ("cli", "cli_purejaxrl"):
    summary[name] = {
        "time_to_475_s": _median([c["seconds_to_target"] for c in rows[name]]),
        "wall_s": _median([c["process_wall_s"] for c in rows[name]])}
  b, x = summary["baseline"], summary["relay"]
  print(f"\nmedians over {args.rounds} rounds, {args.num_seeds} seed(s), "
        f"{args.num_steps:,} steps per seed:")
  for name in ("compile_s", "run_s", "steps_per_s_total", "time_to_475_s",
               "wall_s"):
    ratio = (b[name] / x[name] if name != "steps_per_s_total"
             else x[name] / b[name]) if b[name] and x[name] else None
    print(f"  {name:18s} baseline {b[name]:>12,.2f}  relay {x[name]:>12,.2f}"
          f"  relay better by {ratio:.2f}x" if ratio else f"  {name}: n/a")
  print(f"  CLI, PureJaxRL settings, all steps: wall "
        f"{_fmt(summary['cli_full']['wall_s'])} (baseline {_fmt(b['wall_s'])})")
  for name, what in (("cli_purejaxrl", "PureJaxRL settings"),
                     ("cli", "CartPole preset")):
    print(f"  CLI, {what}, stops at 475: time to 475 "
          f"{_fmt(summary[name]['time_to_475_s'])}, wall "
          f"{_fmt(summary[name]['wall_s'])}")
  os.makedirs(os.path.join(ROOT, "benchmarks", "results"), exist_ok=True)
  out = os.path.join(ROOT, "benchmarks", "results",
                     f"ppo_cartpole-{time.strftime('%Y%m%d-%H%M%S')}.json")
  with open(out, "w") as f:
    json.dump({"rows": rows, "summary": summary, "args": vars(args)}, f,
              indent=1)
  print(f"results: {out}")


if __name__ == "__main__":
  main()
