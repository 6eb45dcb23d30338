"""The coordinator: the one place every process of a distributed run asks
how far the run is.

It holds the shared step counter and hands out the step budget in grants
(an actor asks for a chunk of environment steps before taking them, so the
run stops at `--num-steps` exactly, whatever the number of actors), the
stop flag, the latest parameter version (an object-store reference: one
`ray.put` per version, made by the learner), and the rows the launcher logs
(finished episodes, learner metrics, evaluations).

Written by hand (a small class): Ray gives the process and the calls; the
counting rules are the runner's.
"""
from __future__ import annotations

import collections
import time
from typing import Any


class Coordinator:
  """Shared counters of one distributed run (a Ray actor)."""

  def __init__(self, num_steps: int, num_envs: int, start_steps: int = 0,
               start_episodes: int = 0, start_learner_steps: int = 0):
    self.num_steps = num_steps
    self.num_envs = num_envs
    self.env_steps = start_steps        # steps reported as taken
    self.granted = start_steps          # steps handed out (taken or not)
    self.episodes = start_episodes
    self.learner_steps = start_learner_steps
    self.stop_requested = False
    # Parameter versions are numbered by publication, so that a restarted
    # learner's (from an older checkpoint) still count as newer.
    self.params_version = -1
    self.params_learner_step = -1       # the learner step of that version
    self.params_ref: list[Any] = []     # [ObjectRef]: a list keeps Ray from resolving it
    self.metrics: dict[str, float] = {}
    self.learner_stats: dict[str, float] = {}
    self.new_episodes: list[dict[str, Any]] = []
    self.actor_stats: dict[int, dict[str, float]] = {}
    self.param_lags: collections.deque[int] = collections.deque(maxlen=100)
    self.outstanding: dict[int, int] = {}  # actor -> steps granted, not reported
    self.start_time = time.time()

  # --- actors ----------------------------------------------------------
  def report_and_reserve(self, actor_id: int, steps_done: int,
                         episodes: list[tuple[int, float, int]],
                         params_version: int, want: int,
                         stats: dict[str, float] | None = None
                         ) -> tuple[int, int]:
    """Records what an actor did since its last call and grants its next
    chunk of steps.

    Args:
      actor_id: which actor (for per-actor throughput).
      steps_done: environment steps it took since its last call (all of
        its previous grant, or less when it stopped early).
      episodes: (step offset within those steps, return, length) of each
        episode that ended in them.
      params_version: the learner step of the parameters it acted with.
      want: steps it asks for next (a multiple of num_envs).
      stats: its own throughput figures, shown in the progress display.

    Returns:
      (grant, env_steps): the steps it may take now (a multiple of
      num_envs; 0 when the budget is spent or the run is stopping: then it
      ends its loop) and the run's step count (for schedules).
    """
    base = self.env_steps
    for offset, episode_return, length in episodes:
      self.episodes += 1
      self.new_episodes.append({
          "env_steps": base + offset, "episodes": self.episodes,
          "learner_steps": self.learner_steps, "actor": actor_id,
          "episode_return": float(episode_return),
          "episode_length": int(length)})
    self.env_steps += steps_done
    self.outstanding[actor_id] = max(
        0, self.outstanding.get(actor_id, 0) - steps_done)
    if stats:
      self.actor_stats[actor_id] = dict(stats)
    if params_version >= 0 and self.params_learner_step >= 0:
      self.param_lags.append(self.params_learner_step - params_version)
    if self.stop_requested:
      return 0, self.env_steps
    remaining = self.num_steps - self.granted
    grant = max(0, min(want, remaining))
    grant -= grant % self.num_envs  # the launcher makes num_steps a multiple
    self.granted += grant
    self.outstanding[actor_id] = self.outstanding.get(actor_id, 0) + grant
    return grant, self.env_steps

  def actor_lost(self, actor_id: int) -> int:
    """An actor died: the steps granted to it and not reported go back to
    the budget (those it took are not counted; what it inserted stays in
    replay). Returns how many went back."""
    lost = self.outstanding.pop(actor_id, 0)
    self.granted -= lost
    return lost

  # --- learner ---------------------------------------------------------
  def publish(self, learner_step: int, params_ref: list[Any]) -> int:
    """The learner's newest parameters ([ObjectRef] from one ray.put) after
    `learner_step` updates; returns their version number."""
    self.params_version += 1
    self.params_learner_step = learner_step
    self.params_ref = params_ref
    return self.params_version

  def latest_params(self) -> tuple[int, int, list[Any]]:
    """(version, learner step, [ObjectRef]); version -1 before the first
    publication."""
    return self.params_version, self.params_learner_step, self.params_ref

  def learner_report(self, learner_steps: int, metrics: dict[str, float],
                     stats: dict[str, float]) -> tuple[int, bool]:
    """The learner's counters and latest metrics; returns (env_steps,
    whether the learner should stop)."""
    self.learner_steps = learner_steps
    if metrics:
      self.metrics = dict(metrics)
    self.learner_stats = dict(stats)
    return self.env_steps, self.finished()

  # --- everyone --------------------------------------------------------
  def request_stop(self) -> None:
    self.stop_requested = True

  def finished(self) -> bool:
    """True once the run is stopping or every budgeted step was taken."""
    return self.stop_requested or self.env_steps >= self.num_steps

  def counts(self) -> dict[str, int]:
    return {"env_steps": self.env_steps, "episodes": self.episodes,
            "learner_steps": self.learner_steps}

  def poll(self) -> dict[str, Any]:
    """What the launcher logs and shows; episodes are handed over once."""
    episodes, self.new_episodes = self.new_episodes, []
    lags = list(self.param_lags)
    return {
        "counts": self.counts(), "episodes": episodes,
        "metrics": dict(self.metrics), "learner": dict(self.learner_stats),
        "actors": {k: dict(v) for k, v in self.actor_stats.items()},
        "params_version": self.params_version,
        "param_lag": (sum(lags) / len(lags)) if lags else None,
        "finished": self.finished(),
    }
