"""The actor-environment interaction loop (Acme's EnvironmentLoop, kept small)."""
from __future__ import annotations

import time
from typing import Any, Callable

import dm_env
import numpy as np

from building_blocks import core
from building_blocks import counting


class EnvironmentLoop:
  """Runs an actor in an environment episode by episode.

  Each `run_episode` resets the environment, lets the actor observe every
  step, counts steps and episodes, and returns the episode's statistics.
  """

  def __init__(self, environment: dm_env.Environment, actor: core.Actor,
               counter: counting.Counter | None = None,
               logger: core.Logger | None = None,
               should_update: bool = True, label: str = "actor"):
    self._environment = environment
    self._actor = actor
    self._counter = counter or counting.Counter()
    self._logger = logger or core.NoOpLogger()
    self._should_update = should_update
    self._steps_key = f"{label}_steps"
    self._episodes_key = f"{label}_episodes"

  def run_episode(self, should_stop: Callable[[], bool] | None = None
                  ) -> dict[str, Any] | None:
    """Plays one episode and returns its return, length and speed.

    `should_stop` is asked after every step; when it says yes, the episode
    is abandoned (its steps stay counted, the episode does not) and None is
    returned.
    """
    start = time.perf_counter()
    timestep = self._environment.reset()
    self._actor.observe_first(timestep)
    episode_return = 0.0
    episode_length = 0
    while not timestep.last():
      if should_stop is not None and should_stop():
        return None
      action = self._actor.select_action(timestep.observation)
      timestep = self._environment.step(action)
      self._actor.observe(action, next_timestep=timestep)
      if self._should_update:
        self._actor.update()
      episode_return += float(timestep.reward)
      episode_length += 1
      self._counter.increment(**{self._steps_key: 1})
    counts = self._counter.increment(**{self._episodes_key: 1})
    elapsed = time.perf_counter() - start
    result = {
        "episode_return": episode_return,
        "episode_length": episode_length,
        "steps_per_second": episode_length / max(elapsed, 1e-9),
        **counts,
    }
    self._logger.write(result)
    return result

  def run(self, num_episodes: int | None = None,
          num_steps: int | None = None,
          should_stop: Callable[[], bool] | None = None
          ) -> list[dict[str, Any]]:
    """Runs until `num_episodes` episodes or `num_steps` steps have passed,
    or `should_stop` says so; returns the finished episodes' results."""
    results = []
    steps = 0
    while True:
      result = self.run_episode(should_stop)
      if result is None:
        break
      results.append(result)
      steps += result["episode_length"]
      if num_episodes is not None and len(results) >= num_episodes:
        break
      if num_steps is not None and steps >= num_steps:
        break
    return results


def mean_return(results: list[dict[str, Any]]) -> float:
  """Mean episode return of a list of `run_episode` results."""
  return float(np.mean([r["episode_return"] for r in results]))
