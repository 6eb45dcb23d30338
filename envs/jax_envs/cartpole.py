"""CartPole-v1 as a pure JAX function (gymnasium 1.x semantics).

The cart-pole of Barto, Sutton & Anderson (1983), "Neuronlike adaptive
elements that can solve difficult learning control problems", with the
equations of motion of Florian (2007), "Correct equations for the dynamics
of the cart-pole system", integrated with explicit Euler at tau = 0.02 s:

  temp      = (F + m_p l theta_dot^2 sin(theta)) / (m_c + m_p)
  theta_acc = (g sin(theta) - cos(theta) temp)
              / (l (4/3 - m_p cos(theta)^2 / (m_c + m_p)))
  x_acc     = temp - m_p l theta_acc cos(theta) / (m_c + m_p)

with g = 9.8, m_c = 1.0, m_p = 0.1, l = 0.5 (half the pole), and F = +10 N
for action 1, -10 N for action 0. Positions are updated from the velocities
before the velocities themselves (explicit Euler), as gymnasium does.

Observation (x, x_dot, theta, theta_dot); start state uniform in
[-0.05, 0.05]^4. Reward +1 on every step, the terminal one included. The
episode terminates when |x| > 2.4 or |theta| > 12 degrees; gymnasium's
time limit for CartPole-v1 is 500 steps.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from building_blocks import specs
from envs.jax_envs import base

GRAVITY = 9.8
MASS_CART = 1.0
MASS_POLE = 0.1
TOTAL_MASS = MASS_CART + MASS_POLE
HALF_LENGTH = 0.5
POLE_MASS_LENGTH = MASS_POLE * HALF_LENGTH
FORCE_MAG = 10.0
TAU = 0.02
THETA_THRESHOLD = 12 * 2 * math.pi / 360
X_THRESHOLD = 2.4


class CartPoleState(NamedTuple):
  x: jax.Array
  x_dot: jax.Array
  theta: jax.Array
  theta_dot: jax.Array


def _observation(s: CartPoleState) -> jax.Array:
  return jnp.stack([s.x, s.x_dot, s.theta, s.theta_dot]).astype(jnp.float32)


class CartPole(base.JaxEnvironment):
  """CartPole-v1: two actions (push left, push right)."""

  env_id = "CartPole-v1"
  max_episode_steps = 500

  def observation_spec(self) -> specs.BoundedArray:
    high = np.array([X_THRESHOLD * 2, np.inf, THETA_THRESHOLD * 2, np.inf],
                    dtype=np.float32)
    return specs.BoundedArray(shape=(4,), dtype=np.float32, minimum=-high,
                              maximum=high, name="observation")

  def action_spec(self) -> specs.DiscreteArray:
    return specs.DiscreteArray(num_values=2, dtype=np.int32, name="action")

  def reset_physics(self, key: jax.Array) -> tuple[CartPoleState, jax.Array]:
    values = jax.random.uniform(key, (4,), jnp.float32, -0.05, 0.05)
    physics = CartPoleState(*values)
    return physics, _observation(physics)

  def step_physics(self, key: jax.Array, physics: CartPoleState,
                   action: jax.Array
                   ) -> tuple[CartPoleState, jax.Array, jax.Array, jax.Array]:
    del key  # deterministic dynamics
    x, x_dot, theta, theta_dot = physics
    force = jnp.where(action == 1, FORCE_MAG, -FORCE_MAG)
    costheta = jnp.cos(theta)
    sintheta = jnp.sin(theta)
    temp = (force + POLE_MASS_LENGTH * theta_dot**2 * sintheta) / TOTAL_MASS
    theta_acc = (GRAVITY * sintheta - costheta * temp) / (
        HALF_LENGTH * (4.0 / 3.0 - MASS_POLE * costheta**2 / TOTAL_MASS))
    x_acc = temp - POLE_MASS_LENGTH * theta_acc * costheta / TOTAL_MASS
    new = CartPoleState(x=x + TAU * x_dot, x_dot=x_dot + TAU * x_acc,
                        theta=theta + TAU * theta_dot,
                        theta_dot=theta_dot + TAU * theta_acc)
    new = CartPoleState(*(v.astype(jnp.float32) for v in new))
    terminated = ((new.x < -X_THRESHOLD) | (new.x > X_THRESHOLD)
                  | (new.theta < -THETA_THRESHOLD)
                  | (new.theta > THETA_THRESHOLD))
    reward = jnp.ones((), jnp.float32)
    return new, _observation(new), reward, terminated
