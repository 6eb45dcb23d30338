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
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402
from timing import fmt  # noqa: E402

ROOT = timing.ROOT
NAME = "ppo_single_vs_sb3"
DEFAULTS = {  # env: (target, step budget)
    "CartPole-v1": (475.0, 200_000),
    "Pendulum-v1": (-250.0, 500_000),
}
# Keys of a run's record that are None until its "Reached" line arrives.
REACHED_KEYS = ("steps_to_target", "self_reported_seconds", "mean_at_target")


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
  timing.add_run_args(p, "keep Relay's run folders (default: deleted)")
  args = p.parse_args()
  target = DEFAULTS[args.env][0] if args.target is None else args.target
  num_steps = (DEFAULTS[args.env][1] if args.num_steps is None
               else args.num_steps)
  timing.require_paths((args.relay_python, args.peer_python,
                        args.peer_script))

  stamp, log_dir, run_root = timing.start_session(f"{NAME}-{args.env}",
                                                  f"{NAME}-")
  # No persistent JAX compilation cache for either side (sb3 does not use
  # JAX; the variable matters only for --peer-lib sbx).
  env = timing.child_env()
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
                   "--no-tensorboard",
                   # The peer evaluates nothing while training; Relay
                   # evaluates once, after the target (not timed).
                   "--eval-every", "0", "--run-dir", run_dir]
      peer_cmd = [args.peer_python, args.peer_script, "--lib", peer,
                  "--algo", "ppo", "--env", args.env, "--seed", str(seed),
                  "--total-timesteps", str(num_steps),
                  "--target", str(target), "--stop-at-target"]
      for label, cmd, cwd in (("relay", relay_cmd, ROOT),
                              (peer, peer_cmd, run_root)):
        r = timing.run_record(
            cmd, cwd, env, args.timeout,
            os.path.join(log_dir, f"{label}-seed{seed}.log"), label, seed,
            blank=REACHED_KEYS)
        del r["stopped_at_target"]  # never stopped early; not in this JSON
        runs.append(r)
        print(timing.describe_run(
            r, 5, target,
            before=f"self-reported {fmt(r['self_reported_seconds'])} s; "),
            flush=True)
  finally:
    if not args.keep_runs:
      shutil.rmtree(run_root, ignore_errors=True)

  summary = {label: timing.summarize_label(runs, label)
             for label in ("relay", peer)}
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
         "peer": peer, "args": vars(args), "relay_git": timing.git_state(),
         "cpu_count": os.cpu_count(), "summary": summary, "runs": runs}
  path = timing.write_results(f"{NAME}-{args.env}-{stamp}", out)
  print(f"wrote {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
  main()
