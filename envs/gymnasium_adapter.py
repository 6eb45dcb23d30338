"""Adapts a gymnasium environment to the dm_env TimeStep interface.

gymnasium separates `terminated` (the MDP reached a terminal state: the value
of what follows is zero) from `truncated` (a time limit cut the episode: the
state still has value). Both end the episode (StepType.LAST), but only a
termination sets the discount to 0; a truncation keeps discount 1 so that
value targets still bootstrap from the last observation. Treating time-limit
truncations as terminal silently biases value estimates
(Pardo et al., 2018, "Time Limits in Reinforcement Learning").
"""
from __future__ import annotations

import difflib
from typing import Any

import dm_env
import gymnasium as gym
import numpy as np

from building_blocks import errors
from building_blocks import specs


def _space_to_spec(space: gym.Space, name: str) -> specs.Array:
  if isinstance(space, gym.spaces.Discrete):
    if int(space.start) != 0:
      raise errors.IncompatibleEnvironmentError(
          f"Discrete {name} space starting at {space.start} is not supported; "
          "wrap the environment so that actions start at 0.")
    return specs.DiscreteArray(num_values=int(space.n), dtype=np.int32,
                               name=name)
  if isinstance(space, gym.spaces.Box):
    dtype = np.float32 if np.issubdtype(space.dtype, np.floating) else space.dtype
    return specs.BoundedArray(shape=space.shape, dtype=dtype,
                              minimum=space.low.astype(dtype),
                              maximum=space.high.astype(dtype), name=name)
  raise errors.IncompatibleEnvironmentError(
      f"gymnasium space {space} ({name}) is not supported yet; Relay handles "
      "Discrete and Box spaces.")


class GymnasiumEnvironment(dm_env.Environment):
  """A dm_env view of a gymnasium env with seeded resets.

  The first reset uses `seed`; later resets continue the env's own RNG, so
  a run is reproducible from its seed alone. Calling `step` after a LAST
  timestep starts a new episode, as dm_env specifies.

  Every TimeStep matches the specs: the observation has the observation
  spec's dtype, and reward and discount are np.float32 scalars on MID and
  LAST steps (a FIRST step carries neither: both are None, as dm_env asks).
  tests/envs/test_dm_env_conformance.py checks this with dm_env's own suite.
  """

  def __init__(self, environment: gym.Env, seed: int | None = None):
    self._env = environment
    self._seed = seed
    self._seeded = False
    self._needs_reset = True
    self._observation_spec = _space_to_spec(environment.observation_space,
                                            "observation")
    self._action_spec = _space_to_spec(environment.action_space, "action")
    if seed is not None:
      environment.action_space.seed(seed)

  @property
  def gym_env(self) -> gym.Env:
    return self._env

  def _observation(self, obs: Any) -> np.ndarray:
    return np.asarray(obs, dtype=self._observation_spec.dtype)

  def reset(self) -> dm_env.TimeStep:
    if not self._seeded:
      obs, _ = self._env.reset(seed=self._seed)
      self._seeded = True
    else:
      obs, _ = self._env.reset()
    self._needs_reset = False
    return dm_env.restart(self._observation(obs))

  def step(self, action: Any) -> dm_env.TimeStep:
    if self._needs_reset:
      return self.reset()
    if isinstance(self._action_spec, specs.DiscreteArray):
      action = int(action)
    else:
      action = np.asarray(action, dtype=self._action_spec.dtype)
    obs, reward, terminated, truncated, _ = self._env.step(action)
    obs = self._observation(obs)
    reward = np.float32(reward)
    if terminated:
      self._needs_reset = True
      # Not dm_env.termination: its discount is a Python float (float64),
      # which does not match discount_spec().
      return dm_env.TimeStep(step_type=dm_env.StepType.LAST, reward=reward,
                             discount=np.float32(0.0), observation=obs)
    if truncated:
      self._needs_reset = True
      return dm_env.truncation(reward, obs, discount=np.float32(1.0))
    return dm_env.transition(reward, obs, discount=np.float32(1.0))

  def observation_spec(self) -> specs.Array:
    return self._observation_spec

  def action_spec(self) -> specs.Array:
    return self._action_spec

  def reward_spec(self) -> specs.Array:
    return specs.Array(shape=(), dtype=np.float32, name="reward")

  def discount_spec(self) -> specs.BoundedArray:
    return specs.BoundedArray(shape=(), dtype=np.float32, minimum=0.0,
                              maximum=1.0, name="discount")

  def close(self) -> None:
    self._env.close()


def make_environment(env_id: str, seed: int | None = None,
                     **kwargs: Any) -> GymnasiumEnvironment:
  """Makes a registered gymnasium env, or says which ids come close."""
  try:
    env = gym.make(env_id, **kwargs)
  except gym.error.Error as e:
    known = sorted(gym.registry.keys())
    close = difflib.get_close_matches(env_id, known, n=5, cutoff=0.5)
    hint = (f" Did you mean: {', '.join(close)}?" if close else
            " Run `python -m experiments.train --help` for the list.")
    raise errors.UnknownEnvironmentError(
        f"Unknown environment id {env_id!r} ({e}).{hint}") from e
  return GymnasiumEnvironment(env, seed=seed)


def make_environment_spec(environment: dm_env.Environment) -> specs.EnvironmentSpec:
  """Collects the four specs of a dm_env environment."""
  return specs.EnvironmentSpec(
      observations=environment.observation_spec(),
      actions=environment.action_spec(),
      rewards=environment.reward_spec(),
      discounts=environment.discount_spec())
