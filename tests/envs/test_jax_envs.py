"""JAX-native environments: transitions against the originals, bookkeeping.

Every gymnasium-backed environment is checked transition by transition
against gymnasium itself: before each step the JAX physics is set from
gymnasium's current state, so a chaotic system (Acrobot) is compared one
transition at a time and not after float32/float64 differences have grown.
Now and then gymnasium is moved to a random or hand-picked edge state (walls,
goals, thresholds, velocity limits, angle wrap-around) so that terminations
and clipping are compared too, not only what random actions happen to reach.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from building_blocks import errors
from building_blocks import specs
from envs import gymnasium_adapter
from envs import jax_envs
from envs.jax_envs import acrobot
from envs.jax_envs import cartpole
from envs.jax_envs import catch
from envs.jax_envs import mountain_car
from envs.jax_envs import pendulum

# float32 against gymnasium's float64: one transition loses a few float32
# ulps (~1e-7 relative), so 1e-5 leaves two orders of magnitude of margin.
RTOL = 1e-5
ATOL = 1e-5
NUM_SYNCED_STEPS = 200
PI = math.pi


@dataclasses.dataclass(frozen=True)
class _Case:
  env_id: str
  physics: Any                          # the env's physics NamedTuple class
  box: tuple[tuple[float, float], ...]  # random teleport box, per component
  edges: tuple[tuple[float, ...], ...]  # hand-picked states to step from
  can_terminate: bool = True
  tolerance: float = 1e-5               # rtol and atol for the worst step


_CASES = [
    _Case("CartPole-v1", cartpole.CartPoleState,
          box=((-2.4, 2.4), (-2.0, 2.0), (-0.2, 0.2), (-2.0, 2.0)),
          edges=((2.39, 1.0, 0.0, 0.0), (-2.39, -1.0, 0.0, 0.0),
                 (0.0, 0.0, 0.2, 1.0), (0.0, 0.0, -0.2, -1.0))),
    _Case("Acrobot-v1", acrobot.AcrobotState,
          box=((-PI, PI), (-PI, PI), (-4 * PI, 4 * PI), (-9 * PI, 9 * PI)),
          edges=((PI, 0.0, 0.0, 0.0), (0.0, 0.0, 4 * PI, 9 * PI),
                 (3.1, 0.1, 12.0, 28.0), (-3.1, -3.0, -12.0, -28.0)),
          # Conditioning, not a model error: near the velocity limits (up to
          # 9 pi rad/s, most of a turn per 0.2 s RK4 step) one transition
          # amplifies float32 rounding ~1000-fold. From (-2.622, 1.908,
          # 4.479, 28.274), merely rounding the *input* to float32 moves
          # gymnasium's own float64 dtheta2 by 5e-5, and our float32 result
          # is 2e-5 to 2e-4 off depending on how XLA fuses the ops; the same
          # code run in float64 matches gymnasium to 1e-8. Over 5 seeds the
          # worst step is off by 1.7e-4 * (1 + |x|); the test below still
          # requires nearly all steps (99.5% seen) to meet 1e-5.
          tolerance=5e-4),
    _Case("MountainCar-v0", mountain_car.MountainCarState,
          box=((-1.2, 0.6), (-0.07, 0.07)),
          edges=((-1.19, -0.05), (0.49, 0.02), (0.59, 0.07), (-1.2, 0.0))),
    _Case("MountainCarContinuous-v0", mountain_car.MountainCarState,
          box=((-1.2, 0.6), (-0.07, 0.07)),
          edges=((-1.19, -0.05), (0.44, 0.02), (0.59, 0.07), (-1.2, 0.0))),
    _Case("Pendulum-v1", pendulum.PendulumState,
          box=((-3 * PI, 3 * PI), (-8.0, 8.0)),
          edges=((PI, 0.0), (10.0, 8.0), (-7.0, -8.0), (0.0, 0.0)),
          can_terminate=False),
]
_CASE_IDS = [c.env_id for c in _CASES]


@functools.lru_cache(maxsize=None)
def _jitted_step(env_id: str):
  """One compiled `step` per environment id, shared by the tests."""
  return jax.jit(jax_envs.make(env_id).step)


def _gym_state(env: gym.Env) -> np.ndarray:
  return np.asarray(env.unwrapped.state, dtype=np.float64).copy()


def _set_gym_state(env: gym.Env, state: np.ndarray) -> None:
  env.unwrapped.state = np.asarray(state, dtype=np.float64)
  if hasattr(env.unwrapped, "steps_beyond_terminated"):
    env.unwrapped.steps_beyond_terminated = None  # CartPole's "stepped after
    # termination" bookkeeping: the new state is a live one.


def _random_action(env: jax_envs.JaxEnvironment, rng: np.random.Generator):
  spec = env.action_spec()
  if isinstance(spec, specs.DiscreteArray):
    return np.int32(rng.integers(spec.num_values))
  # Up to 1.5x beyond the bounds, so that clipping is compared as well.
  return rng.uniform(1.5 * spec.minimum, 1.5 * spec.maximum).astype(np.float32)


def _gym_action(action):
  return int(action) if np.ndim(action) == 0 else np.asarray(action)


def _physics_batch(case: _Case, states: np.ndarray):
  """(N, components) float64 array -> physics NamedTuple of (N,) float32."""
  return case.physics(*jnp.asarray(states.T, dtype=jnp.float32))


@pytest.mark.parametrize("case", _CASES, ids=_CASE_IDS)
def test_transitions_match_gymnasium(case: _Case):
  env = jax_envs.make(case.env_id)
  gym_env = gym.make(case.env_id, disable_env_checker=True)
  rng = np.random.default_rng(0)
  gym_env.reset(seed=0)
  pre_states, actions, obs, rewards, terms = [], [], [], [], []
  for i in range(NUM_SYNCED_STEPS):
    if i % 25 == 5:
      _set_gym_state(gym_env, case.edges[(i // 25) % len(case.edges)])
    elif rng.random() < 0.2:
      _set_gym_state(gym_env, [rng.uniform(lo, hi) for lo, hi in case.box])
    action = _random_action(env, rng)
    pre_states.append(_gym_state(gym_env))
    o, r, terminated, truncated, _ = gym_env.step(_gym_action(action))
    actions.append(action)
    obs.append(o)
    rewards.append(r)
    terms.append(terminated)
    if terminated or truncated:
      gym_env.reset()
  gym_env.close()

  keys = jax.random.split(jax.random.PRNGKey(0), NUM_SYNCED_STEPS)
  step = jax.jit(jax.vmap(env.step_physics))
  _, j_obs, j_rewards, j_terms = step(
      keys, _physics_batch(case, np.stack(pre_states)), jnp.asarray(
          np.stack(actions)))

  assert j_obs.dtype == jnp.float32 and j_rewards.dtype == jnp.float32
  obs, rewards = np.stack(obs), np.asarray(rewards, np.float32)
  tol = case.tolerance
  np.testing.assert_allclose(j_obs, obs, rtol=tol, atol=tol)
  np.testing.assert_allclose(j_rewards, rewards, rtol=tol, atol=tol)
  # Nearly every transition meets the tight float32 tolerance.
  close = np.all(np.isclose(j_obs, obs, rtol=RTOL, atol=ATOL), axis=-1)
  assert close.mean() >= 0.97, f"{close.mean():.3f} of steps within {RTOL}"
  np.testing.assert_array_equal(j_terms, np.asarray(terms))
  # The comparison covered terminations where the task has them.
  assert any(terms) == case.can_terminate


# CartPole and MountainCar stay within 1e-6 of gymnasium for whole episodes.
# A swinging pendulum driven by random torques spreads nearby trajectories
# apart: float32 rounding grows about tenfold every 50 steps (1e-4 after
# 200), so Pendulum is followed for its first 50 steps only.
@pytest.mark.parametrize("env_id,num_steps", [
    ("CartPole-v1", 300), ("MountainCar-v0", 200), ("Pendulum-v1", 50)])
def test_free_running_trajectory_stays_close_to_gymnasium(env_id, num_steps):
  """The JAX state runs on its own (synchronised only at episode starts)."""
  case = _CASES[_CASE_IDS.index(env_id)]
  env = jax_envs.make(env_id)
  gym_env = gym.make(env_id, disable_env_checker=True)
  step = jax.jit(env.step_physics)
  key = jax.random.PRNGKey(0)
  rng = np.random.default_rng(1)
  gym_env.reset(seed=1)
  physics = case.physics(*jnp.asarray(_gym_state(gym_env), jnp.float32))
  for t in range(num_steps):
    action = _random_action(env, rng)
    o, r, terminated, truncated, _ = gym_env.step(_gym_action(action))
    physics, j_o, j_r, j_terminated = step(key, physics, action)
    np.testing.assert_allclose(j_o, o, rtol=RTOL, atol=ATOL,
                               err_msg=f"step {t}")
    np.testing.assert_allclose(j_r, r, rtol=RTOL, atol=ATOL,
                               err_msg=f"step {t}")
    assert bool(j_terminated) == terminated, f"step {t}"
    if terminated or truncated:
      gym_env.reset()
      physics = case.physics(*jnp.asarray(_gym_state(gym_env), jnp.float32))
  gym_env.close()


@pytest.mark.parametrize("case", _CASES, ids=_CASE_IDS)
def test_specs_match_the_gymnasium_adapter(case: _Case):
  ours = jax_envs.make(case.env_id).environment_spec()
  theirs = gymnasium_adapter.make_environment_spec(
      gymnasium_adapter.make_environment(case.env_id))
  for a, b in ((ours.observations, theirs.observations),
               (ours.actions, theirs.actions), (ours.rewards, theirs.rewards),
               (ours.discounts, theirs.discounts)):
    assert type(a) is type(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    if isinstance(a, specs.BoundedArray):
      np.testing.assert_array_equal(a.minimum, b.minimum)
      np.testing.assert_array_equal(a.maximum, b.maximum)
  assert jax_envs.make(case.env_id).max_episode_steps == (
      gym.spec(case.env_id).max_episode_steps)


@pytest.mark.parametrize("case", _CASES, ids=_CASE_IDS)
def test_start_states_follow_gymnasium_distribution(case: _Case):
  env = jax_envs.make(case.env_id)
  physics, obs = jax.jit(jax.vmap(env.reset_physics))(
      jax.random.split(jax.random.PRNGKey(3), 512))
  starts = np.stack([np.asarray(v) for v in physics], axis=-1)
  gym_env = gym.make(case.env_id, disable_env_checker=True)
  gym_starts = []
  for seed in range(64):
    gym_env.reset(seed=seed)
    gym_starts.append(_gym_state(gym_env))
  gym_starts = np.stack(gym_starts)
  # Same support: every component lies in gymnasium's reset range...
  lo = np.min(gym_starts, axis=0) - 0.05 * np.ptp(gym_starts, axis=0)
  hi = np.max(gym_starts, axis=0) + 0.05 * np.ptp(gym_starts, axis=0)
  assert np.all(starts >= lo - 1e-6) and np.all(starts <= hi + 1e-6)
  # ...and the random components spread over most of it (uniform draws).
  spread = np.ptp(starts, axis=0) >= 0.9 * np.ptp(gym_starts, axis=0)
  assert np.all(spread)
  assert obs.shape == (512,) + env.observation_spec().shape


def test_auto_reset_after_termination():
  step = _jitted_step("CartPole-v1")
  key = jax.random.PRNGKey(0)
  # One step from the right edge, moving right: terminates by position.
  state = jax_envs.EnvState(
      physics=cartpole.CartPoleState(*jnp.array([2.39, 1.0, 0.0, 0.0])),
      time=jnp.int32(7), episode_return=jnp.float32(7.0))
  next_state, ts = step(key, state, jnp.int32(1))
  assert bool(ts.terminated) and not bool(ts.truncated)
  assert float(ts.reward) == 1.0
  assert float(ts.final_observation[0]) > 2.4  # the terminal state
  assert np.all(np.abs(np.asarray(ts.observation)) <= 0.05)  # a fresh start
  assert float(ts.episode_return) == 8.0 and int(ts.episode_length) == 8
  assert int(next_state.time) == 0 and float(next_state.episode_return) == 0.0
  np.testing.assert_array_equal(
      np.stack([np.asarray(v) for v in next_state.physics]), ts.observation)

  # A step that does not end the episode keeps going and reports no reset.
  state2, ts2 = step(key, next_state, jnp.int32(0))
  assert not bool(ts2.terminated) and not bool(ts2.truncated)
  np.testing.assert_array_equal(ts2.observation, ts2.final_observation)
  assert int(state2.time) == 1 and int(ts2.episode_length) == 1
  assert float(state2.episode_return) == 1.0


def test_termination_at_the_time_limit_is_not_a_truncation():
  env = jax_envs.make("CartPole-v1")
  state = jax_envs.EnvState(
      physics=cartpole.CartPoleState(*jnp.array([2.39, 1.0, 0.0, 0.0])),
      time=jnp.int32(env.max_episode_steps - 1),
      episode_return=jnp.float32(env.max_episode_steps - 1))
  _, ts = _jitted_step("CartPole-v1")(jax.random.PRNGKey(0), state,
                                     jnp.int32(1))
  assert bool(ts.terminated) and not bool(ts.truncated)
  assert int(ts.episode_length) == env.max_episode_steps


def test_pendulum_truncates_at_the_time_limit():
  env = jax_envs.make("Pendulum-v1")
  limit = env.max_episode_steps
  num_steps = limit + 5

  @jax.jit
  def rollout(key):
    key, reset_key = jax.random.split(key)
    state, _ = env.reset(reset_key)

    def body(state, key):
      return env.step(key, state, jnp.zeros((1,), jnp.float32))

    return jax.lax.scan(body, state, jax.random.split(key, num_steps))

  final_state, ts = rollout(jax.random.PRNGKey(0))
  truncated = np.asarray(ts.truncated)
  assert not np.any(np.asarray(ts.terminated))
  assert truncated[limit - 1] and truncated.sum() == 1
  assert int(ts.episode_length[limit - 1]) == limit
  np.testing.assert_allclose(ts.episode_return[limit - 1],
                             np.sum(np.asarray(ts.reward[:limit])), rtol=1e-5)
  # The step after the limit starts the next episode.
  assert int(ts.episode_length[limit]) == 1
  np.testing.assert_allclose(ts.episode_return[limit], ts.reward[limit])
  assert not np.allclose(ts.observation[limit - 1],
                         ts.final_observation[limit - 1])
  assert int(final_state.time) == num_steps - limit


# The batched bookkeeping is the same code for every environment; these three
# cover discrete and continuous actions, and float and int physics with a 2-D
# observation. (The transition and start-state tests above already jit and
# vmap every environment's physics.)
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1",
                                    "Catch-bsuite"])
def test_jit_and_vmap_over_eight_envs(env_id):
  env = jax_envs.make(env_id)
  num_envs, num_steps = 8, 12
  spec = env.action_spec()

  def random_action(key):
    if isinstance(spec, specs.DiscreteArray):
      return jax.random.randint(key, (), 0, spec.num_values, jnp.int32)
    return jax.random.uniform(key, spec.shape, jnp.float32, spec.minimum,
                              spec.maximum)

  def one_env(key):
    state, obs0 = env.reset(key)

    def body(state, key):
      action_key, step_key = jax.random.split(key)
      return env.step(step_key, state, random_action(action_key))

    state, ts = jax.lax.scan(body, state,
                             jax.random.split(key, num_steps))
    return obs0, state, ts

  keys = jax.random.split(jax.random.PRNGKey(0), num_envs)
  obs0, state, ts = jax.jit(jax.vmap(one_env))(keys)
  obs_shape = env.observation_spec().shape
  assert obs0.shape == (num_envs,) + obs_shape and obs0.dtype == jnp.float32
  assert ts.observation.shape == (num_envs, num_steps) + obs_shape
  assert ts.reward.shape == (num_envs, num_steps)
  assert ts.reward.dtype == jnp.float32
  assert ts.terminated.dtype == jnp.bool_ and ts.truncated.dtype == jnp.bool_
  assert ts.episode_length.dtype == jnp.int32 and state.time.dtype == jnp.int32
  assert state.episode_return.dtype == jnp.float32
  assert np.all(np.isfinite(np.asarray(ts.observation)))
  # Each env drew its own start state.
  assert len({np.asarray(o).tobytes() for o in obs0}) > 1


def test_make_unknown_id_names_close_matches():
  assert jax_envs.registered_ids() == sorted([
      "Acrobot-v1", "CartPole-v1", "Catch-bsuite", "MinAtar/Breakout-v1",
      "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"])
  with pytest.raises(errors.UnknownEnvironmentError, match="CartPole-v1"):
    jax_envs.make("Cartpole-v1")
  with pytest.raises(errors.UnknownEnvironmentError,
                     match="Did you mean: MinAtar/Breakout-v1"):
    jax_envs.make("Breakout-v5")
  with pytest.raises(errors.UnknownEnvironmentError) as info:
    jax_envs.make("Taxi-v3")
  assert "Did you mean" not in str(info.value)
  for env_id in jax_envs.registered_ids():
    assert env_id in str(info.value)
    assert jax_envs.make(env_id).env_id == env_id


# -- Catch (bsuite) ------------------------------------------------------------


def _board(ball: tuple[int, int], paddle_x: int) -> np.ndarray:
  board = np.zeros((catch.ROWS, catch.COLUMNS), np.float32)
  board[ball] = 1.0
  board[catch.ROWS - 1, paddle_x] = 1.0
  return board


@pytest.mark.parametrize("ball_x,action,paddle_path,final_reward", [
    # Ball in column 0, always left: paddle 2 -> 1 -> 0, then stays at the
    # wall; it is under the ball when the ball lands.
    (0, 0, [1, 0, 0, 0, 0, 0, 0, 0, 0], 1.0),
    # Ball in column 0, always right: paddle 3 -> 4, stays at the wall; miss.
    (0, 2, [3, 4, 4, 4, 4, 4, 4, 4, 4], -1.0),
    # Ball in the middle column, stay: the paddle starts under it.
    (2, 1, [2] * 9, 1.0),
])
def test_catch_hand_worked_episodes(ball_x, action, paddle_path,
                                    final_reward):
  step = _jitted_step("Catch-bsuite")
  physics = catch.CatchState(ball_x=jnp.int32(ball_x), ball_y=jnp.int32(0),
                             paddle_x=jnp.int32(2))
  state = jax_envs.EnvState(physics, jnp.int32(0), jnp.float32(0.0))
  for t, paddle_x in enumerate(paddle_path):
    state, ts = step(jax.random.PRNGKey(t), state, jnp.int32(action))
    last = t == catch.ROWS - 2
    np.testing.assert_array_equal(ts.final_observation,
                                  _board((t + 1, ball_x), paddle_x))
    assert float(ts.reward) == (final_reward if last else 0.0)
    assert bool(ts.terminated) == last and not bool(ts.truncated)
  # Nine steps, then a fresh episode: ball in the top row, paddle centred.
  assert int(ts.episode_length) == catch.ROWS - 1
  assert float(ts.episode_return) == final_reward
  obs = np.asarray(ts.observation)
  assert obs[0].sum() == 1.0 and obs[catch.ROWS - 1, 2] == 1.0
  assert obs.sum() == 2.0 and int(state.time) == 0


def test_catch_start_column_is_uniform():
  env = jax_envs.make("Catch-bsuite")
  physics, obs = jax.jit(jax.vmap(env.reset_physics))(
      jax.random.split(jax.random.PRNGKey(0), 1000))
  counts = np.bincount(np.asarray(physics.ball_x), minlength=catch.COLUMNS)
  assert counts.shape == (catch.COLUMNS,) and np.all(counts > 150)
  assert np.all(np.asarray(physics.ball_y) == 0)
  assert np.all(np.asarray(physics.paddle_x) == catch.COLUMNS // 2)
  assert np.all(np.asarray(obs).sum(axis=(1, 2)) == 2.0)


def test_catch_matches_bsuite():
  bsuite_catch = pytest.importorskip("bsuite.environments.catch")
  env = jax_envs.make("Catch-bsuite")
  step = jax.jit(env.step_physics)
  key = jax.random.PRNGKey(0)
  rng = np.random.default_rng(0)
  reference = bsuite_catch.Catch(seed=0)
  final_rewards = set()
  for _ in range(20):
    first = reference.reset()
    physics = catch.CatchState(
        ball_x=jnp.int32(np.argmax(first.observation[0])),
        ball_y=jnp.int32(0), paddle_x=jnp.int32(catch.COLUMNS // 2))
    np.testing.assert_array_equal(catch.observation(physics),
                                  first.observation)
    for _ in range(catch.ROWS - 1):
      action = int(rng.integers(3))
      ts = reference.step(action)
      physics, obs, reward, terminated = step(key, physics, jnp.int32(action))
      np.testing.assert_array_equal(obs, ts.observation)
      assert float(reward) == ts.reward
      assert bool(terminated) == ts.last()
    assert ts.last()
    final_rewards.add(ts.reward)
  assert final_rewards == {1.0, -1.0}  # both catches and misses compared
