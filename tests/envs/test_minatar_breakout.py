"""MinAtar Breakout (envs/jax_envs/breakout.py) against the reference.

The reference is the `minatar` package (pure numpy, Young & Tian, 2019). Its
randomness is one numpy RandomState, which the port cannot share, so the two
are aligned rather than seeded alike:
  * start states: at every episode start the port's state is set from the
    reference's just-reset game; the port then runs free for the whole
    episode and must reproduce every observation, reward, termination and
    internal variable (ball, direction, paddle, bricks, strike flag, trail);
  * sticky actions: with sticky actions on, the reference's draw for each
    step is read from a copy of its RandomState, and the port's game is fed
    the action the reference executed; the port's own sticky draws are
    tested for their frequency and for what they repeat.
Episodes are driven by a mix of random and ball-following policies so that
long episodes (bricks cleared and refilled, consecutive brick hits) are
compared as well as short ones; the test asserts that every rule was
exercised.

Without `minatar` installed the comparisons skip, naming the package; the
port's own tests (start states, sticky actions, time limit, jit/vmap, the
gymnasium adapter) run regardless.
"""
from __future__ import annotations

import copy
import functools
from typing import Any

from absl.testing import absltest
import dm_env
from dm_env import test_utils
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs import gymnasium_adapter
from envs import jax_envs
from envs.jax_envs import breakout

try:
  import minatar  # pylint: disable=g-import-not-at-top
except ImportError:  # the `test` extra installs it
  minatar = None

requires_minatar = pytest.mark.skipif(
    minatar is None,
    reason="the reference implementation is the `minatar` package (pip "
           "install minatar==1.0.15, part of the `test` extra); not installed")

ENV_ID = "MinAtar/Breakout-v1"
NUM_COMPARED_STEPS = 30_000
EPISODE_CAP = 1_000  # reference episodes longer than this are cut and reset
# Per episode, the probability of a random action (else follow the ball):
# from random play (short episodes) to nearly perfect play (long ones).
RANDOM_ACTION_PROBS = (1.0, 0.3, 0.1, 0.03)
_DX = (-1, 1, 1, -1)
_DY = (-1, -1, 1, 1)
_FIELDS = breakout.BreakoutState._fields[:-1]  # all but last_action


# -- the reference, read and driven -------------------------------------------


def _reference(sticky_action_prob: float, seed: int):
  ref = minatar.Environment("breakout", sticky_action_prob=sticky_action_prob)
  ref.seed(seed)
  return ref


def _read(game) -> dict[str, np.ndarray]:
  """The reference game's variables under the port's field names."""
  return dict(ball_x=game.ball_x, ball_y=game.ball_y, ball_dir=game.ball_dir,
              paddle_x=game.pos, bricks=game.brick_map.astype(bool).copy(),
              strike=bool(game.strike), last_x=game.last_x,
              last_y=game.last_y)


def _policy(game, rng: np.random.Generator, random_prob: float) -> int:
  """A minimal-set action: random, or towards the ball's next column."""
  if rng.random() < random_prob:
    return int(rng.integers(3))
  target = min(max(game.ball_x + _DX[game.ball_dir], 0), 9)
  if target > game.pos:
    return breakout.RIGHT
  return breakout.LEFT if target < game.pos else breakout.NO_OP


def _record(sticky_action_prob: float, seed: int, num_steps: int
            ) -> dict[str, np.ndarray]:
  """Plays the reference for `num_steps` steps; per step: the agent's and
  the executed action, whether an episode starts here (and the reference's
  start state), and what the reference returned and became."""
  ref = _reference(sticky_action_prob, seed)
  minimal = ref.minimal_action_set()  # [0, 1, 3]: n, l, r of the six
  rng = np.random.default_rng(seed)
  out: dict[str, list[Any]] = {k: [] for k in (
      "action", "executed", "start", "reward", "terminated", "observation",
      *(f"start_{f}" for f in _FIELDS), *(f"pre_{f}" for f in _FIELDS),
      *(f"post_{f}" for f in _FIELDS))}
  scratch = np.random.RandomState()
  executed = breakout.NO_OP  # a fresh reference's last action
  num_episodes, length = 0, 0
  ref.reset()
  start = _read(ref.env)
  for _ in range(num_steps):
    random_prob = RANDOM_ACTION_PROBS[num_episodes % len(RANDOM_ACTION_PROBS)]
    action = _policy(ref.env, rng, random_prob)
    # The reference's sticky draw is the first use of its RandomState in
    # `act`: read it from a copy.
    scratch.set_state(ref.random.get_state())
    sticky = scratch.rand() < sticky_action_prob
    executed = executed if sticky else action
    pre = _read(ref.env)
    reward, terminated = ref.act(minimal[action])
    assert ref.last_action == minimal[executed]  # the rule as understood
    post = _read(ref.env)
    out["action"].append(action)
    out["executed"].append(executed)
    out["start"].append(length == 0)
    out["reward"].append(reward)
    out["terminated"].append(terminated)
    out["observation"].append(ref.state().copy())
    for f in _FIELDS:
      out[f"start_{f}"].append(start[f])
      out[f"pre_{f}"].append(pre[f])
      out[f"post_{f}"].append(post[f])
    length += 1
    if terminated or length == EPISODE_CAP:
      ref.reset()  # the reference keeps its last action (and so do we)
      start = _read(ref.env)
      num_episodes, length = num_episodes + 1, 0
  return {k: np.asarray(v) for k, v in out.items()}


def _physics(record: dict[str, np.ndarray], prefix: str,
             last_action: Any) -> breakout.BreakoutState:
  return breakout.BreakoutState(
      **{f: jnp.asarray(record[f"{prefix}{f}"]) for f in _FIELDS},
      last_action=jnp.asarray(last_action, jnp.int32))


@functools.lru_cache(maxsize=None)
def _replay_fn():
  """A jitted scan of the port (sticky actions off) over a recorded action
  sequence. At each recorded episode start the port's physics is set to the
  reference's start state (time and return to zero); otherwise the port
  runs on its own, through `Breakout.step` (bookkeeping and auto-reset
  included)."""
  env = breakout.Breakout(sticky_action_prob=0.0)

  def body(state, inputs):
    key, action, start, start_physics = inputs
    start_physics = start_physics._replace(
        last_action=state.physics.last_action)
    state = jax.tree_util.tree_map(
        lambda s, c: jnp.where(start, s, c),
        jax_envs.EnvState(start_physics, jnp.zeros((), jnp.int32),
                          jnp.zeros((), jnp.float32)), state)
    # What the episode's state becomes (before any auto-reset).
    physics, _, _ = breakout.game_step(state.physics, action)
    state, ts = env.step(key, state, action)
    return state, (ts, physics)

  @jax.jit
  def replay(actions, starts, start_physics):
    state, _ = env.reset(jax.random.PRNGKey(0))
    keys = jax.random.split(jax.random.PRNGKey(1), actions.shape[0])
    _, out = jax.lax.scan(body, state, (keys, actions, starts, start_physics))
    return out

  return replay


def _replay(record: dict[str, np.ndarray], actions: np.ndarray):
  start_physics = _physics(record, "start_", np.zeros_like(actions))
  return _replay_fn()(jnp.asarray(actions, jnp.int32),
                      jnp.asarray(record["start"]), start_physics)


def _assert_port_matches(record: dict[str, np.ndarray], ts, physics) -> None:
  """Every step: observation, reward, termination, bookkeeping, variables."""
  np.testing.assert_array_equal(np.asarray(ts.final_observation),
                                record["observation"].astype(np.float32))
  np.testing.assert_array_equal(np.asarray(ts.reward), record["reward"])
  np.testing.assert_array_equal(np.asarray(ts.terminated),
                                record["terminated"])
  assert not np.any(np.asarray(ts.truncated))  # all far below the limit
  for f in _FIELDS:
    np.testing.assert_array_equal(np.asarray(getattr(physics, f)),
                                  record[f"post_{f}"], err_msg=f)
  # The bookkeeping: episode return and length, counted from each start.
  episode = np.cumsum(record["start"]) - 1
  first = np.flatnonzero(record["start"])
  index = np.arange(len(episode))
  np.testing.assert_array_equal(np.asarray(ts.episode_length),
                                index - first[episode] + 1)
  cumulative = np.cumsum(record["reward"])
  before = np.concatenate([[0.0], cumulative])[first][episode]
  np.testing.assert_array_equal(np.asarray(ts.episode_return),
                                cumulative - before)


def _events(record: dict[str, np.ndarray]) -> dict[str, int]:
  """How often each rule of the game fired in the recorded steps."""
  pre = {f: record[f"pre_{f}"] for f in _FIELDS}
  post = {f: record[f"post_{f}"] for f in _FIELDS}
  next_x = pre["ball_x"] + np.take(_DX, pre["ball_dir"])
  next_y = pre["ball_y"] + np.take(_DY, pre["ball_dir"])
  # Row 9 holds no bricks: a step towards it bounces off the paddle (the
  # ball keeps its row) or terminates.
  bounce = (next_y == 9) & ~record["terminated"]
  assert np.all(post["ball_y"][bounce] == pre["ball_y"][bounce])
  straight = bounce & (pre["ball_x"] == post["paddle_x"])
  num_bricks_pre = pre["bricks"].sum(axis=(1, 2))
  num_bricks_post = post["bricks"].sum(axis=(1, 2))
  return dict(
      side_wall=int(np.sum((next_x < 0) | (next_x > 9))),
      top_wall=int(np.sum(next_y < 0)),
      brick_broken=int(np.sum(record["reward"])),
      consecutive_brick_hit=int(np.sum(pre["strike"] & post["strike"]
                                       & (record["reward"] == 0))),
      paddle_straight=int(np.sum(straight)),
      paddle_corner=int(np.sum(bounce & ~straight)),
      bricks_refilled=int(np.sum((num_bricks_pre == 0)
                                 & (num_bricks_post == 30))),
      terminated=int(np.sum(record["terminated"])),
      start_left=int(np.sum(record["start"] & (record["start_ball_x"] == 0))),
      start_right=int(np.sum(record["start"]
                             & (record["start_ball_x"] == 9))))


# -- the port against the reference -------------------------------------------


@requires_minatar
def test_reference_action_set_and_shape():
  ref = _reference(0.0, 0)
  assert ref.minimal_action_set() == [0, 1, 3]  # no-op, left, right
  assert ref.state_shape() == [10, 10, 4]


@requires_minatar
def test_port_reproduces_the_reference_step_for_step():
  """Sticky actions off in both: 30,000 steps, the port free-running within
  each episode, from the reference's start states."""
  record = _record(sticky_action_prob=0.0, seed=0,
                   num_steps=NUM_COMPARED_STEPS)
  ts, physics = _replay(record, record["action"])
  _assert_port_matches(record, ts, physics)
  # Every rule was compared, and more than once.
  events = _events(record)
  assert min(events.values()) >= 2, events
  assert events["terminated"] >= 300 and events["brick_broken"] >= 1000, events


@requires_minatar
def test_port_reproduces_the_reference_with_sticky_actions():
  """The reference with MinAtar's default sticky actions (0.1): the port's
  game, fed the actions the reference executed, follows it step for step,
  and the executed action is the previous one, across episodes too."""
  record = _record(sticky_action_prob=breakout.STICKY_ACTION_PROB, seed=1,
                   num_steps=10_000)
  repeated = record["executed"] != record["action"]
  assert 0.03 < repeated.mean() < 0.1  # 0.1 x (the draws that change it)
  ts, physics = _replay(record, record["executed"])
  _assert_port_matches(record, ts, physics)
  # Some episode started with a sticky action repeating the last one of the
  # episode before (the reference does not clear it on reset).
  starts = np.flatnonzero(record["start"])[1:]
  carried = (record["executed"][starts] != record["action"][starts]) & (
      record["executed"][starts] == record["executed"][starts - 1])
  assert carried.sum() >= 1


@requires_minatar
def test_start_states_are_the_reference_starts():
  ref = _reference(0.0, 0)
  reference_starts = {}
  for _ in range(50):
    ref.reset()
    reference_starts[ref.env.ball_x] = (_read(ref.env), ref.state().copy())
  assert sorted(reference_starts) == [0, 9]
  env = breakout.Breakout()
  physics, obs = jax.jit(jax.vmap(env.reset_physics))(
      jax.random.split(jax.random.PRNGKey(0), 2000))
  ball_x = np.asarray(physics.ball_x)
  assert set(ball_x.tolist()) == {0, 9}
  assert abs(np.mean(ball_x == 9) - 0.5) < 0.045  # a fair coin, 4 sigma
  for i in (int(np.argmax(ball_x == 0)), int(np.argmax(ball_x == 9))):
    variables, state = reference_starts[int(ball_x[i])]
    np.testing.assert_array_equal(np.asarray(obs[i]),
                                  state.astype(np.float32))
    for f in _FIELDS:
      np.testing.assert_array_equal(np.asarray(getattr(physics, f))[i],
                                    variables[f], err_msg=f)
  assert np.all(np.asarray(physics.last_action) == breakout.NO_OP)


# -- sticky actions in the port ---------------------------------------------


def _one_step_paddles(sticky_action_prob: float, num: int) -> np.ndarray:
  """The paddle's column after one step from column 4, the last executed
  action LEFT and the agent's action RIGHT, in `num` independent envs."""
  env = breakout.Breakout(sticky_action_prob=sticky_action_prob)
  physics = breakout.start_state(False)._replace(
      last_action=jnp.int32(breakout.LEFT))
  state = jax_envs.EnvState(physics, jnp.int32(0), jnp.float32(0.0))

  def one(key):
    next_state, ts = env.step(key, state, jnp.int32(breakout.RIGHT))
    return (jnp.argmax(ts.final_observation[9, :, breakout.PADDLE]),
            next_state.physics.last_action)

  paddle, executed = jax.jit(jax.vmap(one))(
      jax.random.split(jax.random.PRNGKey(0), num))
  paddle, executed = np.asarray(paddle), np.asarray(executed)
  # The state remembers the action that moved the paddle.
  np.testing.assert_array_equal(
      executed, np.where(paddle == 3, breakout.LEFT, breakout.RIGHT))
  return paddle


def test_sticky_actions_repeat_the_last_action_with_their_probability():
  num = 20_000
  paddle = _one_step_paddles(breakout.STICKY_ACTION_PROB, num)
  assert set(paddle.tolist()) == {3, 5}
  repeated = np.mean(paddle == 3)
  sigma = np.sqrt(0.1 * 0.9 / num)
  assert abs(repeated - 0.1) < 4 * sigma, repeated
  assert np.all(_one_step_paddles(0.0, 1000) == 5)
  assert np.all(_one_step_paddles(1.0, 1000) == 3)


def test_the_last_action_carries_over_an_auto_reset():
  env = breakout.Breakout(sticky_action_prob=0.0)
  # The ball one step above the bottom row, the paddle far away: the step
  # terminates.
  physics = breakout.start_state(False)._replace(
      ball_x=jnp.int32(0), ball_y=jnp.int32(8), ball_dir=jnp.int32(2),
      paddle_x=jnp.int32(9))
  state = jax_envs.EnvState(physics, jnp.int32(5), jnp.float32(2.0))
  next_state, ts = jax.jit(env.step)(jax.random.PRNGKey(0), state,
                                     jnp.int32(breakout.RIGHT))
  assert bool(ts.terminated) and not bool(ts.truncated)
  assert float(ts.reward) == 0.0 and float(ts.episode_return) == 2.0
  assert int(ts.episode_length) == 6
  final = np.asarray(ts.final_observation)
  assert final[9, 1, breakout.BALL] == 1.0  # the ball reached the bottom
  # A fresh episode, which remembers the action just executed...
  assert int(next_state.time) == 0
  assert int(next_state.physics.ball_y) == breakout.BALL_START_ROW
  assert int(next_state.physics.paddle_x) == breakout.PADDLE_START
  assert int(next_state.physics.last_action) == breakout.RIGHT
  np.testing.assert_array_equal(ts.observation,
                                breakout.observation(next_state.physics))
  # ...and repeats it when the next step is sticky.
  always = breakout.Breakout(sticky_action_prob=1.0)
  _, ts2 = jax.jit(always.step)(jax.random.PRNGKey(1), next_state,
                                jnp.int32(breakout.LEFT))
  paddle = np.asarray(ts2.final_observation)[9, :, breakout.PADDLE]
  assert paddle[breakout.PADDLE_START + 1] == 1.0
  # A reset from nothing starts with the no-op as the last action.
  fresh, _ = env.reset(jax.random.PRNGKey(2))
  assert int(fresh.physics.last_action) == breakout.NO_OP


# -- time limit, jit and vmap, the registry ------------------------------------


def _follow_the_ball(physics: breakout.BreakoutState) -> jax.Array:
  target = jnp.clip(physics.ball_x + jnp.asarray(_DX)[physics.ball_dir], 0, 9)
  return jnp.where(target > physics.paddle_x, breakout.RIGHT,
                   jnp.where(target < physics.paddle_x, breakout.LEFT,
                             breakout.NO_OP)).astype(jnp.int32)


def test_a_paddle_that_follows_the_ball_is_truncated_at_the_time_limit():
  """Without sticky actions a paddle that follows the ball never misses:
  the episode ends only by the time limit (10,000 steps; the reference has
  none), as a truncation."""
  env = breakout.Breakout(sticky_action_prob=0.0)
  limit = env.max_episode_steps
  assert limit == 10_000
  num_steps = limit + 5

  @jax.jit
  def rollout(key):
    state, _ = env.reset(key)

    def body(state, key):
      state, ts = env.step(key, state, _follow_the_ball(state.physics))
      return state, (ts.reward, ts.terminated, ts.truncated,
                     ts.episode_length, ts.episode_return)

    return jax.lax.scan(body, state, jax.random.split(key, num_steps))

  final_state, (reward, terminated, truncated, length, ret) = rollout(
      jax.random.PRNGKey(0))
  truncated = np.asarray(truncated)
  assert not np.any(np.asarray(terminated))
  assert truncated[limit - 1] and truncated.sum() == 1
  assert int(length[limit - 1]) == limit and int(length[limit]) == 1
  assert float(ret[limit - 1]) == float(np.sum(np.asarray(reward)[:limit]))
  assert float(ret[limit - 1]) > 0
  assert int(final_state.time) == num_steps - limit


def test_termination_at_the_time_limit_is_not_a_truncation():
  env = breakout.Breakout(sticky_action_prob=0.0)
  physics = breakout.start_state(False)._replace(
      ball_x=jnp.int32(0), ball_y=jnp.int32(8), ball_dir=jnp.int32(2),
      paddle_x=jnp.int32(9))
  state = jax_envs.EnvState(physics, jnp.int32(env.max_episode_steps - 1),
                            jnp.float32(0.0))
  _, ts = jax.jit(env.step)(jax.random.PRNGKey(0), state,
                            jnp.int32(breakout.NO_OP))
  assert bool(ts.terminated) and not bool(ts.truncated)
  assert int(ts.episode_length) == env.max_episode_steps


def test_jit_and_vmap_over_many_envs():
  env = jax_envs.make(ENV_ID)
  num_envs, num_steps = 64, 40

  def one_env(key):
    state, obs0 = env.reset(key)

    def body(state, key):
      action_key, step_key = jax.random.split(key)
      action = jax.random.randint(action_key, (), 0, 3, jnp.int32)
      return env.step(step_key, state, action)

    state, ts = jax.lax.scan(body, state, jax.random.split(key, num_steps))
    return obs0, state, ts

  keys = jax.random.split(jax.random.PRNGKey(0), num_envs)
  obs0, state, ts = jax.jit(jax.vmap(one_env))(keys)
  shape = (10, 10, 4)
  assert env.observation_spec().shape == shape
  assert obs0.shape == (num_envs,) + shape and obs0.dtype == jnp.float32
  assert ts.observation.shape == (num_envs, num_steps) + shape
  assert ts.final_observation.dtype == jnp.float32
  assert ts.reward.dtype == jnp.float32
  assert ts.terminated.dtype == jnp.bool_ and ts.truncated.dtype == jnp.bool_
  assert ts.episode_length.dtype == jnp.int32 and state.time.dtype == jnp.int32
  obs = np.asarray(ts.observation)
  assert set(np.unique(obs).tolist()) <= {0.0, 1.0}
  # One paddle (in the bottom row), one ball and one trail cell always.
  for channel in (breakout.PADDLE, breakout.BALL, breakout.TRAIL):
    assert np.all(obs[..., channel].sum(axis=(-1, -2)) == 1)
  assert np.all(obs[..., 9, :, breakout.PADDLE].sum(axis=-1) == 1)
  # Random play: episodes end (by termination only), bricks get broken, and
  # both start columns occur.
  assert np.any(np.asarray(ts.terminated))
  assert not np.any(np.asarray(ts.truncated))
  assert np.asarray(ts.reward).sum() > 0
  assert set(np.asarray(obs0[:, 3, :, breakout.BALL]).argmax(-1).tolist()) == {
      0, 9}


def test_registered_under_the_reference_gymnasium_id():
  assert ENV_ID in jax_envs.registered_ids()
  env = jax_envs.make(ENV_ID)
  assert isinstance(env, breakout.Breakout) and env.env_id == ENV_ID
  assert env.sticky_action_prob == 0.1  # MinAtar's default
  assert env.action_spec().num_values == 3
  with pytest.raises(ValueError, match="sticky_action_prob"):
    breakout.Breakout(sticky_action_prob=1.5)


# -- the gymnasium adapter: the same environment for --runner single ---------


def test_the_adapter_serves_the_jax_environment():
  env = gymnasium_adapter.make_environment(ENV_ID, seed=0)
  assert isinstance(env.gym_env, gymnasium_adapter.JaxGymnasiumEnv)
  ours = jax_envs.make(ENV_ID).environment_spec()
  theirs = gymnasium_adapter.make_environment_spec(env)
  assert theirs.observations.shape == ours.observations.shape == (10, 10, 4)
  assert theirs.observations.dtype == ours.observations.dtype == np.float32
  np.testing.assert_array_equal(theirs.observations.minimum, 0.0)
  np.testing.assert_array_equal(theirs.observations.maximum, 1.0)
  assert theirs.actions == ours.actions
  env.close()
  # Ids gymnasium knows stay gymnasium's own environments.
  cartpole = gymnasium_adapter.make_environment("CartPole-v1")
  assert not isinstance(cartpole.gym_env.unwrapped,
                        gymnasium_adapter.JaxGymnasiumEnv)
  cartpole.close()


def test_adapter_episodes_are_the_jax_environment_episodes():
  """The adapter steps `Breakout.step` with keys from the gymnasium env's
  np_random: replaying those keys in JAX gives the same episodes (sticky
  actions, auto-reset state carried into the next reset, terminations)."""
  seed, num_steps = 3, 300
  env = gymnasium_adapter.make_environment(ENV_ID, seed=seed)
  rng = np.random.default_rng(0)
  actions = rng.integers(3, size=num_steps)
  steps = [env.reset()]
  for a in actions:
    steps.append(env.step(a))

  jax_env = breakout.Breakout()
  step, reset = jax.jit(jax_env.step), jax.jit(jax_env.reset)
  np_random, _ = gym.utils.seeding.np_random(seed)
  key = lambda: np_random.integers(0, 2**32, size=2, dtype=np.uint32)
  state, obs = reset(key())
  np.testing.assert_array_equal(steps[0].observation, obs)
  num_last = 0
  for a, theirs in zip(actions, steps[1:]):
    if theirs.first():  # the adapter's step after LAST: a reset, no step
      np.testing.assert_array_equal(theirs.observation, ts.observation)
      continue
    state, ts = step(key(), state, jnp.int32(a))
    np.testing.assert_array_equal(theirs.observation, ts.final_observation)
    assert theirs.reward == np.float32(ts.reward)
    assert theirs.last() == bool(ts.terminated | ts.truncated)
    if theirs.last():
      num_last += 1
      assert theirs.discount == (0.0 if bool(ts.terminated) else 1.0)
  assert num_last >= 5
  env.close()


def test_adapter_seeds_and_restores_its_randomness():
  def observations(env, n=60):
    return np.stack([env.step(i % 3).observation for i in range(n)])

  def seeded(seed):
    env = gymnasium_adapter.make_environment(ENV_ID, seed=seed)
    return env, env.reset().observation

  (a, a0), (b, b0), (c, c0) = seeded(7), seeded(7), seeded(8)
  np.testing.assert_array_equal(a0, b0)
  np.testing.assert_array_equal(observations(a), observations(b))
  assert not np.array_equal(observations(a), observations(c))
  # What the single-process runner does on --resume: reset with the run's
  # seed, then restore np_random's saved state; the steps that follow
  # are the ones the saved state drew.
  env, _ = seeded(1)
  saved = copy.deepcopy(env.gym_env.unwrapped.np_random.bit_generator.state)
  first = observations(env)
  resumed, _ = seeded(1)
  resumed.gym_env.unwrapped.np_random.bit_generator.state = saved
  np.testing.assert_array_equal(observations(resumed), first)


def test_adapter_truncation_and_constructor_arguments():
  env = gymnasium_adapter.make_environment(ENV_ID, seed=0,
                                           max_episode_steps=3,
                                           sticky_action_prob=0.0)
  assert env.gym_env.unwrapped.jax_env.sticky_action_prob == 0.0
  steps = [env.reset()] + [env.step(0) for _ in range(3)]
  assert [s.step_type for s in steps] == [
      dm_env.StepType.FIRST, dm_env.StepType.MID, dm_env.StepType.MID,
      dm_env.StepType.LAST]
  assert steps[-1].discount == 1.0  # a time limit is not a terminal state
  assert env.step(0).first()


class BreakoutAdapterConformanceTest(test_utils.EnvironmentTestMixin,
                                     absltest.TestCase):
  """dm_env's conformance suite on the adapter, over several episodes."""

  def make_object_under_test(self):
    return gymnasium_adapter.make_environment(ENV_ID, seed=0)

  def make_action_sequence(self):
    rng = np.random.default_rng(0)
    for _ in range(100):  # random play: episodes last about 10 steps
      yield np.int32(rng.integers(3))

  def test_termination_has_discount_zero(self):
    self.reset_environment()
    for _ in range(200):
      step = self.step_environment(np.int32(breakout.NO_OP))
      if step.last():
        break
    self.assertIs(dm_env.StepType.LAST, step.step_type)
    self.assertEqual(0.0, step.discount)
    self.assertIs(dm_env.StepType.FIRST, self.step_environment().step_type)
