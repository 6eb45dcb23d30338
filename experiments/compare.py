"""Compare runs: learning curves and final scores with interquartile means
and stratified-bootstrap confidence intervals (Agarwal et al., 2021, "Deep
Reinforcement Learning at the Edge of the Statistical Precipice").

  python -m experiments.compare runs/dqn-* runs/pqn-* --out figures/cartpole
  python -m experiments.compare RUN_DIR... --out FIG --group-by agent env runner

Reads run folders of any runner (single and distributed: one seed each;
anakin: one seed per `seed` value of logs/train.csv), groups their seeds by
agent, environment and a hash of the agent's config (or --group-by keys),
and writes FIG.png and FIG.svg (per environment: the IQM learning curve of
each group with its 95% interval shaded, and the final IQM with its
interval) and FIG.csv (the final-score table, also printed as Markdown).

Every run folder is read and every group checked before anything is
written; a problem raises a RelayError (the command prints it, exit code 2).
Only the command line (`main`) selects matplotlib's backend.
"""
from __future__ import annotations

import argparse
import collections
import csv
import dataclasses
import hashlib
import json
import math
import os
import sys
from typing import Any, Mapping, Sequence

import numpy as np

from building_blocks import errors
from building_blocks import optional_deps
from experiments import interval_estimates
from experiments import stopping

# The metric columns a curve can be drawn from, and the log holding each.
METRICS = {"mean_return_10": "train.csv", "eval_mean_return": "eval.csv"}
DEFAULT_METRIC = "mean_return_10"
DEFAULT_GROUP_BY = ("agent", "env", "config")
DEFAULT_POINTS = 100
DEFAULT_REPS = 10_000
DEFAULT_CURVE_REPS = 2_000
# Suffixes stripped from --out (the tool writes all three).
OUTPUT_SUFFIXES = (".png", ".svg", ".csv")
# run_folder.CONFIG_FILE, not imported: run_folder imports the agents (and
# JAX), which reading JSON and CSV files does not need.
CONFIG_FILE = "config.json"


@dataclasses.dataclass(frozen=True)
class SeedCurve:
  """One seed of one run folder: its config.json and its metric against
  env steps (finite values only, sorted by step)."""
  run_dir: str
  seed: int
  config: Mapping[str, Any]
  steps: np.ndarray
  values: np.ndarray

  @property
  def name(self) -> str:
    return f"{self.run_dir} (seed {self.seed})"


@dataclasses.dataclass
class GroupResult:
  """The seeds of one group, resampled onto a common step grid, with the
  IQM curve and the final-score statistics."""
  key: tuple[tuple[str, str], ...]
  label: str
  env: str
  curves: list[SeedCurve]
  grid: np.ndarray            # [steps]
  scores: np.ndarray          # [runs, 1, steps]
  curve: interval_estimates.Interval
  final: interval_estimates.Interval
  final_mean: float
  final_median: float

  @property
  def num_runs(self) -> int:
    return len(self.curves)

  @property
  def run_dirs(self) -> list[str]:
    return sorted({c.run_dir for c in self.curves})


@dataclasses.dataclass
class Comparison:
  """What `compare` computed: one GroupResult per group, in key order."""
  groups: list[GroupResult]
  group_by: tuple[str, ...]
  metric: str
  confidence: float
  reps: int
  curve_reps: int
  seed: int


# ----------------------------------------------------------------- reading


def load_run(run_dir: str, metric: str = DEFAULT_METRIC) -> list[SeedCurve]:
  """The seeds of one run folder. Raises RunDirectoryError for a folder
  that is not a run or has no finite value of `metric` for some seed."""
  if metric not in METRICS:
    raise errors.ConfigError(
        f"Unknown metric {metric!r}: choose {' or '.join(METRICS)}.")
  if not os.path.isdir(run_dir):
    raise errors.RunDirectoryError(
        f"{run_dir!r} is not a folder. Pass run folders that "
        "python -m experiments.train wrote (runs/<agent>-<env>-...).")
  config_path = os.path.join(run_dir, CONFIG_FILE)
  if not os.path.isfile(config_path):
    raise errors.RunDirectoryError(
        f"{run_dir!r} is not a Relay run folder (no config.json). Pass run "
        "folders that python -m experiments.train wrote "
        "(runs/<agent>-<env>-...), not the folder above them.")
  try:
    with open(config_path) as f:
      config = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise errors.RunDirectoryError(
        f"Cannot read {config_path}: {e}. Leave {run_dir!r} out of the "
        "comparison.") from e
  if not (isinstance(config, dict) and isinstance(config.get("agent"), str)
          and isinstance(config.get("env"), str)
          and isinstance(config.get(config["agent"]), dict)):
    raise errors.RunDirectoryError(
        f"{config_path} is not a Relay run config (it needs agent, env and "
        "the agent's config). Leave the folder out of the comparison.")
  log = os.path.join(run_dir, "logs", METRICS[metric])
  rows = _read_csv(log)
  if not rows:
    raise errors.RunDirectoryError(
        f"{run_dir!r} has no rows in logs/{METRICS[metric]} (the run stopped "
        "before logging any). Let it run longer or leave it out.")
  if metric not in rows[0] or "env_steps" not in rows[0]:
    raise errors.RunDirectoryError(
        f"logs/{METRICS[metric]} of {run_dir!r} has no {metric!r} or "
        f"'env_steps' column (columns: {', '.join(rows[0])}).")
  by_seed: dict[int, list[tuple[float, float]]] = {}
  # Without a seed column (the evaluation log of runner single or
  # distributed) the rows are those of the run's one seed.
  own_seed = _number(str(config.get("seed", 0)))
  for row in rows:
    seed = _number(row.get("seed"))
    seed = seed if math.isfinite(seed) else own_seed
    # Listed even when none of its values is finite (an error below).
    points = by_seed.setdefault(int(seed) if math.isfinite(seed) else 0, [])
    step, value = _number(row.get("env_steps")), _number(row.get(metric))
    if math.isfinite(step) and math.isfinite(value):
      points.append((step, value))
  curves = []
  for seed, points in sorted(by_seed.items()):
    if not points:
      raise errors.RunDirectoryError(
          f"Seed {seed} of {run_dir!r} has no finite {metric} yet (no "
          "episode ended before its last log row). Let the run go longer or "
          "leave it out.")
    points.sort(key=lambda p: p[0])  # stable: rows of one step keep order
    steps, values = (np.asarray(a, dtype=np.float64) for a in zip(*points))
    curves.append(SeedCurve(run_dir, seed, config, steps, values))
  return curves


def _read_csv(path: str) -> list[dict[str, str]]:
  if not os.path.isfile(path):
    return []
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def _number(text: str | None) -> float:
  try:
    return float(text) if text not in (None, "") else math.nan
  except ValueError:
    return math.nan


def load_runs(run_dirs: Sequence[str],
              metric: str = DEFAULT_METRIC) -> list[SeedCurve]:
  """The seeds of every folder; a folder named twice is read once."""
  if not run_dirs:
    raise errors.ConfigError(
        "No run folders given. Pass the run folders to compare, e.g. "
        "python -m experiments.compare runs/dqn-CartPole-v1-* --out cmp.")
  seen: set[str] = set()
  curves: list[SeedCurve] = []
  for run_dir in run_dirs:
    real = os.path.realpath(run_dir)
    if real in seen:
      continue
    seen.add(real)
    curves.extend(load_run(os.path.normpath(run_dir), metric))
  return curves


# ---------------------------------------------------------------- grouping


def config_hash(config: Mapping[str, Any]) -> str:
  """8 hex digits naming the agent's config (the `<agent>` field of
  config.json): the learning settings. Run bookkeeping (seed, run_dir,
  num_seeds, num_steps, runner, ...) lives outside it, so an anakin folder
  of 8 seeds and single-process runs of the same agent config agree."""
  agent_config = config[config["agent"]]
  text = json.dumps(agent_config, sort_keys=True, separators=(",", ":"))
  return hashlib.sha256(text.encode()).hexdigest()[:8]


def key_value(config: Mapping[str, Any], key: str) -> str | None:
  """The value of a grouping key in one run's config, as text: `config`
  (config_hash), a run setting (agent, env, runner, num_envs, ...), a field
  of this run's agent config (learning_rate) or `<agent>.<field>`; None
  when the run has no such field."""
  if key == "config":
    return config_hash(config)
  agent = config["agent"]
  if key in config and not isinstance(config[key], dict):
    return _text(config[key])
  if "." in key:
    owner, field = key.split(".", 1)
    sub = config.get(owner)
    if isinstance(sub, dict) and field in sub:
      return _text(sub[field])
    return None
  if key in config[agent]:
    return _text(config[agent][key])
  return None


def _text(value: Any) -> str:
  return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def group_curves(curves: Sequence[SeedCurve],
                 group_by: Sequence[str] = DEFAULT_GROUP_BY
                 ) -> dict[tuple[tuple[str, str], ...], list[SeedCurve]]:
  """{key: seeds}, the key a tuple of (name, value) in `group_by` order,
  sorted. Raises ConfigError for an unknown key, and for a group holding
  runs on different environments (their scores are on different scales)."""
  group_by = tuple(group_by)
  if not group_by:
    raise errors.ConfigError(
        "--group-by needs at least one key (default: "
        f"{' '.join(DEFAULT_GROUP_BY)}).")
  for key in group_by:
    if all(key_value(c.config, key) is None for c in curves):
      raise errors.ConfigError(
          f"Unknown grouping key {key!r}: no run has it. Use agent, env, "
          "runner, config (the hash of the agent's config), another run "
          "setting from config.json (num_envs, rollout_length, ...) or a "
          "field of the agent's config (learning_rate, or dqn.learning_rate "
          "for one agent's).")
  groups: dict[tuple[tuple[str, str], ...], list[SeedCurve]] = {}
  for c in curves:
    key = tuple((k, key_value(c.config, k) or "-") for k in group_by)
    groups.setdefault(key, []).append(c)
  for key, members in groups.items():
    envs = collections.Counter(c.config["env"] for c in members)
    if len(envs) > 1:
      counts = ", ".join(f"{env}: {n} seed{'s' * (n > 1)}"
                         for env, n in sorted(envs.items()))
      raise errors.ConfigError(
          f"The group {_describe(key)} holds runs on different environments "
          f"({counts}), and returns on different environments cannot be "
          "aggregated into one score. Group by environment too (add env to "
          f"--group-by, e.g. --group-by {' '.join(group_by)} env), or "
          "compare each environment in a separate call.")
  return dict(sorted(groups.items()))


def _describe(key: tuple[tuple[str, str], ...]) -> str:
  return "(" + ", ".join(f"{k}={v}" for k, v in key) + ")"


def group_labels(groups: Mapping[tuple[tuple[str, str], ...],
                                 Sequence[SeedCurve]]) -> dict[Any, str]:
  """A legend label per group: its key values except env (each
  environment has its own panel); a config hash is followed by the agent
  config fields that tell it apart from the other groups of that agent."""
  labels = {}
  for key, members in groups.items():
    parts = []
    for name, value in key:
      if name == "env":
        continue
      if name == "config":
        diff = _config_differences(groups, members[0].config)
        value = f"config {value}" + (f" ({diff})" if diff else "")
      elif name != "agent":
        value = f"{name}={value}"
      parts.append(value)
    labels[key] = ", ".join(parts) or "all runs"
  return labels


def _config_differences(groups: Mapping[Any, Sequence[SeedCurve]],
                        config: Mapping[str, Any], limit: int = 3) -> str:
  """`field=value` for the agent-config fields whose values differ between
  the groups of this agent on this environment (at most `limit`)."""
  agent, env = config["agent"], config["env"]
  others = [m[0].config[agent] for m in groups.values()
            if (m[0].config["agent"], m[0].config["env"]) == (agent, env)]
  fields = sorted({f for o in others for f in o
                   if any(p.get(f) != o.get(f) for p in others)})
  shown = [f"{f}={_text(config[agent].get(f))}" for f in fields[:limit]]
  if len(fields) > limit:
    shown.append("...")
  return ", ".join(shown)


# ------------------------------------------------------------------- maths


def common_grid(curves: Sequence[SeedCurve], points: int,
                group: str = "") -> np.ndarray:
  """`points` env steps, evenly spaced over the range every seed logged
  (from the latest first value to the earliest last one): no seed's curve
  is extrapolated. Raises ConfigError when the ranges do not overlap."""
  start = max(float(c.steps[0]) for c in curves)
  end = min(float(c.steps[-1]) for c in curves)
  if start > end:
    spans = "; ".join(f"{c.name}: {c.steps[0]:.0f}..{c.steps[-1]:.0f}"
                      for c in curves)
    raise errors.ConfigError(
        f"The runs of the group {group or '(all runs)'} logged no env step in "
        f"common, so no curve point has a score for all of them ({spans}). "
        "Leave out the runs that stopped early, or group them apart "
        "(--group-by, e.g. with runner or num_steps).")
  return np.linspace(start, end, points) if end > start else np.array([end])


def resample(curve: SeedCurve, grid: np.ndarray) -> np.ndarray:
  """The seed's metric at each grid step: the last value logged at or
  before it. A 10-episode mean is what the run knew from the step its last
  episode ended until the next one ended; interpolating between log rows
  would invent values no run reported."""
  index = np.searchsorted(curve.steps, grid, side="right") - 1
  if np.any(index < 0):
    raise ValueError(f"grid starts before {curve.name} logged a value")
  return curve.values[index]


def compare(run_dirs: Sequence[str],
            group_by: Sequence[str] = DEFAULT_GROUP_BY,
            metric: str = DEFAULT_METRIC, points: int = DEFAULT_POINTS,
            reps: int = DEFAULT_REPS, curve_reps: int = DEFAULT_CURVE_REPS,
            confidence: float = interval_estimates.DEFAULT_CONFIDENCE,
            seed: int = 0) -> Comparison:
  """Reads, groups and scores the runs; writes nothing.

  Per group: every seed's metric resampled onto the common grid, the IQM
  over seeds at every grid step with its pointwise stratified-bootstrap
  interval (`curve_reps` replicates), and at the last grid step (the final
  scores) the IQM with its interval (`reps` replicates), mean and median.
  Each bootstrap draws from `seed`, so the same call gives the same
  numbers."""
  if not (isinstance(points, int) and points >= 1):
    raise errors.ConfigError(
        f"--points must be an integer >= 1, got {points!r}.")
  for name, value in (("reps", reps), ("curve-reps", curve_reps)):
    if not (isinstance(value, int) and value >= 1):
      raise errors.ConfigError(
          f"--{name} must be an integer >= 1, got {value!r}.")
  if not 0.0 < confidence < 1.0:
    raise errors.ConfigError(
        f"--confidence must be in (0, 1), e.g. 0.95; got {confidence!r}.")
  curves = load_runs(run_dirs, metric)
  groups = group_curves(curves, group_by)
  grids = {key: common_grid(members, points, _describe(key))
           for key, members in groups.items()}
  labels = group_labels(groups)
  results = []
  for key, members in groups.items():
    grid = grids[key]
    scores = np.stack([resample(c, grid) for c in members])[:, None, :]
    final = scores[:, :, -1]
    results.append(GroupResult(
        key=key, label=labels[key], env=members[0].config["env"],
        curves=list(members), grid=grid, scores=scores,
        curve=interval_estimates.curve_iqm_interval(
            scores, curve_reps, confidence, seed),
        final=interval_estimates.final_iqm_interval(
            final, reps, confidence, seed),
        final_mean=float(np.mean(final)),
        final_median=float(np.median(final))))
  return Comparison(results, tuple(group_by), metric, confidence, reps,
                    curve_reps, seed)


# ----------------------------------------------------------------- writing


def output_stem(out: str) -> str:
  """--out without a .png, .svg or .csv suffix (any other is kept)."""
  root, ext = os.path.splitext(out)
  return root if ext.lower() in OUTPUT_SUFFIXES else out


def table_rows(comparison: Comparison) -> list[dict[str, Any]]:
  """The final-score table, one row per group."""
  rows = []
  for g in comparison.groups:
    rows.append({**dict(g.key), "label": g.label, "runs": g.num_runs,
                 "env_steps": int(round(float(g.grid[-1]))),
                 "iqm": float(g.final.point), "ci_low": float(g.final.low),
                 "ci_high": float(g.final.high), "mean": g.final_mean,
                 "median": g.final_median,
                 "folders": ";".join(g.run_dirs)})
  return rows


def markdown_table(comparison: Comparison) -> str:
  """The final-score table as Markdown."""
  keys = list(comparison.group_by)
  percent = f"{comparison.confidence:.0%}"
  header = keys + ["runs", "at env step", "IQM", f"{percent} CI", "mean",
                   "median"]
  lines = ["| " + " | ".join(header) + " |",
           "| " + " | ".join("---" for _ in header) + " |"]
  for row in table_rows(comparison):
    cells = [str(row[k]) for k in keys] + [
        str(row["runs"]), f"{row['env_steps']:,}", f"{row['iqm']:.2f}",
        f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]", f"{row['mean']:.2f}",
        f"{row['median']:.2f}"]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def write_table(comparison: Comparison, path: str) -> str:
  """Writes the final-score table (`table_rows`) as CSV to `path`; returns
  `path`."""
  rows = table_rows(comparison)
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  return path


def draw(comparison: Comparison) -> Any:
  """The figure: one row per environment, the IQM curves with their
  intervals shaded on the left and the final IQM with its interval on the
  right. A matplotlib Figure built without pyplot (no backend needed)."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  envs = sorted({g.env for g in comparison.groups})
  colors = {g.key: f"C{i % 10}" for i, g in enumerate(comparison.groups)}
  fig = Figure(figsize=(11, 3.6 * len(envs)))
  axes = fig.subplots(len(envs), 2, squeeze=False,
                      gridspec_kw={"width_ratios": [2.2, 1]})
  percent = f"{comparison.confidence:.0%}"
  for row, env in enumerate(envs):
    curve_ax, final_ax = axes[row]
    groups = [g for g in comparison.groups if g.env == env]
    for g in groups:
      curve_ax.plot(g.grid, g.curve.point, color=colors[g.key],
                    label=f"{g.label} ({g.num_runs} run"
                          f"{'s' * (g.num_runs > 1)})")
      curve_ax.fill_between(g.grid, g.curve.low, g.curve.high,
                            color=colors[g.key], alpha=0.2, lw=0)
    curve_ax.set_title(env)
    curve_ax.set_xlabel("environment steps (per run)")
    curve_ax.set_ylabel(f"IQM of {comparison.metric}")
    curve_ax.grid(alpha=0.3)
    curve_ax.legend(loc="best", fontsize=8)
    for y, g in enumerate(groups):
      # Drawn as a segment and a dot, not errorbar: a percentile interval
      # need not contain its point estimate, and errorbar refuses that.
      final_ax.hlines(y, float(g.final.low), float(g.final.high),
                      color=colors[g.key], lw=6, alpha=0.35)
      final_ax.plot([float(g.final.point)], [y], "o", color=colors[g.key])
    final_ax.set_ylim(-0.6, len(groups) - 0.4)
    final_ax.margins(x=0.15)
    final_ax.set_yticks(range(len(groups)))
    final_ax.set_yticklabels([g.label for g in groups], fontsize=8)
    final_ax.invert_yaxis()
    final_ax.set_title(f"final IQM, {percent} CI", fontsize=10)
    final_ax.set_xlabel(comparison.metric)
    final_ax.grid(alpha=0.3, axis="x")
  fig.suptitle("IQM over runs with stratified-bootstrap "
               f"{percent} intervals (Agarwal et al., 2021)", fontsize=10)
  fig.tight_layout()
  return fig


def write(comparison: Comparison, out: str) -> list[str]:
  """Writes <stem>.png, <stem>.svg and <stem>.csv (stem: `out` without a
  .png/.svg/.csv suffix), making the folder if needed; returns the paths."""
  stem = output_stem(out)
  folder = os.path.dirname(stem)
  if folder:
    os.makedirs(folder, exist_ok=True)
  fig = draw(comparison)
  paths = []
  for ext in (".png", ".svg"):
    fig.savefig(stem + ext, dpi=120)
    paths.append(stem + ext)
  paths.append(write_table(comparison, stem + ".csv"))
  return paths


# ------------------------------------------------------------ command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
  """The command line of `python -m experiments.compare` (see --help)."""
  parser = argparse.ArgumentParser(
      prog="python -m experiments.compare",
      formatter_class=argparse.RawDescriptionHelpFormatter,
      description=(
          "Compare runs: learning curves and final scores with interquartile\n"
          "means (IQM) and stratified-bootstrap confidence intervals, the\n"
          "protocol of Agarwal et al., 2021, \"Deep Reinforcement Learning at\n"
          "the Edge of the Statistical Precipice\" (computed with rliable)."),
      epilog=(
          "Output: FIG.png and FIG.svg (the figure) and FIG.csv (the final-\n"
          "score table, also printed as Markdown). A .png, .svg or .csv\n"
          "suffix on FIG is dropped (--out cmp.png writes cmp.png, cmp.svg\n"
          "and cmp.csv); any other suffix stays part of the name.\n\n"
          "Curves: each run's (anakin: each seed's) metric is read, at each\n"
          "of --points env steps spread over the range every run of the\n"
          "group logged, as the last value logged at or before that step;\n"
          "the final scores are those at the last of these steps.\n\n"
          "Needs the `compare` extra (rliable): pip install -e '.[compare]'\n"
          "with your constraints file."))
  parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR",
                      help="run folders written by experiments.train (any "
                           "runner; an anakin folder counts each seed)")
  parser.add_argument("--out", required=True, metavar="FIG",
                      help="output path without extension (see below)")
  parser.add_argument("--group-by", nargs="+", default=list(DEFAULT_GROUP_BY),
                      metavar="KEY",
                      help="keys to group runs by (default: agent env "
                           "config, config being a hash of the agent's "
                           "config); any of agent, env, runner, config, "
                           "another run setting (num_envs, replay, ...) or "
                           "an agent config field (learning_rate or "
                           "dqn.learning_rate). Runs on different "
                           "environments must not share a group.")
  parser.add_argument("--metric", choices=sorted(METRICS),
                      default=DEFAULT_METRIC,
                      help="mean_return_10 (logs/train.csv, the 10-episode "
                           "mean training return; default) or "
                           "eval_mean_return (logs/eval.csv)")
  parser.add_argument("--points", type=int, default=DEFAULT_POINTS,
                      help="grid steps per curve (default %(default)s)")
  parser.add_argument("--reps", type=int, default=DEFAULT_REPS,
                      help="bootstrap replicates for the final scores "
                           "(default %(default)s)")
  parser.add_argument("--curve-reps", type=int, default=DEFAULT_CURVE_REPS,
                      help="bootstrap replicates per curve (default "
                           "%(default)s)")
  parser.add_argument("--confidence", type=float,
                      default=interval_estimates.DEFAULT_CONFIDENCE,
                      help="interval coverage (default %(default)s)")
  parser.add_argument("--seed", type=int, default=0,
                      help="seed of the bootstrap draws (default %(default)s)")
  return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
  """`python -m experiments.compare`: writes the figures and the table;
  returns the exit code (2 on bad input, with the reason on stderr)."""
  args = parse_args(argv)
  try:
    comparison = compare(args.run_dirs, args.group_by, args.metric,
                         args.points, args.reps, args.curve_reps,
                         args.confidence, args.seed)
  except (errors.RelayError, optional_deps.MissingDependencyError) as e:
    print(f"error: {e}", file=sys.stderr)
    return stopping.EXIT_BAD_INPUT
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")  # the command line only: library calls leave it
  paths = write(comparison, args.out)
  print(markdown_table(comparison))
  print(f"\nFinal scores at the last env step every run of the group "
        f"reached; IQM intervals from {args.reps:,} stratified-bootstrap "
        f"replicates (curves: {args.curve_reps:,}).")
  print("Wrote " + ", ".join(paths))
  return stopping.EXIT_OK


if __name__ == "__main__":
  sys.exit(main())
