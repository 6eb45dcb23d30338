"""The learning-curve plot every runner writes at the end of a run.

Drawn on a `matplotlib.figure.Figure` directly (no pyplot), so it needs no
backend and never changes the process's matplotlib settings: a notebook
calling the Python API keeps its inline plots.
"""
from __future__ import annotations

import csv
import os
import warnings
from typing import Iterable

import numpy as np

WINDOW = 10


def read_rows(path: str) -> list[dict[str, str]]:
  """The rows of a CSV log as dicts; none when the file does not exist."""
  if not os.path.exists(path):
    return []
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def _by_seed(rows: Iterable[dict[str, str]], y: str
             ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
  """{seed: (env_steps, y)} from rows with a value for y."""
  out: dict[int, tuple[list[float], list[float]]] = {}
  for row in rows:
    if row.get(y) in (None, "") or row.get("env_steps") in (None, ""):
      continue
    xs, ys = out.setdefault(int(row.get("seed") or 0), ([], []))
    xs.append(float(row["env_steps"]))
    ys.append(float(row[y]))
  return {s: (np.asarray(x), np.asarray(v)) for s, (x, v) in out.items()}


def _spread(curves: dict[int, tuple[np.ndarray, np.ndarray]]):
  """Mean, std, min and max over seeds on the shortest common grid."""
  length = min(len(x) for x, _ in curves.values())
  steps = next(iter(curves.values()))[0][:length]
  values = np.stack([v[:length] for _, v in curves.values()])
  with warnings.catch_warnings():  # all-NaN columns: no episode ended yet
    warnings.simplefilter("ignore", RuntimeWarning)
    return (steps, np.nanmean(values, 0), np.nanstd(values, 0),
            np.nanmin(values, 0), np.nanmax(values, 0))


def plot_learning_curve(train_csv: str, eval_csv: str, out_png: str,
                        title: str, target: float | None = None) -> str:
  """Training return (each episode and the 10-episode mean for one seed;
  the mean over seeds with the standard deviation and the min-max range
  for several) and evaluation returns against environment steps."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top

  train_rows = read_rows(train_csv)
  episodes = _by_seed(train_rows, "episode_return")
  means = _by_seed(train_rows, "mean_return_10")
  evals = _by_seed(read_rows(eval_csv), "eval_mean_return")
  fig = Figure(figsize=(7, 4))
  ax = fig.subplots()
  if len(means) > 1:
    steps, mean, std, low, high = _spread(means)
    ax.fill_between(steps, low, high, color="tab:blue", alpha=0.12,
                    label="min-max over seeds")
    ax.fill_between(steps, mean - std, mean + std, color="tab:blue",
                    alpha=0.25, label="mean +- std")
    ax.plot(steps, mean, color="tab:blue",
            label=f"{WINDOW}-episode mean return ({len(means)} seeds)")
  else:
    for steps, returns in episodes.values():
      ax.plot(steps, returns, color="tab:blue", alpha=0.25, lw=0.8,
              label="episode return")
    for steps, mean in means.values():
      ax.plot(steps, mean, color="tab:blue", label=f"{WINDOW}-episode mean")
  if evals:
    steps, mean, _, _, _ = _spread(evals)
    label = ("evaluation mean" if len(evals) == 1 else
             "evaluation (mean over seeds)")
    ax.plot(steps, mean, "o-", color="tab:orange", ms=3, label=label)
  if target is not None:
    ax.axhline(target, color="gray", lw=0.8, ls=":")
  ax.set_xlabel("environment steps" + (" per seed" if len(means) > 1 else ""))
  ax.set_ylabel("return")
  ax.set_title(title)
  ax.grid(alpha=0.3)
  if ax.get_legend_handles_labels()[0]:
    ax.legend(loc="lower right", fontsize=8)
  fig.tight_layout()
  fig.savefig(out_png, dpi=100)
  return out_png
