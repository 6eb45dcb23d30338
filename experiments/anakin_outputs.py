"""What an all-on-accelerator run writes: per-seed learning curves (CSV),
the aggregate plot (mean and spread over seeds) and the final table."""
from __future__ import annotations

import csv
import warnings
from typing import Sequence

import numpy as np


class CurveWriter:
  """Appends one row per seed per evaluation period to learning_curves.csv
  (columns: seed, env_steps, mean_return_10, eval_return, then the agent's
  metrics), flushing each time so an interrupted run keeps its rows."""

  def __init__(self, path: str, metric_names: Sequence[str]):
    self.path = path
    self._metric_names = list(metric_names)
    self._file = open(path, "w", newline="")
    self._writer = csv.writer(self._file)
    self._writer.writerow(["seed", "env_steps", "mean_return_10",
                           "eval_return"] + self._metric_names)
    self._file.flush()

  def write(self, env_steps: np.ndarray, mean_return: np.ndarray,
            eval_return: np.ndarray, metrics: dict[str, np.ndarray]) -> None:
    """All arguments are [num_seeds] arrays for one evaluation period."""
    for seed in range(len(env_steps)):
      row = [seed, int(env_steps[seed]), _fmt(mean_return[seed]),
             _fmt(eval_return[seed])]
      row += [_fmt(metrics[name][seed]) for name in self._metric_names]
      self._writer.writerow(row)
    self._file.flush()

  def close(self) -> None:
    self._file.close()


def _fmt(value: float) -> str:
  value = float(value)
  return "" if np.isnan(value) else f"{value:.6g}"


def read_curves(path: str) -> dict[str, np.ndarray]:
  """learning_curves.csv as arrays [num_seeds, num_periods] (NaN for blanks)."""
  with open(path, newline="") as f:
    rows = list(csv.DictReader(f))
  if not rows:
    return {}
  seeds = sorted({int(r["seed"]) for r in rows})
  columns: dict[str, list[list[float]]] = {k: [[] for _ in seeds]
                                           for k in rows[0] if k != "seed"}
  for row in rows:
    for key in columns:
      value = row[key]
      columns[key][int(row["seed"])].append(float(value) if value else np.nan)
  length = min(len(c) for c in columns["env_steps"])
  return {k: np.asarray([c[:length] for c in v]) for k, v in columns.items()}


def plot_seeds(curves_csv: str, out_png: str, title: str,
               target: float | None = None) -> str:
  """Mean 10-episode return over seeds against env steps, with the
  standard deviation and the min-max range shaded, and the mean greedy
  evaluation return."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  curves = read_curves(curves_csv)
  fig, ax = plt.subplots(figsize=(7, 4))
  if curves:
    steps = curves["env_steps"][0]
    returns = curves["mean_return_10"]
    num_seeds = returns.shape[0]
    with warnings.catch_warnings():  # all-NaN columns: no episode ended yet
      warnings.simplefilter("ignore", RuntimeWarning)
      mean = np.nanmean(returns, axis=0)
      std = np.nanstd(returns, axis=0)
      low, high = np.nanmin(returns, axis=0), np.nanmax(returns, axis=0)
      eval_mean = np.nanmean(curves["eval_return"], axis=0)
    ax.fill_between(steps, low, high, color="tab:blue", alpha=0.12,
                    label="min-max over seeds")
    ax.fill_between(steps, mean - std, mean + std, color="tab:blue",
                    alpha=0.25, label="mean +- std")
    ax.plot(steps, mean, color="tab:blue",
            label=f"10-episode mean return ({num_seeds} seeds)")
    if np.isfinite(eval_mean).any():
      ax.plot(steps, eval_mean, "--", color="tab:orange",
              label="greedy evaluation (mean over seeds)")
  if target is not None:
    ax.axhline(target, color="gray", lw=0.8, ls=":")
  ax.set_xlabel("environment steps per seed")
  ax.set_ylabel("return")
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend(loc="lower right", fontsize=8)
  fig.tight_layout()
  fig.savefig(out_png, dpi=100)
  plt.close(fig)
  return out_png


def write_table(path: str, final_return: np.ndarray, eval_return: np.ndarray,
                steps_to_target: np.ndarray | None) -> str:
  """final_returns.csv; returns the same table as aligned text."""
  header = ["seed", "mean_return_10", "eval_return"]
  if steps_to_target is not None:
    header.append("steps_to_target")
  rows = []
  for seed in range(len(final_return)):
    row = [str(seed), _fmt(final_return[seed]) or "-",
           _fmt(eval_return[seed]) or "-"]
    if steps_to_target is not None:
      value = steps_to_target[seed]
      row.append("-" if value < 0 else str(int(value)))
    rows.append(row)
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)
  widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
  lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
  shown = rows if len(rows) <= 20 else rows[:10] + [["..."] * len(header)] + rows[-5:]
  lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in shown]
  with np.errstate(all="ignore"):
    finite = final_return[np.isfinite(final_return)]
  if len(finite):
    lines.append(f"mean {finite.mean():.1f}, min {finite.min():.1f}, "
                 f"max {finite.max():.1f} over {len(finite)} seeds")
  return "\n".join(lines)
