"""MinAtar Breakout as a pure JAX function.

The Breakout game of Young & Tian (2019), "MinAtar: An Atari-Inspired
Testbed for Thorough and Reproducible Reinforcement Learning Experiments",
with the rules of the reference implementation (the `minatar` package,
version 1.0.15: `minatar/environments/breakout.py` and the sticky actions of
`minatar/environment.py`). tests/envs/test_minatar_breakout.py replays the
reference step for step.

A 10 x 10 board (row 0 at the top). A paddle moves along the bottom row
(row 9), starting in column 4. Bricks fill rows 1 to 3. The ball starts in
row 3, either in column 0 moving down-right or in column 9 moving down-left
(one fair coin), and always moves one cell diagonally per step: directions
0, 1, 2, 3 are up-left, up-right, down-right, down-left. One step:

  1. The paddle moves one column (actions 0 no-op, 1 left, 2 right: the
     reference's minimal action set, its actions n, l, r), clipped to the
     board.
  2. The ball's next cell is its cell plus its direction. A next column off
     the board is clipped back onto it and the horizontal direction flips
     (a wall bounce). Then the first of these that applies:
     * the next row is off the top: the ball stays in row 0 and the
       vertical direction flips;
     * the next cell holds a brick: unless the previous step's next cell
       held one too, the brick breaks (reward +1), the ball stays in its
       current row and the vertical direction flips; otherwise the ball
       moves into the brick's cell, which keeps its brick, and keeps its
       direction (the reference's "strike" flag: no bricks broken on two
       consecutive steps);
     * the next row is the bottom row: if no bricks are left, rows 1 to 3
       are filled again; then if the paddle (after this step's move) is in
       the ball's current column, the ball stays in its current row and the
       vertical direction flips; else if the paddle is in the ball's next
       column, the ball stays in its current row and both directions flip;
       otherwise the ball reaches the bottom row and the episode terminates.
  Every step's reward is the number of bricks broken (0 or 1).

Sticky actions: before each step, with probability `sticky_action_prob`
(MinAtar's default 0.1) the action taken is the one executed on the
previous step instead of the agent's (MinAtar's `Environment.act`). As in
the reference, that previous action carries over from one episode to the
next (`Environment.reset` does not clear it); a fresh environment's is the
no-op. `step_physics` is the game alone (the reference's `Env.act`); `step`
adds the sticky actions.

Observation: float32 (10, 10, 4), 1 where something is, 0 elsewhere, with
the reference's channels: 0 paddle, 1 ball, 2 trail (the ball's cell before
this step, which shows its direction), 3 bricks. The reference's is the same
array as bool (flattening is the agent's job).

Id: the reference registers its gymnasium environments as
`MinAtar/Breakout-v0` (all six MinAtar actions) and `MinAtar/Breakout-v1`
(the minimal set of three); this is `MinAtar/Breakout-v1`.

Time limit: the reference sets none (its gymnasium registration has no
`max_episode_steps`), but an episode need not end: without sticky actions a
paddle that simply follows the ball never misses. Relay truncates episodes
after 10,000 steps (a truncation: value targets still bootstrap), so that
every episode and every evaluation ends; the all-on-accelerator runner's
evaluation runs that many steps. Random play ends after about 10 steps
(mean return 0.4), so the limit binds only for a nearly perfect player.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from building_blocks import specs
from envs.jax_envs import base

SIZE = 10
NUM_CHANNELS = 4
PADDLE, BALL, TRAIL, BRICK = range(NUM_CHANNELS)
BRICK_ROWS = (1, 2, 3)
PADDLE_START = 4
BALL_START_ROW = 3
STICKY_ACTION_PROB = 0.1
NO_OP, LEFT, RIGHT = 0, 1, 2

# Directions 0..3: up-left, up-right, down-right, down-left.
_DX = np.array([-1, 1, 1, -1], np.int32)
_DY = np.array([-1, -1, 1, 1], np.int32)
_FLIP_X = np.array([1, 0, 3, 2], np.int32)   # off a side wall
_FLIP_Y = np.array([3, 2, 1, 0], np.int32)   # off the top, a brick, the paddle
_FLIP_XY = np.array([2, 3, 0, 1], np.int32)  # off the paddle's corner

START_BRICKS = np.isin(np.arange(SIZE), BRICK_ROWS)[:, None] & np.ones(
    (1, SIZE), bool)


class BreakoutState(NamedTuple):
  ball_x: jax.Array       # int32 column of the ball
  ball_y: jax.Array       # int32 row of the ball (0 = top)
  ball_dir: jax.Array     # int32 direction, 0..3 (see the module docstring)
  paddle_x: jax.Array     # int32 column of the paddle (always in row 9)
  bricks: jax.Array       # bool (10, 10), True where a brick is
  strike: jax.Array       # bool: the last step's next cell held a brick
  last_x: jax.Array       # int32 column of the ball before the last step
  last_y: jax.Array       # int32 row of the ball before the last step
  last_action: jax.Array  # int32 action executed on the last step


def _cell(row: jax.Array, column: jax.Array) -> jax.Array:
  """A bool (10, 10) board, True only at (row, column)."""
  index = jnp.arange(SIZE)
  return (index[:, None] == row) & (index[None, :] == column)


def observation(s: BreakoutState) -> jax.Array:
  """The reference's `state()`: (10, 10, 4) float32 with 0/1 entries."""
  channels = [None] * NUM_CHANNELS
  channels[PADDLE] = _cell(SIZE - 1, s.paddle_x)
  channels[BALL] = _cell(s.ball_y, s.ball_x)
  channels[TRAIL] = _cell(s.last_y, s.last_x)
  channels[BRICK] = s.bricks
  return jnp.stack(channels, axis=-1).astype(jnp.float32)


def start_state(right: jax.Array) -> BreakoutState:
  """The start state: the ball in column 9 moving down-left if `right`, else
  in column 0 moving down-right."""
  right = jnp.asarray(right, jnp.bool_)
  ball_x = jnp.where(right, SIZE - 1, 0).astype(jnp.int32)
  ball_y = jnp.full((), BALL_START_ROW, jnp.int32)
  return BreakoutState(
      ball_x=ball_x, ball_y=ball_y,
      ball_dir=jnp.where(right, 3, 2).astype(jnp.int32),
      paddle_x=jnp.full((), PADDLE_START, jnp.int32),
      bricks=jnp.asarray(START_BRICKS), strike=jnp.zeros((), jnp.bool_),
      last_x=ball_x, last_y=ball_y,
      last_action=jnp.full((), NO_OP, jnp.int32))


def sticky_action(key: jax.Array, last_action: jax.Array, action: jax.Array,
                  prob: float) -> jax.Array:
  """The executed action: `last_action` with probability `prob`, else
  `action` (MinAtar's `Environment.act`)."""
  repeat = jax.random.uniform(key) < prob
  return jnp.where(repeat, last_action, action).astype(jnp.int32)


def game_step(s: BreakoutState, action: jax.Array
              ) -> tuple[BreakoutState, jax.Array, jax.Array]:
  """One step of the game, no sticky actions (the reference's `Env.act`).

  Returns (state, reward, terminated); `last_action` is left unchanged.
  Actions other than LEFT and RIGHT are no-ops.
  """
  action = jnp.asarray(action, jnp.int32)
  move = jnp.where(action == LEFT, -1, jnp.where(action == RIGHT, 1, 0))
  paddle_x = jnp.clip(s.paddle_x + move, 0, SIZE - 1)

  direction = s.ball_dir
  new_x = s.ball_x + jnp.asarray(_DX)[direction]
  new_y = s.ball_y + jnp.asarray(_DY)[direction]
  off_side = (new_x < 0) | (new_x > SIZE - 1)
  new_x = jnp.clip(new_x, 0, SIZE - 1)
  direction = jnp.where(off_side, jnp.asarray(_FLIP_X)[direction], direction)

  # The reference's if / elif chain: the top, else a brick, else the bottom.
  off_top = new_y < 0
  target = _cell(new_y, new_x)  # all False when off the top
  on_brick = jnp.any(s.bricks & target)
  breaks = on_brick & ~s.strike
  bricks = s.bricks & ~(target & breaks)
  at_bottom = ~off_top & ~on_brick & (new_y == SIZE - 1)
  bricks = jnp.where(at_bottom & ~jnp.any(bricks), jnp.asarray(START_BRICKS),
                     bricks)
  straight = at_bottom & (s.ball_x == paddle_x)
  corner = at_bottom & ~straight & (new_x == paddle_x)
  terminated = at_bottom & ~straight & ~corner

  direction = jnp.where(off_top | breaks | straight,
                        jnp.asarray(_FLIP_Y)[direction], direction)
  direction = jnp.where(corner, jnp.asarray(_FLIP_XY)[direction], direction)
  new_y = jnp.where(off_top, 0,
                    jnp.where(breaks | straight | corner, s.ball_y, new_y))
  new = BreakoutState(
      ball_x=new_x.astype(jnp.int32), ball_y=new_y.astype(jnp.int32),
      ball_dir=direction.astype(jnp.int32),
      paddle_x=paddle_x.astype(jnp.int32), bricks=bricks,
      strike=on_brick, last_x=s.ball_x, last_y=s.ball_y,
      last_action=s.last_action)
  return new, breaks.astype(jnp.float32), terminated


class Breakout(base.JaxEnvironment):
  """MinAtar Breakout, minimal action set (no-op, left, right)."""

  env_id = "MinAtar/Breakout-v1"
  max_episode_steps = 10_000  # Relay's bound; the reference sets none

  def __init__(self, sticky_action_prob: float = STICKY_ACTION_PROB):
    if not 0.0 <= sticky_action_prob <= 1.0:
      raise ValueError(
          f"sticky_action_prob must be in [0, 1], got {sticky_action_prob}.")
    self.sticky_action_prob = float(sticky_action_prob)

  def observation_spec(self) -> specs.BoundedArray:
    return specs.BoundedArray(shape=(SIZE, SIZE, NUM_CHANNELS),
                              dtype=np.float32, minimum=0.0, maximum=1.0,
                              name="observation")

  def action_spec(self) -> specs.DiscreteArray:
    return specs.DiscreteArray(num_values=3, dtype=np.int32, name="action")

  def reset_physics(self, key: jax.Array
                    ) -> tuple[BreakoutState, jax.Array]:
    physics = start_state(jax.random.bernoulli(key))
    return physics, observation(physics)

  def step_physics(self, key: jax.Array, physics: BreakoutState,
                   action: jax.Array
                   ) -> tuple[BreakoutState, jax.Array, jax.Array, jax.Array]:
    del key  # the game is deterministic; `step` draws the sticky actions
    new, reward, terminated = game_step(physics, action)
    return new, observation(new), reward, terminated

  def step(self, key: jax.Array, state: base.EnvState, action: jax.Array
           ) -> tuple[base.EnvState, base.TimeStep]:
    """A sticky action, the game step, the time limit and the auto-reset;
    the executed action is remembered across the auto-reset."""
    sticky_key, key = jax.random.split(key)
    executed = sticky_action(sticky_key, state.physics.last_action,
                             jnp.asarray(action, jnp.int32),
                             self.sticky_action_prob)
    next_state, timestep = super().step(key, state, executed)
    physics = next_state.physics._replace(last_action=executed)
    return next_state._replace(physics=physics), timestep

  def __repr__(self) -> str:
    return (f"{type(self).__name__}({self.env_id}, "
            f"sticky_action_prob={self.sticky_action_prob})")
