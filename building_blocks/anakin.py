"""The interface between an agent and the all-on-accelerator runner.

An agent supplies pure functions (an `AnakinSystem`); the runner
(`experiments/anakin_runner.py`) owns the environments, the `lax.scan`
rollouts, episode statistics, evaluation, seeds and devices. Runners never
contain agent-specific code.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import chex


class Rollout(NamedTuple):
  """`rollout_length` steps of `num_envs` environments, time-major [T, N].

  observation: what the actor saw; final_observation: what each step
  reached before any auto-reset (differs from the next observation only
  where the episode ended); last_observation [N]: the observation after the
  last step (for bootstrapping); extras: whatever `act` returned next to the
  action (e.g. log-probabilities and values).
  """
  observation: chex.ArrayTree
  action: chex.Array
  reward: chex.Array
  terminated: chex.Array
  truncated: chex.Array
  final_observation: chex.ArrayTree
  extras: chex.ArrayTree
  last_observation: chex.ArrayTree


class AnakinSystem(NamedTuple):
  """An agent as the all-on-accelerator runner sees it (all pure, jittable).

  init(key) -> state: parameters, optimiser state, replay, counters.
  act(state, key, obs[N]) -> (action[N], extras): the behaviour policy.
  learn(state, rollout, key) -> (state, metrics): consumes one rollout;
    metrics is a dict of scalars (at least "loss").
  evaluation_act(state, key, obs[N]) -> action[N]: the evaluation policy.
  num_envs, rollout_length: the rollout shape this agent wants.
  """
  init: Callable[[chex.PRNGKey], Any]
  act: Callable[[Any, chex.PRNGKey, chex.ArrayTree], tuple[chex.Array, Any]]
  learn: Callable[[Any, Rollout, chex.PRNGKey], tuple[Any, dict[str, chex.Array]]]
  evaluation_act: Callable[[Any, chex.PRNGKey, chex.ArrayTree], chex.Array]
  num_envs: int
  rollout_length: int
