"""Interquartile means and stratified-bootstrap confidence intervals of
final scores and learning curves, the protocol of Agarwal et al., 2021,
"Deep Reinforcement Learning at the Edge of the Statistical Precipice"
(NeurIPS), computed with their library, rliable.

Scores are arrays shaped [runs, tasks] (final scores) or [runs, tasks,
steps] (a learning curve: the score of every run at every grid step), as in
rliable. A "run" is one seed; Relay compares one task (environment) at a
time, so `tasks` is 1 for the comparison tool, but every function here takes
any number.

Interquartile mean (IQM): the mean of the middle half of all N = runs x
tasks scores, x_(1) <= ... <= x_(N) sorted,

    IQM = 1 / (N - 2k) * sum_{i = k + 1}^{N - k} x_(i),   k = floor(N / 4)

(scipy.stats.trim_mean with proportiontocut 0.25, which is what
rliable.metrics.aggregate_iqm computes). Robust to outlier runs like the
median, yet it averages half of the runs, so its interval is much narrower
than the median's.

Stratified bootstrap: each of `reps` replicates draws `runs` runs with
replacement within each task (independently per task and per grid step,
as rliable's StratifiedBootstrap does) and recomputes the statistic; the
interval is the percentile interval of the replicates, [q_(a/2), q_(1-a/2)]
for a confidence 1 - a (rliable's default, 95%).

rliable (the `compare` extra) is imported when first used: rliable.metrics
needs only numpy and scipy; rliable.library (the bootstrap, which brings
arch, statsmodels and pandas) only when an interval is computed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import types
from typing import Callable, Iterator

import numpy as np
import scipy.stats

from building_blocks import optional_deps

DEFAULT_REPS = 50_000        # rliable's default number of replicates
DEFAULT_CONFIDENCE = 0.95    # rliable's default coverage
IQM_CUT = 0.25               # the fraction trimmed at each end

INSTALL_HINT = (
    "The comparison tool computes its confidence intervals with rliable "
    "(Agarwal et al., 2021). Install Relay's `compare` extra with the "
    "constraints file of your Python:\n"
    "  .venv-core/bin/pip install -c constraints-core.txt -e '.[compare]'\n"
    "  .venv/bin/pip install -c constraints-reverb.txt -e '.[compare]'")


@dataclasses.dataclass(frozen=True)
class Interval:
  """A point estimate and its confidence interval: `point` has the shape of
  the statistic (a scalar, or [steps] for a curve), `low` and `high` too."""
  point: np.ndarray
  low: np.ndarray
  high: np.ndarray


def _check_scores(scores: np.ndarray, ndim: int, what: str) -> np.ndarray:
  scores = np.asarray(scores, dtype=np.float64)
  if scores.ndim != ndim:
    raise ValueError(f"{what} must have {ndim} axes, got shape {scores.shape}.")
  if scores.size == 0 or scores.shape[0] == 0:
    raise ValueError(f"{what} has no runs (shape {scores.shape}).")
  if not np.all(np.isfinite(scores)):
    raise ValueError(f"{what} has NaN or infinite scores; the IQM and its "
                     "interval need a finite score for every run.")
  return scores


def iqm(scores: np.ndarray) -> float:
  """The interquartile mean of a [runs, tasks] score matrix (all runs and
  tasks pooled), by rliable.metrics.aggregate_iqm."""
  scores = _check_scores(scores, 2, "scores")
  return float(_rliable_metrics().aggregate_iqm(scores))


def iqm_per_step(scores: np.ndarray) -> np.ndarray:
  """The IQM at each step of [runs, tasks, steps] scores: [steps], equal to
  [rliable.metrics.aggregate_iqm(scores[..., t]) for t in steps].

  Written as one trim_mean over the pooled runs x tasks axis (the same
  formula) rather than rliable's per-step loop: the bootstrap calls it once
  per replicate, and a Python loop over a hundred steps in each of 50,000
  replicates is about a hundred times slower."""
  scores = np.asarray(scores, dtype=np.float64)
  if scores.ndim != 3:
    raise ValueError(f"curve scores must have 3 axes [runs, tasks, steps], "
                     f"got shape {scores.shape}.")
  pooled = scores.reshape(-1, scores.shape[-1])
  return np.asarray(scipy.stats.trim_mean(pooled, IQM_CUT, axis=0))


def final_iqm_interval(scores: np.ndarray, reps: int = DEFAULT_REPS,
                       confidence: float = DEFAULT_CONFIDENCE,
                       seed: int = 0) -> Interval:
  """IQM of [runs, tasks] final scores with its stratified-bootstrap
  percentile interval: rliable.library.get_interval_estimates with
  rliable.metrics.aggregate_iqm, the replicates drawn from `seed`."""
  scores = _check_scores(scores, 2, "final scores")
  metrics = _rliable_metrics()
  point, low, high = bootstrap_interval(
      scores, lambda s: np.array([metrics.aggregate_iqm(s)]), reps,
      confidence, seed)
  return Interval(point[0], low[0], high[0])


def curve_iqm_interval(scores: np.ndarray, reps: int = DEFAULT_REPS,
                       confidence: float = DEFAULT_CONFIDENCE,
                       seed: int = 0) -> Interval:
  """IQM at every step of [runs, tasks, steps] scores with pointwise
  stratified-bootstrap percentile intervals (rliable's sample-efficiency
  curves): each of `point`, `low`, `high` is [steps]."""
  scores = _check_scores(scores, 3, "curve scores")
  point, low, high = bootstrap_interval(scores, iqm_per_step, reps,
                                        confidence, seed)
  return Interval(point, low, high)


def bootstrap_interval(scores: np.ndarray,
                       statistic: Callable[[np.ndarray], np.ndarray],
                       reps: int, confidence: float, seed: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(point, low, high) of `statistic` (scores -> 1-D array) by
  rliable.library.get_interval_estimates (stratified bootstrap, percentile
  method), with its replicates drawn from `seed`."""
  if not (isinstance(reps, (int, np.integer)) and reps >= 1):
    raise ValueError(f"reps must be an integer >= 1, got {reps!r}.")
  if not 0.0 < confidence < 1.0:
    raise ValueError(f"confidence must be in (0, 1), got {confidence!r}.")
  library = rliable_library()
  with seeded_global_numpy_rng(seed):
    points, intervals = library.get_interval_estimates(
        {"scores": scores}, statistic, reps=int(reps),
        confidence_interval_size=confidence)
  point = np.asarray(points["scores"], dtype=np.float64)
  interval = np.asarray(intervals["scores"], dtype=np.float64)
  return point, interval[0], interval[1]


@contextlib.contextmanager
def seeded_global_numpy_rng(seed: int) -> Iterator[None]:
  """Seeds numpy's global RNG for the block and restores its state after.

  Why: rliable 1.2.0's StratifiedBootstrap draws its resampling indices with
  np.random.choice (the global RNG) and ignores the random_state argument,
  so seeding the global RNG is the only way to make its intervals
  reproducible. The caller's global RNG state is put back afterwards, so its
  own draws are unaffected (not thread-safe: the bootstrap owns the global
  RNG while it runs)."""
  saved = np.random.get_state()
  np.random.seed(seed)
  try:
    yield
  finally:
    np.random.set_state(saved)


def _rliable_metrics() -> types.ModuleType:
  """rliable.metrics (numpy and scipy only)."""
  return _import("rliable.metrics")


def rliable_library() -> types.ModuleType:
  """rliable.library (the bootstrap; it imports arch, which imports pandas),
  or MissingDependencyError saying how to install it."""
  return _import("rliable.library")


def _import(name: str) -> types.ModuleType:
  try:
    return importlib.import_module(name)
  except Exception as e:  # pylint: disable=broad-except
    # Not only ImportError: a dependency that installs but does not import
    # (e.g. an arch release calling a pandas API that changed) raises
    # whatever it raises, and the user needs the same advice.
    raise optional_deps.MissingDependencyError(
        f"{INSTALL_HINT}\n(cause: importing {name} failed: "
        f"{type(e).__name__}: {e})") from e
