"""JAX-native environments for the all-on-accelerator mode.

Pure, jittable and vmappable re-implementations of gymnasium's classic
control tasks (same dynamics, rewards, terminations and time limits as
gymnasium 1.x), of bsuite's Catch and of MinAtar's Breakout
(`MinAtar/Breakout-v1`). See base.py for the interface:

  env = jax_envs.make("CartPole-v1")
  state, obs = env.reset(key)
  state, timestep = env.step(key, state, action)  # auto-resets when done
"""
from __future__ import annotations

import difflib
from typing import Callable

from building_blocks import errors
from envs.jax_envs.acrobot import Acrobot
from envs.jax_envs.base import EnvState, JaxEnvironment, TimeStep
from envs.jax_envs.breakout import Breakout
from envs.jax_envs.cartpole import CartPole
from envs.jax_envs.catch import Catch
from envs.jax_envs.continuous_mountain_car import MountainCarContinuous
from envs.jax_envs.mountain_car import MountainCar
from envs.jax_envs.pendulum import Pendulum

_REGISTRY: dict[str, Callable[[], JaxEnvironment]] = {
    env.env_id: env for env in (CartPole, Acrobot, MountainCar,
                                MountainCarContinuous, Pendulum, Catch,
                                Breakout)
}


def registered_ids() -> list[str]:
  """The ids `make` accepts, sorted."""
  return sorted(_REGISTRY)


def make(env_id: str) -> JaxEnvironment:
  """Makes a registered JAX environment, or says which ids come close."""
  try:
    factory = _REGISTRY[env_id]
  except KeyError:
    known = registered_ids()
    close = difflib.get_close_matches(env_id, known, n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise errors.UnknownEnvironmentError(
        f"Unknown JAX environment id {env_id!r}.{hint} JAX-native "
        f"environments: {', '.join(known)}.") from None
  return factory()


__all__ = [
    "Acrobot", "Breakout", "CartPole", "Catch", "EnvState", "JaxEnvironment",
    "MountainCar", "MountainCarContinuous", "Pendulum", "TimeStep", "make",
    "registered_ids",
]
