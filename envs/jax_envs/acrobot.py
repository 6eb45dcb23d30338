"""Acrobot-v1 as a pure JAX function (gymnasium 1.x semantics).

The two-link underactuated pendulum of Sutton (1996), "Generalization in
reinforcement learning: successful examples using sparse coarse coding",
with the dynamics of Sutton & Barto's book ("book" variant in gymnasium,
which adds the -m2 l1 lc2 dtheta1^2 sin(theta2) term to the second link's
acceleration). Torque -1, 0 or +1 (actions 0, 1, 2) acts on the joint
between the links. With masses m1 = m2 = 1, lengths l1 = 1, centres of mass
lc1 = lc2 = 0.5, moments of inertia I1 = I2 = 1 and g = 9.8:

  d1   = m1 lc1^2 + m2 (l1^2 + lc2^2 + 2 l1 lc2 cos(theta2)) + I1 + I2
  d2   = m2 (lc2^2 + l1 lc2 cos(theta2)) + I2
  phi2 = m2 lc2 g cos(theta1 + theta2 - pi/2)
  phi1 = -m2 l1 lc2 dtheta2^2 sin(theta2)
         - 2 m2 l1 lc2 dtheta2 dtheta1 sin(theta2)
         + (m1 lc1 + m2 l1) g cos(theta1 - pi/2) + phi2
  ddtheta2 = (a + d2/d1 phi1 - m2 l1 lc2 dtheta1^2 sin(theta2) - phi2)
             / (m2 lc2^2 + I2 - d2^2/d1)
  ddtheta1 = -(d2 ddtheta2 + phi1) / d1

One step integrates these with a single classical Runge-Kutta (RK4) step of
dt = 0.2 s, then wraps both angles into [-pi, pi] and clips the angular
velocities to [-4 pi, 4 pi] and [-9 pi, 9 pi].

Observation (cos theta1, sin theta1, cos theta2, sin theta2, dtheta1,
dtheta2); start state uniform in [-0.1, 0.1]^4. Reward -1 per step and 0
on the terminal step; terminates when the free end is more than one link
length above the pivot: -cos(theta1) - cos(theta1 + theta2) > 1.
gymnasium's time limit for Acrobot-v1 is 500 steps.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from building_blocks import specs
from envs.jax_envs import base

DT = 0.2
LINK_LENGTH_1 = 1.0
LINK_MASS_1 = 1.0
LINK_MASS_2 = 1.0
LINK_COM_POS_1 = 0.5
LINK_COM_POS_2 = 0.5
LINK_MOI = 1.0
GRAVITY = 9.8
MAX_VEL_1 = 4 * math.pi
MAX_VEL_2 = 9 * math.pi


class AcrobotState(NamedTuple):
  theta1: jax.Array
  theta2: jax.Array
  dtheta1: jax.Array
  dtheta2: jax.Array


def _observation(s: AcrobotState) -> jax.Array:
  return jnp.stack([jnp.cos(s.theta1), jnp.sin(s.theta1), jnp.cos(s.theta2),
                    jnp.sin(s.theta2), s.dtheta1, s.dtheta2]
                   ).astype(jnp.float32)


def _derivatives(s: jax.Array, torque: jax.Array) -> jax.Array:
  """d/dt of (theta1, theta2, dtheta1, dtheta2) under `torque` (book)."""
  m1, m2 = LINK_MASS_1, LINK_MASS_2
  l1, lc1, lc2 = LINK_LENGTH_1, LINK_COM_POS_1, LINK_COM_POS_2
  i1 = i2 = LINK_MOI
  g = GRAVITY
  theta1, theta2, dtheta1, dtheta2 = s[0], s[1], s[2], s[3]
  d1 = (m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * jnp.cos(theta2))
        + i1 + i2)
  d2 = m2 * (lc2**2 + l1 * lc2 * jnp.cos(theta2)) + i2
  phi2 = m2 * lc2 * g * jnp.cos(theta1 + theta2 - math.pi / 2.0)
  phi1 = (-m2 * l1 * lc2 * dtheta2**2 * jnp.sin(theta2)
          - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * jnp.sin(theta2)
          + (m1 * lc1 + m2 * l1) * g * jnp.cos(theta1 - math.pi / 2)
          + phi2)
  ddtheta2 = ((torque + d2 / d1 * phi1
               - m2 * l1 * lc2 * dtheta1**2 * jnp.sin(theta2) - phi2)
              / (m2 * lc2**2 + i2 - d2**2 / d1))
  ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
  return jnp.stack([dtheta1, dtheta2, ddtheta1, ddtheta2])


def _rk4(s: jax.Array, torque: jax.Array, dt: float) -> jax.Array:
  """One classical Runge-Kutta step of length `dt`."""
  k1 = _derivatives(s, torque)
  k2 = _derivatives(s + dt / 2.0 * k1, torque)
  k3 = _derivatives(s + dt / 2.0 * k2, torque)
  k4 = _derivatives(s + dt * k3, torque)
  return s + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def wrap(x: jax.Array, low: float, high: float) -> jax.Array:
  """Adds or subtracts whole periods (high - low) until low <= x <= high.

  Like gymnasium's loop version, values already inside the closed interval
  (its end points included) are left as they are.
  """
  period = high - low
  down = jnp.maximum(jnp.ceil((x - high) / period), 0.0)
  up = jnp.maximum(jnp.ceil((low - x) / period), 0.0)
  return x - down * period + up * period


class Acrobot(base.JaxEnvironment):
  """Acrobot-v1: three actions (torque -1, 0, +1)."""

  env_id = "Acrobot-v1"
  max_episode_steps = 500

  def observation_spec(self) -> specs.BoundedArray:
    high = np.array([1.0, 1.0, 1.0, 1.0, MAX_VEL_1, MAX_VEL_2],
                    dtype=np.float32)
    return specs.BoundedArray(shape=(6,), dtype=np.float32, minimum=-high,
                              maximum=high, name="observation")

  def action_spec(self) -> specs.DiscreteArray:
    return specs.DiscreteArray(num_values=3, dtype=np.int32, name="action")

  def reset_physics(self, key: jax.Array) -> tuple[AcrobotState, jax.Array]:
    values = jax.random.uniform(key, (4,), jnp.float32, -0.1, 0.1)
    physics = AcrobotState(*values)
    return physics, _observation(physics)

  def step_physics(self, key: jax.Array, physics: AcrobotState,
                   action: jax.Array
                   ) -> tuple[AcrobotState, jax.Array, jax.Array, jax.Array]:
    del key  # no torque noise, as in gymnasium's default
    torque = (jnp.clip(action, 0, 2) - 1).astype(jnp.float32)
    s = jnp.stack(list(physics)).astype(jnp.float32)
    ns = _rk4(s, torque, DT)
    new = AcrobotState(
        theta1=wrap(ns[0], -math.pi, math.pi),
        theta2=wrap(ns[1], -math.pi, math.pi),
        dtheta1=jnp.clip(ns[2], -MAX_VEL_1, MAX_VEL_1),
        dtheta2=jnp.clip(ns[3], -MAX_VEL_2, MAX_VEL_2))
    terminated = -jnp.cos(new.theta1) - jnp.cos(new.theta2 + new.theta1) > 1.0
    reward = jnp.where(terminated, 0.0, -1.0).astype(jnp.float32)
    return new, _observation(new), reward, terminated
