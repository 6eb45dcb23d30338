"""A generic feed-forward actor: a jitted pure policy + variable client + adder."""
from __future__ import annotations

from typing import Any, Callable

import chex
import jax
import numpy as np

from building_blocks import core
from building_blocks import types
from building_blocks import variable_client as variable_client_lib

Policy = Callable[[Any, chex.PRNGKey, chex.Array, chex.Array], chex.Array]


class FeedForwardActor(core.Actor):
  """Acts with `policy(params, key, observation, actor_step)`.

  The policy is jitted once; the actor only threads the RNG key, counts its
  steps (for schedules such as epsilon decay) and forwards experience to the
  adder, if it has one (evaluation actors do not).
  """

  def __init__(self, policy: Policy,
               variable_client: variable_client_lib.VariableClient,
               key: chex.PRNGKey, adder: core.Adder | None = None,
               initial_step: int = 0):
    def step_policy(params, key, observation, actor_step):
      key, policy_key = jax.random.split(key)
      return policy(params, policy_key, observation, actor_step), key

    self._policy = jax.jit(step_policy)
    self._client = variable_client
    self._key = key
    self._adder = adder
    self.num_steps = initial_step

  def select_action(self, observation: types.NestedArray) -> np.ndarray:
    action, self._key = self._policy(self._client.params, self._key,
                                     observation, self.num_steps)
    self.num_steps += 1
    return np.asarray(action)

  def observe_first(self, timestep: types.TimeStep) -> None:
    if self._adder is not None:
      self._adder.add_first(timestep)

  def observe(self, action: types.NestedArray,
              next_timestep: types.TimeStep) -> None:
    if self._adder is not None:
      self._adder.add(action, next_timestep)

  def update(self, wait: bool = False) -> None:
    self._client.update(wait)

  @property
  def rng_key(self) -> chex.PRNGKey:
    return self._key

  @rng_key.setter
  def rng_key(self, key: chex.PRNGKey) -> None:
    self._key = key
