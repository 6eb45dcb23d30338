"""Regression check: this working tree against the commit before it (new/old).

Compares the agent-contract refactor with the commit before it (445071a),
measured in one session, as new/old time ratios.

  python benchmarks/regression.py                        # seeds 1 2 3, 3 rounds
  python benchmarks/regression.py --seeds 1 2 3 4 5 --rounds 5
  python benchmarks/regression.py --skip-reverb --skip-anakin --seeds 1

Measures (every run is a fresh process with JAX's compilation cache off:
--compilation-cache-dir "" and JAX_ENABLE_COMPILATION_CACHE=false):
  1. DQN, single process, CartPole-v1: seconds from launch to a 10-episode
     mean return >= 475, with `--replay reverb` (.venv, Python 3.11) and
     with `--replay device` (.venv-core), one run per --seeds value.
  2. PPO, all on the accelerator, CartPole-v1 preset (.venv-core): compile
     seconds, run seconds and seconds from launch to 475, --rounds runs.
Old and new alternate run by run (old seed 1, new seed 1, old seed 2, ...),
so machine noise hits both. Ratios are new median / old median: < 1 is
faster; within 5% (<= 1.05) passes.

The old tree is `git archive <--before>` unpacked in /tmp/relay-before
(reused if it is already there for the same commit, removed at the end);
its commands run there with the same interpreters, which then import its
packages, not the editable install of this tree (checked before measuring).

"Launch" is the benchmark's own clock: time.time() just before Popen.
  - single process: when the "Reached a 10-episode mean return ..." line
    arrives (children run with PYTHONUNBUFFERED=1 so it is not held in a
    pipe buffer). Both trees also print their own figure, counted from the
    first line of experiments/train.py (after interpreter start-up); it is
    kept as reported_seconds_to_target.
  - all on the accelerator: summary.json's seconds_to_target, whose zero
    differs between the trees. The old experiments/anakin.py counts from the
    process start (read from /proc, i.e. the Popen), so it is taken as is;
    the new experiments/train.py counts from its first line, so the
    benchmark adds that line's delay after Popen, recovered as
    mtime(summary.json) - summary.wall_seconds - launch (both are taken
    right after each other when the summary is written).
compile_seconds and run_seconds are the runners' own perf_counter figures
(the same code region in both trees). The commands are each tree's own
defaults otherwise; note that the new all-on-accelerator run also writes
TensorBoard files (on by default, the old one had none).

The DQN tables also show seconds per 1,000 env steps to target, for
information only: the trees do not train bit-identically, so a seed may
need a different number of steps in each.

Writes benchmarks/results/regression-<time>.json (git-ignored); exits 0
when every ratio passes and every run reached 475, else 1.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402

ROOT = timing.ROOT
BEFORE_DIR = "/tmp/relay-before"
BEFORE_MARKER = ".relay-before-commit"
DEFAULT_BEFORE = "445071a"
PACKAGES = ("agents", "building_blocks", "envs", "experiments", "replay")
VENV_REVERB = os.path.join(ROOT, ".venv", "bin", "python")
VENV_CORE = os.path.join(ROOT, ".venv-core", "bin", "python")
TARGET = 475.0
TOLERANCE = 0.05


# ----------------------------------------------------------------- the trees

def _git(*args: str) -> str:
  return subprocess.run(["git", *args], cwd=ROOT, check=True, text=True,
                        capture_output=True).stdout.strip()


def prepare_before_tree(commit: str) -> str:
  """Unpacks `commit` into BEFORE_DIR, or reuses it when its marker names
  the same commit. Returns the full commit id."""
  full = _git("rev-parse", "--verify", f"{commit}^{{commit}}")
  marker = os.path.join(BEFORE_DIR, BEFORE_MARKER)
  if os.path.isfile(marker):
    with open(marker) as f:
      if f.read().strip() == full:
        print(f"reusing {BEFORE_DIR} ({full[:10]})", flush=True)
        return full
  if os.path.exists(BEFORE_DIR):
    shutil.rmtree(BEFORE_DIR)
  os.makedirs(BEFORE_DIR)
  archive = subprocess.Popen(["git", "archive", full], cwd=ROOT,
                             stdout=subprocess.PIPE)
  subprocess.run(["tar", "-x", "-C", BEFORE_DIR], stdin=archive.stdout,
                 check=True)
  archive.stdout.close()
  if archive.wait() != 0:
    raise RuntimeError(f"git archive {full} failed")
  with open(marker, "w") as f:
    f.write(full + "\n")
  print(f"unpacked {full[:10]} into {BEFORE_DIR}", flush=True)
  return full


def check_and_warm(python: str, tree: str) -> None:
  """Byte-compiles the tree for this interpreter (so no run pays for it),
  then imports the packages and the entry point from `tree`, which also
  warms the file cache for the heavy dependencies; fails when an import
  resolves outside `tree` (e.g. to the editable install)."""
  subprocess.run([python, "-m", "compileall", "-q", *PACKAGES], cwd=tree,
                 check=True, stdout=subprocess.DEVNULL)
  probe = ("import importlib, json\n"
           f"mods = {list(PACKAGES) + ['experiments.train']!r}\n"
           "print(json.dumps({m: importlib.import_module(m).__file__ "
           "for m in mods}))\n")
  out = subprocess.run([python, "-c", probe], cwd=tree, check=True,
                       text=True, capture_output=True).stdout
  files = json.loads(out.strip().splitlines()[-1])
  real = os.path.realpath(tree) + os.sep
  wrong = {m: f for m, f in files.items()
           if not os.path.realpath(f).startswith(real)}
  if wrong:
    raise RuntimeError(f"{python} in {tree} imports from elsewhere: {wrong}")


# ------------------------------------------------------------------ one run

def _timed(cmd: list[str], cwd: str, timeout: float, log_path: str
           ) -> dict[str, Any]:
  """Runs `cmd` in `cwd` (timing.run_timed, timing.child_env); returns its
  launch time, wall seconds, exit code and when (benchmark clock) the
  "Reached ..." line arrived, if it did."""
  run = timing.run_timed(cmd, cwd, timing.child_env(), timeout, log_path)
  result = {"launch": run["launch"], "wall_seconds": run["wall_seconds"],
            "returncode": run["returncode"], "timed_out": run["timed_out"],
            "log_tail": "".join(run["tail"])}
  hit = run["hit"] or {}
  result.update(seconds_to_target=run["seconds_to_target"],
                reported_seconds_to_target=hit.get("self_reported_seconds"),
                steps_to_target=hit.get("steps_to_target"))
  if hit:
    result["mean_return_at_target"] = hit["mean_at_target"]
  return result


def dqn_run(which: str, tree: str, python: str, replay: str, seed: int,
            work: str, timeout: float) -> dict[str, Any]:
  run_dir = os.path.join(work, f"dqn-{replay}-{which}-seed{seed}")
  cmd = [python, "-m", "experiments.train", "--agent", "dqn",
         "--env", "CartPole-v1", "--seed", str(seed),
         "--stop-at-return", f"{TARGET:g}", "--replay", replay,
         "--compilation-cache-dir", "", "--no-progress", "--no-tensorboard",
         "--run-dir", run_dir]
  result = _timed(cmd, tree, timeout, run_dir + ".log")
  result["config"] = _read_json(os.path.join(run_dir, "config.json"))
  return result


def anakin_run(which: str, tree: str, python: str, round_: int, work: str,
               timeout: float) -> dict[str, Any]:
  run_dir = os.path.join(work, f"anakin-ppo-{which}-round{round_}")
  common = ["--agent", "ppo", "--env", "CartPole-v1", "--num-steps", "500000",
            "--stop-at-return", f"{TARGET:g}", "--compilation-cache-dir", "",
            "--no-progress", "--run-dir", run_dir]
  if which == "old":
    cmd = [python, "-m", "experiments.anakin", *common]
  else:
    cmd = [python, "-m", "experiments.train", "--runner", "anakin", *common]
  result = _timed(cmd, tree, timeout, run_dir + ".log")
  del result["reported_seconds_to_target"], result["steps_to_target"]
  summary_path = os.path.join(run_dir, "summary.json")
  summary = _read_json(summary_path)
  result["config"] = _read_json(os.path.join(run_dir, "config.json"))
  result["summary"] = summary
  result.update(compile_seconds=None, run_seconds=None,
                seconds_to_target=None, reported_seconds_to_target=None,
                launch_offset_seconds=None,
                steps_to_target=_anakin_steps_to_target(run_dir))
  if summary is None:
    return result
  # Both entry points count from the process start (/proc).
  offset = 0.0
  if which == "old":
    result["compile_seconds"] = summary.get("compile_seconds")
    result["run_seconds"] = summary.get("run_seconds")
  else:
    extra = summary.get("extra", {})
    result["compile_seconds"] = extra.get("compile_seconds")
    result["run_seconds"] = extra.get("run_seconds")
  result["launch_offset_seconds"] = offset
  reported = summary.get("seconds_to_target")
  result["reported_seconds_to_target"] = reported
  if reported is not None and offset is not None:
    result["seconds_to_target"] = reported + offset
  return result


def _anakin_steps_to_target(run_dir: str) -> int | None:
  path = os.path.join(run_dir, "final_returns.csv")
  try:
    with open(path, newline="") as f:
      rows = list(csv.DictReader(f))
    value = rows[0].get("steps_to_target", "-")
    return None if value in ("-", "", None) else int(value)
  except (OSError, IndexError, ValueError):
    return None


def _read_json(path: str) -> Any:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


# ---------------------------------------------------------------- reporting

def _ratio(new: float | None, old: float | None) -> float | None:
  return None if new is None or old is None or old <= 0 else new / old


def _verdict(ratio: float | None) -> str:
  if ratio is None:
    return "n/a (a median run did not finish)"
  change = f"{(ratio - 1) * 100:+.1f}%"
  if ratio < 1 - TOLERANCE:
    return f"improves ({change})"
  if ratio <= 1 + TOLERANCE:
    return f"within 5% ({change})"
  return f"REGRESSION ({change})"


def _num(value: Any, digits: int = 1) -> str:
  if value is None:
    return "-"
  if isinstance(value, int):
    return str(value)
  return f"{value:.{digits}f}"


def summarize(pairs: list[dict[str, Any]], key: str) -> dict[str, Any]:
  old = [p["old"].get(key) for p in pairs]
  new = [p["new"].get(key) for p in pairs]
  old_m, new_m = timing.median_seconds(old), timing.median_seconds(new)
  ratio = _ratio(new_m, old_m)
  return {"old": old, "new": new, "old_median": old_m, "new_median": new_m,
          "ratio": ratio, "verdict": _verdict(ratio),
          "ok": ratio is not None and ratio <= 1 + TOLERANCE}


def _per_1k_steps(result: dict[str, Any]) -> float | None:
  """Seconds to target per 1,000 env steps to target: the time with the
  number of steps the seed happened to need divided out."""
  seconds, steps = result["seconds_to_target"], result["steps_to_target"]
  return None if seconds is None or not steps else 1000.0 * seconds / steps


def print_dqn_table(title: str, pairs: list[dict[str, Any]],
                    summary: dict[str, Any]) -> None:
  print(f"\n{title}")
  print("seconds from launch to a 10-episode mean return >= 475 "
        "('-' = not reached; steps = env steps at that point)")
  head = (f"{'seed':>6} {'old s':>8} {'new s':>8} {'new/old':>8} "
          f"{'old steps':>10} {'new steps':>10}")
  print(head)
  for pair in pairs:
    old, new = pair["old"], pair["new"]
    ratio = _ratio(new["seconds_to_target"], old["seconds_to_target"])
    print(f"{pair['seed']:>6} {_num(old['seconds_to_target']):>8} "
          f"{_num(new['seconds_to_target']):>8} {_num(ratio, 3):>8} "
          f"{_num(old['steps_to_target']):>10} "
          f"{_num(new['steps_to_target']):>10}")
  print(f"{'median':>6} {_num(summary['old_median']):>8} "
        f"{_num(summary['new_median']):>8} {_num(summary['ratio'], 3):>8}"
        f"   -> {summary['verdict']}")
  per_step = summarize([{"old": {"v": _per_1k_steps(p["old"])},
                         "new": {"v": _per_1k_steps(p["new"])}}
                        for p in pairs], "v")
  print(f"  (informational) s per 1k env steps to target, medians: old "
        f"{_num(per_step['old_median'], 3)}, new "
        f"{_num(per_step['new_median'], 3)}, new/old "
        f"{_num(per_step['ratio'], 3)}: the trees' seeds need different step "
        "counts when their steps columns differ")


def print_anakin_table(pairs: list[dict[str, Any]],
                       summaries: dict[str, dict[str, Any]]) -> None:
  print("\nPPO all on the accelerator, CartPole-v1 preset (.venv-core): "
        "seconds")
  cols = (("compile_seconds", "compile"), ("run_seconds", "run"),
          ("seconds_to_target", "to 475"))
  print(f"{'round':>6} " + " ".join(
      f"{'old ' + label:>11} {'new ' + label:>11}" for _, label in cols)
        + f" {'old steps':>10} {'new steps':>10}")
  for pair in pairs:
    old, new = pair["old"], pair["new"]
    print(f"{pair['round']:>6} " + " ".join(
        f"{_num(old[key], 2):>11} {_num(new[key], 2):>11}" for key, _ in cols)
          + f" {_num(old['steps_to_target']):>10} "
          f"{_num(new['steps_to_target']):>10}")
  print(f"{'median':>6} " + " ".join(
      f"{_num(summaries[key]['old_median'], 2):>11} "
      f"{_num(summaries[key]['new_median'], 2):>11}" for key, _ in cols))
  for key, label in cols:
    s = summaries[key]
    print(f"  {label:>8}: new/old {_num(s['ratio'], 3)} -> {s['verdict']}")


def _describe(result: dict[str, Any]) -> str:
  text = (f"{_num(result['seconds_to_target'])} s to target, "
          f"{result['wall_seconds']:.1f} s wall, exit {result['returncode']}")
  if result.get("compile_seconds") is not None:
    text = (f"compile {result['compile_seconds']:.2f} s, run "
            f"{_num(result['run_seconds'], 2)} s, " + text)
  if result["timed_out"]:
    text += " (timed out)"
  return text


def _warn_if_failed(label: str, result: dict[str, Any],
                    problems: list[str]) -> None:
  if result["seconds_to_target"] is None or result["returncode"] != 0:
    why = ("timed out" if result["timed_out"] else
           f"exit {result['returncode']}" if result["returncode"] else
           "did not reach the target")
    problems.append(f"{label}: {why}")
    print(f"  !! {label}: {why}; last output:\n" + "".join(
        "     " + line + "\n" for line in result["log_tail"].splitlines()),
          flush=True)


# --------------------------------------------------------------------- main

def main() -> int:
  parser = argparse.ArgumentParser(
      description=__doc__.splitlines()[0],
      formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog="\n".join(__doc__.splitlines()[2:]))
  parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3],
                      help="DQN seeds (one old and one new run each)")
  parser.add_argument("--rounds", type=int, default=3,
                      help="PPO all-on-accelerator runs per tree")
  parser.add_argument("--skip-reverb", action="store_true",
                      help="skip DQN with --replay reverb (.venv)")
  parser.add_argument("--skip-device", action="store_true",
                      help="skip DQN with --replay device (.venv-core)")
  parser.add_argument("--skip-anakin", action="store_true",
                      help="skip PPO all on the accelerator (.venv-core)")
  parser.add_argument("--timeout", type=float, default=900.0,
                      help="seconds before a run is killed (counts as not "
                           "reaching the target)")
  parser.add_argument("--before", default=DEFAULT_BEFORE,
                      help="the old commit (default %(default)s)")
  args = parser.parse_args()

  measures = []
  if not args.skip_reverb:
    measures.append(("dqn_reverb", VENV_REVERB, "reverb"))
  if not args.skip_device:
    measures.append(("dqn_device", VENV_CORE, "device"))
  if not args.skip_anakin:
    measures.append(("anakin_ppo", VENV_CORE, None))
  if not measures:
    parser.error("every measure is skipped")
  for _, python, _ in measures:
    if not os.path.exists(python):
      parser.error(f"{python} is missing")

  started = datetime.datetime.now()
  report: dict[str, Any] = {
      "started": started.isoformat(timespec="seconds"),
      "args": vars(args),
      "new_tree": {"path": ROOT, "head": _git("rev-parse", "HEAD"),
                   "changed_files": len(_git("status", "--porcelain")
                                        .splitlines())},
      "host": {"platform": platform.platform(), "cpus": os.cpu_count(),
               "loadavg_start": os.getloadavg()},
      "tolerance": TOLERANCE, "target": TARGET, "measures": {},
  }
  problems: list[str] = []
  work = tempfile.mkdtemp(prefix="relay-regression-")
  try:
    before = prepare_before_tree(args.before)
    report["old_tree"] = {"path": BEFORE_DIR, "commit": before}
    trees = {"old": BEFORE_DIR, "new": ROOT}
    for python in sorted({python for _, python, _ in measures}):
      for which, tree in trees.items():
        check_and_warm(python, tree)
    print(f"old = {before[:10]} in {BEFORE_DIR}; new = working tree of "
          f"{ROOT} (HEAD {report['new_tree']['head'][:10]}, "
          f"{report['new_tree']['changed_files']} changed files); "
          f"run logs in {work}", flush=True)

    for name, python, replay in measures:
      if replay is not None:
        pairs = []
        for seed in args.seeds:
          pair: dict[str, Any] = {"seed": seed}
          for which in ("old", "new"):
            result = dqn_run(which, trees[which], python, replay, seed, work,
                             args.timeout)
            pair[which] = result
            print(f"[{name}] seed {seed} {which}: {_describe(result)}",
                  flush=True)
            _warn_if_failed(f"{name} seed {seed} {which}", result, problems)
          pairs.append(pair)
        for pair in pairs:
          for which in ("old", "new"):
            pair[which]["seconds_per_1k_steps"] = _per_1k_steps(pair[which])
        per_step = summarize(pairs, "seconds_per_1k_steps")
        per_step["informational"] = True  # not part of the pass/fail
        report["measures"][name] = {
            "pairs": pairs,
            "seconds_to_target": summarize(pairs, "seconds_to_target"),
            "seconds_per_1k_steps": per_step}
      else:
        pairs = []
        for round_ in range(1, args.rounds + 1):
          pair = {"round": round_}
          for which in ("old", "new"):
            result = anakin_run(which, trees[which], python, round_, work,
                                args.timeout)
            pair[which] = result
            print(f"[{name}] round {round_} {which}: {_describe(result)}",
                  flush=True)
            _warn_if_failed(f"{name} round {round_} {which}", result,
                            problems)
          pairs.append(pair)
        report["measures"][name] = {
            "pairs": pairs,
            **{key: summarize(pairs, key) for key in
               ("compile_seconds", "run_seconds", "seconds_to_target")}}
  finally:
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(BEFORE_DIR, ignore_errors=True)

  titles = {
      "dqn_reverb": "DQN single process, CartPole-v1, --replay reverb (.venv)",
      "dqn_device": "DQN single process, CartPole-v1, --replay device "
                    "(.venv-core)",
  }
  for name, measure in report["measures"].items():
    if name in titles:
      print_dqn_table(titles[name], measure["pairs"],
                      measure["seconds_to_target"])
    else:
      print_anakin_table(measure["pairs"], measure)

  verdicts = []
  for name, measure in report["measures"].items():
    for key, value in measure.items():
      if key != "pairs" and not value.get("informational"):
        verdicts.append((f"{name}.{key}", value))
  print("\nnew/old ratio of medians (< 1 is faster; pass = within 5% or "
        "better):")
  for label, s in verdicts:
    print(f"  {label:32s} {_num(s['ratio'], 3):>6}  {s['verdict']}")
  report["all_ok"] = all(s["ok"] for _, s in verdicts) and not problems
  report["problems"] = problems
  report["host"]["loadavg_end"] = os.getloadavg()
  report["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
  if problems:
    print("runs that failed or did not reach 475:\n  " + "\n  ".join(problems))
  print("overall: " + ("PASS" if report["all_ok"] else "CHECK (see above)"))

  out = timing.write_results(
      f"regression-{started.strftime('%Y%m%d-%H%M%S')}", report, indent=2,
      default=str)
  print(f"wrote {out}")
  return 0 if report["all_ok"] else 1


if __name__ == "__main__":
  sys.exit(main())
