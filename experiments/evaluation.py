"""Greedy evaluation for the host-side runners (single process and
distributed): `eval_episodes` episodes of the evaluation policy, run side
by side on as many environments, one batched policy call per step for all
of them.

Stepping the episodes together instead of one after the other costs one
policy call per step of the longest episode instead of one per step of
every episode: for 10 CartPole episodes of 500 steps, 500 calls instead of
5,000. That keeps an evaluation short enough that the distributed runner's
evaluator keeps up with `--eval-every` while actors and the learner share
the machine.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from building_blocks import actor as actor_lib
from envs import gymnasium_adapter

# Seed distance between a run's evaluation environments.
EVAL_ENV_SEED_STRIDE = 7_919


def make_envs(env_id: str, seed: int, num_episodes: int
              ) -> list[gymnasium_adapter.GymnasiumEnvironment]:
  """One environment per evaluation episode, seeded `seed`, `seed + 7919`,
  ... (each evaluation continues each environment's random stream, so
  successive evaluations see new start states)."""
  return [gymnasium_adapter.make_environment(
      env_id, seed=seed + EVAL_ENV_SEED_STRIDE * i)
          for i in range(num_episodes)]


def run_episodes(actor: actor_lib.Actor, params: Any,
                 envs: Sequence[gymnasium_adapter.GymnasiumEnvironment],
                 env_steps: int,
                 should_stop: Callable[[], bool] | None = None
                 ) -> list[float] | None:
  """The undiscounted return of one episode on each of `envs`, stepped
  together with `actor`'s (evaluation) policy; None when `should_stop()`
  turned True first.

  The policy always sees a batch of len(envs) observations (one compiled
  shape): an environment whose episode has ended repeats its last
  observation, and its action is dropped.
  """
  timesteps = [env.reset() for env in envs]
  observations = np.stack([t.observation for t in timesteps])
  returns = np.zeros(len(envs))
  running = np.ones(len(envs), bool)
  while running.any():
    if should_stop is not None and should_stop():
      return None
    actions, _ = actor.select(params, observations, env_steps)
    for i in np.flatnonzero(running):
      timestep = envs[i].step(actions[i])
      returns[i] += float(timestep.reward)
      observations[i] = timestep.observation
      if timestep.last():
        running[i] = False
  return [float(r) for r in returns]


def row(env_steps: int, returns: Sequence[float]) -> dict[str, float]:
  """The eval.csv row of one evaluation."""
  return {"env_steps": env_steps, "eval_mean_return": float(np.mean(returns)),
          "eval_min_return": float(min(returns)),
          "eval_max_return": float(max(returns))}
