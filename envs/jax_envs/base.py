"""The functional environment interface: pure, jittable, vmappable.

An environment object holds only Python constants; everything that changes
lives in an `EnvState` that the caller threads through `reset` and `step`.
So `jax.jit(env.step)` closes over the constants and `jax.vmap(env.step)`
steps a batch of independent environments in one call.

`step` does one transition and then applies the episode bookkeeping that
gymnasium spreads over wrappers:
  * time limit: after `max_episode_steps` steps an episode that did not
    terminate is truncated (gymnasium's `TimeLimit`). Only `terminated`
    means "the value of the next state is zero"; a truncated step must still
    bootstrap (Pardo et al., 2018, "Time Limits in Reinforcement Learning").
  * auto-reset: when the episode ended (terminated or truncated) the state
    returned is already a fresh episode's, and `TimeStep.observation` is its
    first observation; the observation the step reached is kept in
    `TimeStep.final_observation`. The reset is always computed and chosen
    with `jnp.where`, so there is no Python branching on traced values.

Subclasses implement only the raw dynamics (`reset_physics`,
`step_physics`) and the specs.
"""
from __future__ import annotations

import abc
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from building_blocks import specs


class EnvState(NamedTuple):
  """Everything that changes between steps of one environment."""
  physics: Any               # env-specific NamedTuple of jnp scalars/arrays
  time: jax.Array            # int32 steps taken in the current episode
  episode_return: jax.Array  # float32 sum of rewards so far in the episode


class TimeStep(NamedTuple):
  """What one `step` reports."""
  observation: jax.Array        # obs to act on next (after any auto-reset)
  reward: jax.Array             # float32 scalar
  terminated: jax.Array         # bool: MDP reached a terminal state
  truncated: jax.Array          # bool: the time limit ended a live episode
  final_observation: jax.Array  # obs this step reached, before auto-reset
  episode_return: jax.Array     # float32 return including this step
  episode_length: jax.Array     # int32 length including this step


class JaxEnvironment(abc.ABC):
  """Base class: episode bookkeeping on top of subclass dynamics."""

  env_id: str
  max_episode_steps: int

  # -- specs --------------------------------------------------------------

  @abc.abstractmethod
  def observation_spec(self) -> specs.Array:
    """Shape, dtype (float32) and bounds of one observation."""

  @abc.abstractmethod
  def action_spec(self) -> specs.DiscreteArray | specs.BoundedArray:
    """DiscreteArray(int32) for discrete actions, BoundedArray otherwise."""

  def reward_spec(self) -> specs.Array:
    return specs.Array(shape=(), dtype=np.float32, name="reward")

  def discount_spec(self) -> specs.BoundedArray:
    return specs.BoundedArray(shape=(), dtype=np.float32, minimum=0.0,
                              maximum=1.0, name="discount")

  def environment_spec(self) -> specs.EnvironmentSpec:
    return specs.EnvironmentSpec(observations=self.observation_spec(),
                                 actions=self.action_spec(),
                                 rewards=self.reward_spec(),
                                 discounts=self.discount_spec())

  # -- raw dynamics, implemented by each environment ------------------------

  @abc.abstractmethod
  def reset_physics(self, key: jax.Array) -> tuple[Any, jax.Array]:
    """Draws a start state; returns (physics, first observation)."""

  @abc.abstractmethod
  def step_physics(self, key: jax.Array, physics: Any, action: jax.Array
                   ) -> tuple[Any, jax.Array, jax.Array, jax.Array]:
    """One transition: returns (physics, observation, reward, terminated)."""

  # -- episode bookkeeping ---------------------------------------------------

  def reset(self, key: jax.Array) -> tuple[EnvState, jax.Array]:
    """Starts an episode; returns (state, first observation)."""
    physics, obs = self.reset_physics(key)
    state = EnvState(physics=physics, time=jnp.zeros((), jnp.int32),
                     episode_return=jnp.zeros((), jnp.float32))
    return state, obs

  def step(self, key: jax.Array, state: EnvState, action: jax.Array
           ) -> tuple[EnvState, TimeStep]:
    """One transition, the time limit, and an auto-reset when it ended."""
    step_key, reset_key = jax.random.split(key)
    physics, obs, reward, terminated = self.step_physics(
        step_key, state.physics, action)
    reward = jnp.asarray(reward, jnp.float32)
    terminated = jnp.asarray(terminated, jnp.bool_)
    chex.assert_shape([reward, terminated], ())

    time = state.time + 1
    episode_return = state.episode_return + reward
    truncated = jnp.logical_and(time >= self.max_episode_steps,
                                jnp.logical_not(terminated))
    done = jnp.logical_or(terminated, truncated)

    fresh = self.reset(reset_key)
    continued = (EnvState(physics=physics, time=time,
                          episode_return=episode_return), obs)
    next_state, next_obs = jax.tree_util.tree_map(
        lambda r, c: jnp.where(done, r, c), fresh, continued)
    timestep = TimeStep(observation=next_obs, reward=reward,
                        terminated=terminated, truncated=truncated,
                        final_observation=obs, episode_return=episode_return,
                        episode_length=time)
    return next_state, timestep

  def __repr__(self) -> str:
    return f"{type(self).__name__}({self.env_id})"
