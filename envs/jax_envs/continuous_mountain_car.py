"""MountainCarContinuous-v0 as a pure JAX function (gymnasium 1.x semantics).

The mountain car of Moore (1990) (see mountain_car.py) with a continuous
force: the action a is one number, clipped to [-1, 1] for the dynamics,

  velocity += clip(a, -1, 1) * 0.0015 - 0.0025 * cos(3 * position)

followed by the same speed clip, position clip and inelastic left wall as
MountainCar-v0. The goal is lower: position >= 0.45 (and velocity >= 0).
Reward 100 on reaching the goal, minus 0.1 * a^2 on every step; as in
gymnasium the penalty uses the action as given, before clipping.
Observation (position, velocity); start position uniform in [-0.6, -0.4],
velocity 0. gymnasium's time limit for MountainCarContinuous-v0 is 999 steps.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from building_blocks import specs
from envs.jax_envs import base
from envs.jax_envs import mountain_car

MIN_ACTION = -1.0
MAX_ACTION = 1.0
GOAL_POSITION = 0.45
GOAL_VELOCITY = 0.0
POWER = 0.0015
GRAVITY = 0.0025


class MountainCarContinuous(base.JaxEnvironment):
  """MountainCarContinuous-v0: one force in [-1, 1]."""

  env_id = "MountainCarContinuous-v0"
  max_episode_steps = 999

  def observation_spec(self) -> specs.BoundedArray:
    return mountain_car.car_observation_spec()

  def action_spec(self) -> specs.BoundedArray:
    return specs.BoundedArray(shape=(1,), dtype=np.float32,
                              minimum=np.array([MIN_ACTION], np.float32),
                              maximum=np.array([MAX_ACTION], np.float32),
                              name="action")

  def reset_physics(self, key: jax.Array
                    ) -> tuple[mountain_car.MountainCarState, jax.Array]:
    return mountain_car.reset_car(key)

  def step_physics(self, key: jax.Array,
                   physics: mountain_car.MountainCarState, action: jax.Array
                   ) -> tuple[mountain_car.MountainCarState, jax.Array,
                              jax.Array, jax.Array]:
    del key  # deterministic dynamics
    a = jnp.reshape(jnp.asarray(action, jnp.float32), (1,))[0]
    force = jnp.clip(a, MIN_ACTION, MAX_ACTION)
    velocity = (physics.velocity + force * POWER
                - GRAVITY * jnp.cos(3 * physics.position))
    new = mountain_car.move_car(physics, velocity)
    terminated = ((new.position >= GOAL_POSITION)
                  & (new.velocity >= GOAL_VELOCITY))
    reward = jnp.where(terminated, 100.0, 0.0) - 0.1 * a**2
    return (new, mountain_car.observation(new), reward.astype(jnp.float32),
            terminated)
