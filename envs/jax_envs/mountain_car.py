"""MountainCar-v0 as a pure JAX function (gymnasium 1.x semantics).

The under-powered car of Moore (1990), "Efficient memory-based learning for
robot control" (PhD thesis, Cambridge), in the form of Sutton & Barto's
book: a car in a valley must rock back and forth to reach the hill top.
Actions 0, 1, 2 push left, not at all, right. Each step

  velocity += (action - 1) * 0.001 - 0.0025 * cos(3 * position)
  velocity  = clip(velocity, -0.07, 0.07)
  position += velocity
  position  = clip(position, -1.2, 0.6)
  velocity  = 0 if position == -1.2 and velocity < 0 (inelastic left wall)

Observation (position, velocity); start position uniform in [-0.6, -0.4],
velocity 0. Reward -1 per step; terminates when position >= 0.5 and
velocity >= 0. gymnasium's time limit for MountainCar-v0 is 200 steps.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from building_blocks import specs
from envs.jax_envs import base

MIN_POSITION = -1.2
MAX_POSITION = 0.6
MAX_SPEED = 0.07
GOAL_POSITION = 0.5
GOAL_VELOCITY = 0.0
FORCE = 0.001
GRAVITY = 0.0025


class MountainCarState(NamedTuple):
  position: jax.Array
  velocity: jax.Array


def observation(s: MountainCarState) -> jax.Array:
  return jnp.stack([s.position, s.velocity]).astype(jnp.float32)


def reset_car(key: jax.Array) -> tuple[MountainCarState, jax.Array]:
  """Position uniform in [-0.6, -0.4], at rest (both mountain cars)."""
  position = jax.random.uniform(key, (), jnp.float32, -0.6, -0.4)
  physics = MountainCarState(position=position,
                             velocity=jnp.zeros((), jnp.float32))
  return physics, observation(physics)


def move_car(physics: MountainCarState, velocity: jax.Array
             ) -> MountainCarState:
  """Clips `velocity`, moves, stops at the walls (both mountain cars)."""
  velocity = jnp.clip(velocity, -MAX_SPEED, MAX_SPEED).astype(jnp.float32)
  position = jnp.clip(physics.position + velocity, MIN_POSITION, MAX_POSITION)
  at_left_wall = (position == jnp.float32(MIN_POSITION)) & (velocity < 0)
  velocity = jnp.where(at_left_wall, 0.0, velocity)
  return MountainCarState(position=position.astype(jnp.float32),
                          velocity=velocity.astype(jnp.float32))


def car_observation_spec() -> specs.BoundedArray:
  return specs.BoundedArray(
      shape=(2,), dtype=np.float32,
      minimum=np.array([MIN_POSITION, -MAX_SPEED], dtype=np.float32),
      maximum=np.array([MAX_POSITION, MAX_SPEED], dtype=np.float32),
      name="observation")


class MountainCar(base.JaxEnvironment):
  """MountainCar-v0: three actions (push left, no push, push right)."""

  env_id = "MountainCar-v0"
  max_episode_steps = 200

  def observation_spec(self) -> specs.BoundedArray:
    return car_observation_spec()

  def action_spec(self) -> specs.DiscreteArray:
    return specs.DiscreteArray(num_values=3, dtype=np.int32, name="action")

  def reset_physics(self, key: jax.Array
                    ) -> tuple[MountainCarState, jax.Array]:
    return reset_car(key)

  def step_physics(self, key: jax.Array, physics: MountainCarState,
                   action: jax.Array
                   ) -> tuple[MountainCarState, jax.Array, jax.Array,
                              jax.Array]:
    del key  # deterministic dynamics
    push = (jnp.clip(action, 0, 2) - 1).astype(jnp.float32)
    velocity = (physics.velocity + push * FORCE
                + jnp.cos(3 * physics.position) * (-GRAVITY))
    new = move_car(physics, velocity)
    terminated = ((new.position >= GOAL_POSITION)
                  & (new.velocity >= GOAL_VELOCITY))
    reward = -jnp.ones((), jnp.float32)
    return new, observation(new), reward, terminated
