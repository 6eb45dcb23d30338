"""The learning-curve plot written at the end of a run."""
from __future__ import annotations

import csv
import os

import numpy as np


def _read_columns(path: str, x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
  if not os.path.exists(path):
    return np.zeros(0), np.zeros(0)
  xs, ys = [], []
  with open(path, newline="") as f:
    for row in csv.DictReader(f):
      if row.get(x) not in (None, "") and row.get(y) not in (None, ""):
        xs.append(float(row[x]))
        ys.append(float(row[y]))
  return np.asarray(xs), np.asarray(ys)


def plot_learning_curve(train_csv: str, eval_csv: str, out_png: str,
                        title: str, window: int = 10) -> str:
  """Episode returns (raw and `window`-episode mean) and evaluation returns
  against environment steps, saved as a PNG."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  steps, returns = _read_columns(train_csv, "actor_steps", "episode_return")
  eval_steps, eval_returns = _read_columns(eval_csv, "actor_steps",
                                           "eval_mean_return")
  fig, ax = plt.subplots(figsize=(7, 4))
  if len(returns):
    ax.plot(steps, returns, color="tab:blue", alpha=0.25, lw=0.8,
            label="episode return")
    kernel = np.ones(min(window, len(returns))) / min(window, len(returns))
    smooth = np.convolve(returns, kernel, mode="valid")
    ax.plot(steps[len(steps) - len(smooth):], smooth, color="tab:blue",
            label=f"{window}-episode mean")
  if len(eval_returns):
    ax.plot(eval_steps, eval_returns, "o-", color="tab:orange",
            label="evaluation mean")
  ax.set_xlabel("environment steps")
  ax.set_ylabel("return")
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend(loc="lower right")
  fig.tight_layout()
  fig.savefig(out_png, dpi=100)
  plt.close(fig)
  return out_png
