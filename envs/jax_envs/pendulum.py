"""Pendulum-v1 as a pure JAX function (gymnasium 1.x semantics).

The classic inverted-pendulum swing-up: a frictionless pendulum of mass
m = 1 and length l = 1 under gravity g = 10, driven by a torque u clipped
to [-2, 2]. theta = 0 is upright. With dt = 0.05 s, one semi-implicit
Euler step:

  theta_dot' = clip(theta_dot + (3 g / (2 l) sin(theta) + 3 / (m l^2) u) dt,
                    -8, 8)
  theta'     = theta + theta_dot' dt

The reward is the negative cost of the state before the step:
-(angle_normalize(theta)^2 + 0.1 theta_dot^2 + 0.001 u^2), where
angle_normalize maps theta into [-pi, pi). Observation (cos theta,
sin theta, theta_dot); start theta uniform in [-pi, pi], theta_dot uniform
in [-1, 1]. The episode never terminates; gymnasium's time limit for
Pendulum-v1 truncates it after 200 steps.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from building_blocks import specs
from envs.jax_envs import base

MAX_SPEED = 8.0
MAX_TORQUE = 2.0
DT = 0.05
GRAVITY = 10.0
MASS = 1.0
LENGTH = 1.0


class PendulumState(NamedTuple):
  theta: jax.Array
  theta_dot: jax.Array


def _observation(s: PendulumState) -> jax.Array:
  return jnp.stack([jnp.cos(s.theta), jnp.sin(s.theta), s.theta_dot]
                   ).astype(jnp.float32)


def angle_normalize(x: jax.Array) -> jax.Array:
  """Maps an angle into [-pi, pi)."""
  return jnp.mod(x + math.pi, 2 * math.pi) - math.pi


class Pendulum(base.JaxEnvironment):
  """Pendulum-v1: one torque in [-2, 2]."""

  env_id = "Pendulum-v1"
  max_episode_steps = 200

  def observation_spec(self) -> specs.BoundedArray:
    high = np.array([1.0, 1.0, MAX_SPEED], dtype=np.float32)
    return specs.BoundedArray(shape=(3,), dtype=np.float32, minimum=-high,
                              maximum=high, name="observation")

  def action_spec(self) -> specs.BoundedArray:
    return specs.BoundedArray(shape=(1,), dtype=np.float32,
                              minimum=np.array([-MAX_TORQUE], np.float32),
                              maximum=np.array([MAX_TORQUE], np.float32),
                              name="action")

  def reset_physics(self, key: jax.Array) -> tuple[PendulumState, jax.Array]:
    theta_key, speed_key = jax.random.split(key)
    physics = PendulumState(
        theta=jax.random.uniform(theta_key, (), jnp.float32, -math.pi,
                                 math.pi),
        theta_dot=jax.random.uniform(speed_key, (), jnp.float32, -1.0, 1.0))
    return physics, _observation(physics)

  def step_physics(self, key: jax.Array, physics: PendulumState,
                   action: jax.Array
                   ) -> tuple[PendulumState, jax.Array, jax.Array, jax.Array]:
    del key  # deterministic dynamics
    th, thdot = physics
    u = jnp.clip(jnp.reshape(jnp.asarray(action, jnp.float32), (1,))[0],
                 -MAX_TORQUE, MAX_TORQUE)
    costs = angle_normalize(th)**2 + 0.1 * thdot**2 + 0.001 * u**2
    new_thdot = thdot + (3 * GRAVITY / (2 * LENGTH) * jnp.sin(th)
                         + 3.0 / (MASS * LENGTH**2) * u) * DT
    new_thdot = jnp.clip(new_thdot, -MAX_SPEED, MAX_SPEED)
    new = PendulumState(theta=(th + new_thdot * DT).astype(jnp.float32),
                        theta_dot=new_thdot.astype(jnp.float32))
    reward = (-costs).astype(jnp.float32)
    return new, _observation(new), reward, jnp.zeros((), jnp.bool_)
