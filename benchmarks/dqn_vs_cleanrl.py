"""DQN on CartPole-v1: Relay's README main command (Reverb replay, and the
device replay as a second row) against CleanRL's own dqn_jax.py at 100k
steps, wall-clock time from launch to a 10-episode mean training return of
475.

  python benchmarks/dqn_vs_cleanrl.py                    # seeds 1 2 3
  python benchmarks/dqn_vs_cleanrl.py --seeds 1 2 3 4 5 --timeout 600

Command for the README figure:
  .venv/bin/python benchmarks/dqn_vs_cleanrl.py --seeds 1 2 3

Rows, run alternately per seed (relay-reverb seed 1, relay-device seed 1,
cleanrl seed 1, relay-reverb seed 2, ...), each a fresh process:
  relay-reverb  <relay python> -m experiments.train --agent dqn --env CartPole-v1
                --replay reverb --seed S --stop-at-return 475
                --compilation-cache-dir "" --no-progress --no-tensorboard
                --run-dir DIR      (the README's main command, default config)
  relay-device  the same with --replay device
  cleanrl       <cleanrl python> dqn_jax.py --total-timesteps 100000 --seed S
                --no-track --no-capture-video --no-save-model
                (CleanRL's defaults otherwise; run in a scratch folder, where
                its TensorBoard writer puts runs/, deleted afterwards)
No persistent JAX compilation cache on either side (Relay: the flag above;
all processes: JAX_ENABLE_COMPILATION_CACHE=false and no
JAX_COMPILATION_CACHE_DIR), so every run compiles cold.

"seconds" is measured here, the same way for every row: from just before the
process is started until the line that shows the 10-episode mean reaching
475 arrives (interpreter start, imports and compilation included; output is
unbuffered, PYTHONUNBUFFERED=1). For Relay that is its "Reached a 10-episode
mean return of ..." line. dqn_jax.py has no such line and is not edited:
this script reads its 'global_step=N, episodic_return=[R]' lines as they
arrive, keeps the mean of the last 10 returns and takes the first line at
which it is >= 475 (steps = N + 1, as dqn_jax.py's global_step counts from
0); it then stops the process (--cleanrl-to-end lets it finish the 100k
steps). A run that never reaches 475 shows "never". Medians count such a
seed as infinitely slow; "reached" says how many seeds got there.
Results and per-run logs go to benchmarks/results/ (git-ignored):
dqn_vs_cleanrl-<time>.json and a logs/ folder.

CleanRL setup (outside this repository). dqn_jax.py and cleanrl_utils/
from CleanRL's repository (vwxyzjn/cleanrl), measured at commit
fe8d8a03c41a7ef5b523e2e354bd01c363e786bb; at that commit dqn_jax.py imports
its ReplayBuffer from cleanrl_utils/buffers.py (no longer from
stable-baselines3), so that package goes beside the script:
  mkdir -p /tmp/cleanrl/cleanrl_utils
  git --git-dir=<cleanrl clone>/.git show HEAD:cleanrl/dqn_jax.py > /tmp/cleanrl/dqn_jax.py
  git --git-dir=<cleanrl clone>/.git show HEAD:cleanrl_utils/__init__.py > /tmp/cleanrl/cleanrl_utils/__init__.py
  git --git-dir=<cleanrl clone>/.git show HEAD:cleanrl_utils/buffers.py > /tmp/cleanrl/cleanrl_utils/buffers.py
  python3.11 -m venv /tmp/peer-cleanrl
  /tmp/peer-cleanrl/bin/pip install torch==2.13.0 jax flax optax \\
      'gymnasium[classic-control]==0.29.1' 'numpy<2' tyro tensorboard psutil
(measured with jax/jaxlib 0.7.1, flax 0.12.0, optax 0.2.8, tyro 1.0.17,
tensorboard 2.21.0, torch 2.13.0+cpu, numpy 1.26.4). gymnasium 0.29.1 is
CleanRL's pin and is needed: dqn_jax.py reads infos["final_info"] and
infos["final_observation"], which gymnasium 1.x no longer gives. torch
(its TensorBoard SummaryWriter and the buffer's tensors) is pinned to the
CPU build on this machine's disk for Python 3.11; an unpinned torch
downloads a CUDA build of several GB. CleanRL itself pins jax 0.4.8 / flax
0.6.8 for Python < 3.11; newer releases run dqn_jax.py unchanged.
Relay's side needs the Reverb venv (.venv, see the README).
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402
from timing import fmt  # noqa: E402

ROOT = timing.ROOT
NAME = "dqn_vs_cleanrl"
TARGET = 475.0
CLEANRL_STEPS = 100_000
SPS = re.compile(r"^SPS: (\d+)")


class CleanRLDetector:
  """Mean of the last 10 'episodic_return' lines of dqn_jax.py; also keeps
  the last 'SPS:' figure and the episode count."""

  def __init__(self):
    self.recent = collections.deque(maxlen=10)
    self.episodes = 0
    self.last_sps = None
    self.best_mean = None

  def __call__(self, line: str) -> dict | None:
    s = SPS.match(line)
    if s:
      self.last_sps = int(s.group(1))
      return None
    m = timing.CLEANRL_EPISODE.search(line)
    if m is None:
      return None
    self.episodes += 1
    self.recent.append(float(m["ret"]))
    if len(self.recent) < 10:
      return None
    mean = sum(self.recent) / 10
    self.best_mean = mean if self.best_mean is None else max(self.best_mean,
                                                             mean)
    if mean < TARGET:
      return None
    return {"steps_to_target": int(m["step"]) + 1,
            "global_step_at_target": int(m["step"]),
            "mean_at_target": mean}


def sha256(path: str) -> str | None:
  try:
    with open(path, "rb") as f:
      return hashlib.sha256(f.read()).hexdigest()
  except OSError:
    return None


def peer_versions(python: str) -> dict:
  code = ("import json, importlib.metadata as m\n"
          "print(json.dumps({p: m.version(p) for p in ('jax', 'jaxlib', "
          "'flax', 'optax', 'gymnasium', 'numpy', 'torch', 'tyro', "
          "'tensorboard')}))")
  try:
    out = subprocess.run([python, "-c", code], capture_output=True,
                         text=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])
  except (OSError, ValueError, IndexError, subprocess.TimeoutExpired) as e:
    return {"error": repr(e)}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
  p.add_argument("--relay-python",
                 default=os.path.join(ROOT, ".venv", "bin", "python"),
                 help="Relay's Reverb venv (both Relay rows use it)")
  p.add_argument("--replays", nargs="+", choices=["reverb", "device"],
                 default=["reverb", "device"], help="Relay rows to run")
  p.add_argument("--cleanrl-python", default="/tmp/peer-cleanrl/bin/python")
  p.add_argument("--cleanrl-script", default="/tmp/cleanrl/dqn_jax.py")
  p.add_argument("--cleanrl-steps", type=int, default=CLEANRL_STEPS,
                 help="dqn_jax.py --total-timesteps (its epsilon decays "
                      "over the first half)")
  p.add_argument("--cleanrl-to-end", action="store_true",
                 help="let dqn_jax.py finish its steps instead of stopping "
                      "it at the target")
  timing.add_run_args(p, "keep the run folders (default: deleted)")
  args = p.parse_args()
  timing.require_paths((args.relay_python, args.cleanrl_python,
                        args.cleanrl_script))

  stamp, log_dir, run_root = timing.start_session(NAME, f"{NAME}-")
  env = timing.child_env()
  labels = [f"relay-{r}" for r in args.replays] + ["cleanrl"]
  cleanrl_dir = os.path.dirname(os.path.abspath(args.cleanrl_script))
  peer = {"script": os.path.abspath(args.cleanrl_script),
          "script_sha256": sha256(args.cleanrl_script),
          "buffers_sha256": sha256(os.path.join(cleanrl_dir, "cleanrl_utils",
                                                "buffers.py")),
          "versions": peer_versions(args.cleanrl_python)}

  runs = []
  print(f"DQN on CartPole-v1 to a 10-episode mean of {TARGET:g}, seeds "
        f"{args.seeds}; CleanRL dqn_jax.py at {args.cleanrl_steps:,} steps; "
        f"logs in {os.path.relpath(log_dir, ROOT)}", flush=True)
  try:
    for seed in args.seeds:
      for label in labels:
        log_path = os.path.join(log_dir, f"{label}-seed{seed}.log")
        if label == "cleanrl":
          cwd = os.path.join(run_root, f"cleanrl-seed{seed}")
          os.makedirs(cwd)
          cmd = [args.cleanrl_python, os.path.abspath(args.cleanrl_script),
                 "--total-timesteps", str(args.cleanrl_steps),
                 "--seed", str(seed), "--no-track", "--no-capture-video",
                 "--no-save-model"]
          detector = CleanRLDetector()
          stop = not args.cleanrl_to_end
        else:
          cwd = ROOT
          cmd = [args.relay_python, "-m", "experiments.train",
                 "--agent", "dqn", "--env", "CartPole-v1",
                 "--replay", label.split("-", 1)[1], "--seed", str(seed),
                 "--stop-at-return", str(TARGET),
                 "--compilation-cache-dir", "", "--no-progress",
                 "--no-tensorboard",
                 # CleanRL evaluates nothing while training; Relay
                 # evaluates once, after the target (not timed).
                 "--eval-every", "0",
                 "--run-dir", os.path.join(run_root, f"{label}-seed{seed}")]
          detector = timing.relay_reached
          stop = False
        r = timing.run_record(cmd, cwd, env, args.timeout, log_path, label,
                              seed, detector, stop)
        if label == "cleanrl":
          r.update(episodes=detector.episodes, last_sps=detector.last_sps,
                   best_10_episode_mean=detector.best_mean)
        runs.append(r)
        extra = (f"; last SPS {detector.last_sps}, best 10-episode mean "
                 f"{fmt(detector.best_mean)}" if label == "cleanrl" else "")
        print(timing.describe_run(r, 12, TARGET, after=extra), flush=True)
  finally:
    if not args.keep_runs:
      shutil.rmtree(run_root, ignore_errors=True)

  summary = {label: timing.summarize_label(runs, label) for label in labels}
  base = summary["cleanrl"]["median_seconds_to_target"]
  for label in labels[:-1]:
    rel = summary[label]["median_seconds_to_target"]
    summary[label]["ratio_over_cleanrl_seconds"] = (
        None if rel is None or base is None else rel / base)

  by = {(r["label"], r["seed"]): r for r in runs}
  print("\n| seed | " + " | ".join(f"{l} (s) | {l} steps" for l in labels)
        + " |")
  print("| --- " * (1 + 2 * len(labels)) + "|")
  for seed in args.seeds:
    cells = []
    for label in labels:
      r = by[(label, seed)]
      cells += [fmt(r["seconds_to_target"]),
                fmt(r["steps_to_target"], ",")]
    print(f"| {seed} | " + " | ".join(cells) + " |")
  cells = []
  for label in labels:
    s = summary[label]
    cells += [fmt(s["median_seconds_to_target"]),
              fmt(s["median_steps_to_target"], ",.0f")]
  print("| median | " + " | ".join(cells) + " |")
  cells = []
  for label in labels:
    cells += [f"{summary[label]['reached']}/{summary[label]['runs']}", ""]
  print("| reached | " + " | ".join(cells) + " |")
  for label in labels[:-1]:
    ratio = summary[label]["ratio_over_cleanrl_seconds"]
    if ratio is None:
      print(f"ratio of median seconds, {label} / cleanrl: None (a median "
            "never reached 475)")
    else:
      print(f"ratio of median seconds, {label} / cleanrl: {ratio:.2f} "
            f"(Relay {1 / ratio:.2f}x as fast)")

  out = {"benchmark": NAME, "time": stamp, "target": TARGET,
         "seeds": args.seeds, "args": vars(args),
         "relay_git": timing.git_state(),
         "cleanrl": peer, "cpu_count": os.cpu_count(), "summary": summary,
         "runs": runs}
  path = timing.write_results(f"{NAME}-{stamp}", out)
  print(f"wrote {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
  main()
