"""The gymnasium adapter: step types, discounts, specs, seeding, bad ids."""
from __future__ import annotations

import dm_env
import gymnasium as gym
import numpy as np
import pytest

from building_blocks import errors
from building_blocks import specs
from envs import gymnasium_adapter


class _ScriptedEnv(gym.Env):
  """Ends after `length` steps, by termination or by truncation."""

  observation_space = gym.spaces.Box(-10, 10, (2,), np.float64)
  action_space = gym.spaces.Discrete(3)

  def __init__(self, length: int, terminate: bool):
    self._length = length
    self._terminate = terminate
    self._t = 0

  def reset(self, *, seed=None, options=None):
    super().reset(seed=seed)
    self._t = 0
    return np.array([0.0, float(self.np_random.integers(100))]), {}

  def step(self, action):
    self._t += 1
    done = self._t >= self._length
    obs = np.array([float(self._t), float(action)])
    return obs, 1.5, done and self._terminate, done and not self._terminate, {}


def _run(env, actions):
  steps = [env.reset()]
  for a in actions:
    steps.append(env.step(a))
  return steps


def test_termination_gives_discount_zero_and_last():
  env = gymnasium_adapter.GymnasiumEnvironment(_ScriptedEnv(3, terminate=True))
  first, mid1, mid2, last = _run(env, [0, 1, 2])
  assert first.step_type == dm_env.StepType.FIRST
  assert first.reward is None and first.discount is None
  for ts in (mid1, mid2):
    assert ts.step_type == dm_env.StepType.MID
    assert ts.discount == 1.0 and ts.reward == np.float32(1.5)
  assert last.step_type == dm_env.StepType.LAST
  assert last.discount == 0.0
  np.testing.assert_array_equal(last.observation, [3.0, 2.0])
  for ts in (mid1, mid2, last):  # the types the specs promise, not float64
    assert np.asarray(ts.discount).dtype == np.float32
    assert np.asarray(ts.reward).dtype == np.float32
    assert ts.observation.dtype == np.float32
  assert first.observation.dtype == np.float32


def test_truncation_keeps_bootstrapping():
  env = gymnasium_adapter.GymnasiumEnvironment(_ScriptedEnv(2, terminate=False))
  _, mid, last = _run(env, [1, 1])
  assert mid.step_type == dm_env.StepType.MID
  assert last.step_type == dm_env.StepType.LAST
  assert last.discount == 1.0  # a time limit is not a terminal state
  assert np.asarray(last.discount).dtype == np.float32
  assert last.observation.dtype == np.float32


def test_step_after_last_starts_a_new_episode():
  env = gymnasium_adapter.GymnasiumEnvironment(_ScriptedEnv(1, terminate=True))
  env.reset()
  assert env.step(0).last()
  assert env.step(0).first()


def test_real_cartpole_truncates_at_500_with_discount_one():
  env = gymnasium_adapter.make_environment("CartPole-v1", seed=3)
  gym_env = env.gym_env.unwrapped
  ts = env.reset()
  steps = 0
  while not ts.last():
    gym_env.state = np.zeros(4)  # hold the pole upright: only the limit ends it
    ts = env.step(0)
    steps += 1
  assert steps == 500
  assert ts.discount == 1.0


def test_seeded_resets_repeat_and_differ_across_seeds():
  def first_obs(seed):
    env = gymnasium_adapter.make_environment("CartPole-v1", seed=seed)
    return [env.reset().observation for _ in range(3)]
  a, b, c = first_obs(7), first_obs(7), first_obs(8)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  assert not np.array_equal(a[0], c[0])
  assert not np.array_equal(a[0], a[1])  # later resets continue the RNG


def test_specs_from_spaces():
  env = gymnasium_adapter.make_environment("CartPole-v1", seed=0)
  spec = gymnasium_adapter.make_environment_spec(env)
  assert specs.is_discrete(spec.actions) and spec.actions.num_values == 2
  assert spec.observations.shape == (4,)
  assert spec.observations.dtype == np.float32
  pendulum = gymnasium_adapter.make_environment("Pendulum-v1")
  assert not specs.is_discrete(pendulum.action_spec())
  assert pendulum.action_spec().shape == (1,)


def test_unknown_id_says_what_was_meant():
  with pytest.raises(errors.UnknownEnvironmentError) as info:
    gymnasium_adapter.make_environment("CartPol-v1")
  message = str(info.value)
  assert "'CartPol-v1'" in message and "CartPole-v1" in message
