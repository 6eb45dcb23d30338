"""Catch (bsuite) as a pure JAX function.

The Catch task of Osband et al. (2020), "Behaviour Suite for Reinforcement
Learning" (bsuite), ICLR: a 10 x 5 board. Each episode a ball starts in the
top row (row 0) in a column drawn uniformly at random, and the paddle starts
in the bottom row (row 9), in the middle column (5 // 2 = 2). Each step the
paddle moves one column left, stays or moves right (actions 0, 1, 2),
clipped to the board, and then the ball falls one row. When the ball
reaches the bottom row the episode terminates with reward +1 if the paddle
is in the ball's column and -1 otherwise; every earlier step has reward 0.
So every episode lasts exactly rows - 1 = 9 steps.

Observation: the board as a float32 (rows, columns) array, 1 where the ball
or the paddle is, 0 elsewhere (flattening is the agent's job). bsuite sets
no time limit; `max_episode_steps` is a generous bound that never binds.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from building_blocks import specs
from envs.jax_envs import base

ROWS = 10
COLUMNS = 5


class CatchState(NamedTuple):
  ball_x: jax.Array    # int32 column of the ball
  ball_y: jax.Array    # int32 row of the ball (0 = top)
  paddle_x: jax.Array  # int32 column of the paddle (always in the last row)


def observation(s: CatchState) -> jax.Array:
  board = jnp.zeros((ROWS, COLUMNS), jnp.float32)
  board = board.at[s.ball_y, s.ball_x].set(1.0)
  return board.at[ROWS - 1, s.paddle_x].set(1.0)


class Catch(base.JaxEnvironment):
  """bsuite's Catch: three actions (left, stay, right)."""

  env_id = "Catch-bsuite"
  max_episode_steps = 10 * ROWS  # episodes terminate after ROWS - 1 steps

  def observation_spec(self) -> specs.BoundedArray:
    return specs.BoundedArray(shape=(ROWS, COLUMNS), dtype=np.float32,
                              minimum=0.0, maximum=1.0, name="observation")

  def action_spec(self) -> specs.DiscreteArray:
    return specs.DiscreteArray(num_values=3, dtype=np.int32, name="action")

  def reset_physics(self, key: jax.Array) -> tuple[CatchState, jax.Array]:
    physics = CatchState(
        ball_x=jax.random.randint(key, (), 0, COLUMNS, jnp.int32),
        ball_y=jnp.zeros((), jnp.int32),
        paddle_x=jnp.full((), COLUMNS // 2, jnp.int32))
    return physics, observation(physics)

  def step_physics(self, key: jax.Array, physics: CatchState,
                   action: jax.Array
                   ) -> tuple[CatchState, jax.Array, jax.Array, jax.Array]:
    del key  # deterministic dynamics
    dx = jnp.clip(action, 0, 2).astype(jnp.int32) - 1
    new = CatchState(
        ball_x=physics.ball_x, ball_y=physics.ball_y + 1,
        paddle_x=jnp.clip(physics.paddle_x + dx, 0, COLUMNS - 1))
    terminated = new.ball_y == ROWS - 1
    caught = new.paddle_x == new.ball_x
    reward = jnp.where(terminated, jnp.where(caught, 1.0, -1.0), 0.0)
    return new, observation(new), reward.astype(jnp.float32), terminated
