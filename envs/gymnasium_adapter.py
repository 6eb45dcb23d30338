"""Adapts a gymnasium environment to the dm_env TimeStep interface.

gymnasium separates `terminated` (the MDP reached a terminal state: the value
of what follows is zero) from `truncated` (a time limit cut the episode: the
state still has value). Both end the episode (StepType.LAST), but only a
termination sets the discount to 0; a truncation keeps discount 1 so that
value targets still bootstrap from the last observation. Treating time-limit
truncations as terminal silently biases value estimates
(Pardo et al., 2018, "Time Limits in Reinforcement Learning").

An id that gymnasium does not know but that names a JAX-native environment
(`envs/jax_envs`, e.g. `MinAtar/Breakout-v1`, `Catch-bsuite`) is served by
that environment behind gymnasium's API (`JaxGymnasiumEnv`), so the
single-process and distributed runners run the very environment the
all-on-accelerator runner does.
"""
from __future__ import annotations

import difflib
import functools
from typing import Any

import dm_env
import gymnasium as gym
import jax
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


class JaxGymnasiumEnv(gym.Env):
  """A JAX-native environment (`envs/jax_envs`) as a gymnasium env.

  Each `step` is the environment's own jitted `step`: its dynamics, its
  time limit (reported as `truncated`) and its terminations, computed on
  the host's CPU like any gymnasium env (one env's step is far too small to
  gain from an accelerator, and would wait for it every step). The JAX keys
  are drawn from the env's `np_random`, so `reset(seed=...)` makes a run
  reproducible and saving `np_random`'s state saves the env's randomness.
  A `reset()` without a seed right after an episode ended continues with
  the state the JAX environment auto-reset to (what the all-on-accelerator
  runner steps next: for MinAtar, the last action, which sticky actions
  repeat, carries over into the next episode).
  """

  metadata = {"render_modes": []}

  def __init__(self, env: Any, jitted: tuple[Any, Any] | None = None):
    self.jax_env = env
    self._reset_fn, self._step_fn = jitted or _jit(env)
    obs_spec, action_spec = env.observation_spec(), env.action_spec()
    self.observation_space = gym.spaces.Box(
        low=np.broadcast_to(obs_spec.minimum, obs_spec.shape),
        high=np.broadcast_to(obs_spec.maximum, obs_spec.shape),
        shape=obs_spec.shape, dtype=obs_spec.dtype)
    if isinstance(action_spec, specs.DiscreteArray):
      self.action_space = gym.spaces.Discrete(action_spec.num_values)
    else:
      self.action_space = gym.spaces.Box(
          low=np.broadcast_to(action_spec.minimum, action_spec.shape),
          high=np.broadcast_to(action_spec.maximum, action_spec.shape),
          shape=action_spec.shape, dtype=action_spec.dtype)
    self._action_dtype = action_spec.dtype
    self._device = jax.devices("cpu")[0]
    self._state = None
    self._next_episode = None  # (state, observation) auto-reset to

  def _key(self) -> np.ndarray:
    # A raw uint32[2] key, what jax.random.PRNGKey makes.
    return self.np_random.integers(0, 2**32, size=2, dtype=np.uint32)

  def reset(self, *, seed: int | None = None,
            options: dict[str, Any] | None = None):
    super().reset(seed=seed)
    if seed is None and self._next_episode is not None:
      self._state, obs = self._next_episode
    else:
      with jax.default_device(self._device):
        self._state, obs = self._reset_fn(self._key())
    self._next_episode = None
    return np.asarray(obs), {}

  def step(self, action: Any):
    if self._state is None:
      raise RuntimeError("Call reset() before step().")
    action = np.asarray(action, self._action_dtype)
    with jax.default_device(self._device):
      self._state, ts = self._step_fn(self._key(), self._state, action)
    reward, terminated, truncated, final_obs, obs = jax.device_get(
        (ts.reward, ts.terminated, ts.truncated, ts.final_observation,
         ts.observation))
    terminated, truncated = bool(terminated), bool(truncated)
    if terminated or truncated:
      self._next_episode = (self._state, obs)
    return np.asarray(final_obs), float(reward), terminated, truncated, {}


def _jit(env: Any) -> tuple[Any, Any]:
  return jax.jit(env.reset), jax.jit(env.step)


@functools.lru_cache(maxsize=None)
def _jax_twin(env_id: str, kwargs: tuple[tuple[str, Any], ...]):
  """(environment, jitted reset, jitted step), made once per id and
  arguments: a run's environments share one compilation."""
  from envs import jax_envs  # pylint: disable=g-import-not-at-top
  env = jax_envs.make(env_id)
  if kwargs:  # constructor arguments, e.g. Breakout's sticky_action_prob
    env = type(env)(**dict(kwargs))
  return env, _jit(env)


def _jax_env_ids() -> list[str]:
  from envs import jax_envs  # pylint: disable=g-import-not-at-top
  return jax_envs.registered_ids()


def make_environment(env_id: str, seed: int | None = None,
                     **kwargs: Any) -> GymnasiumEnvironment:
  """Makes a registered gymnasium env, else the JAX-native env of that id
  (`JaxGymnasiumEnv`), or says which ids come close.

  For a JAX-native env, `max_episode_steps` adds gymnasium's TimeLimit (as
  `gym.make` does) and other keyword arguments go to its constructor.
  """
  if env_id not in gym.registry and env_id in _jax_env_ids():
    limit = kwargs.pop("max_episode_steps", None)
    env, jitted = _jax_twin(env_id, tuple(sorted(kwargs.items())))
    gym_env = JaxGymnasiumEnv(env, jitted)
    if limit is not None:
      gym_env = gym.wrappers.TimeLimit(gym_env, limit)
    return GymnasiumEnvironment(gym_env, seed=seed)
  try:
    env = gym.make(env_id, **kwargs)
  except gym.error.Error as e:
    known = sorted(set(gym.registry.keys()) | set(_jax_env_ids()))
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
