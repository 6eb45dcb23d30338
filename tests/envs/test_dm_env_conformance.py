"""dm_env's conformance suite, run on every dm_env environment Relay exposes.

`dm_env.test_utils.EnvironmentTestMixin` resets and steps an environment and
validates every TimeStep against that environment's own specs (structure,
shape, dtype and bounds of observation, reward and discount), and checks the
FIRST / MID / LAST ordering contract (FIRST carries no reward or discount;
`step` on a fresh env or after LAST starts a new episode).

The mixin's default action sequence (20 zero actions) never ends most
episodes, so each case here steps with random in-spec actions for a whole
time limit, and adds the two ways an episode ends: a termination (discount 0)
reached from a nearly terminal state, and a time-limit truncation
(discount 1). Every TimeStep goes through the mixin's `assertValidStep`.

The mixin is written for `unittest.TestCase`; one `absltest.TestCase`
subclass per environment lets pytest collect it.
"""
from __future__ import annotations

from typing import Any, Iterator

from absl.testing import absltest
import dm_env
from dm_env import test_utils
import numpy as np

from building_blocks import specs
from envs import gymnasium_adapter


def _random_action(spec: specs.Array, rng: np.random.Generator) -> np.ndarray:
  """An action drawn uniformly from `spec`, with the spec's dtype."""
  if isinstance(spec, specs.DiscreteArray):
    return np.asarray(rng.integers(spec.num_values), dtype=spec.dtype)
  if isinstance(spec, specs.BoundedArray):
    return rng.uniform(spec.minimum, spec.maximum,
                       size=spec.shape).astype(spec.dtype)
  return spec.generate_value()


class _GymnasiumConformance(test_utils.EnvironmentTestMixin):
  """The dm_env conformance checks on `GymnasiumEnvironment(env_id)`.

  Not a TestCase itself (so neither pytest nor absltest runs it without an
  env): each subclass names an env and mixes in `absltest.TestCase`.

  Attributes:
    env_id: the gymnasium id to adapt.
    terminal_state: a value for the unwrapped env's `state` from which
      `terminal_action` ends the episode by termination, or None when the env
      only ever truncates.
    terminal_action: the action to take from `terminal_state`.
  """

  env_id: str
  terminal_state: np.ndarray | None = None
  terminal_action: Any = None

  def make_object_under_test(self) -> gymnasium_adapter.GymnasiumEnvironment:
    return gymnasium_adapter.make_environment(self.env_id, seed=0)

  def _time_limit(self) -> int:
    return int(self.environment.gym_env.spec.max_episode_steps)

  def make_action_sequence(self) -> Iterator[np.ndarray]:
    """Random in-spec actions, one more than the time limit.

    An episode therefore ends (by termination or at the time limit) and the
    step after that LAST must start a new episode.
    """
    rng = np.random.default_rng(0)
    spec = self.environment.action_spec()
    for _ in range(self._time_limit() + 1):
      yield _random_action(spec, rng)

  def _step_until_last(self, env: dm_env.Environment,
                       max_steps: int) -> dm_env.TimeStep:
    rng = np.random.default_rng(1)
    step = env.reset()
    self.assertValidStep(step)
    for _ in range(max_steps):
      step = env.step(_random_action(env.action_spec(), rng))
      self.assertValidStep(step)
      if step.last():
        return step
    self.fail(f"{self.env_id}: no LAST step within {max_steps} steps")

  def test_episode_end_matches_specs(self):
    last = self._step_until_last(self.environment, self._time_limit())
    self.assertIs(dm_env.StepType.LAST, last.step_type)
    self.assertIs(dm_env.StepType.FIRST,
                  self.step_environment().step_type)

  def test_termination_matches_specs(self):
    if self.terminal_state is None:
      self.skipTest(f"{self.env_id} never terminates, it only truncates")
    self.reset_environment()
    self.environment.gym_env.unwrapped.state = np.array(self.terminal_state)
    step = self.step_environment(self.terminal_action)
    self.assertIs(dm_env.StepType.LAST, step.step_type)
    self.assertEqual(0.0, step.discount)
    self.assertIs(dm_env.StepType.FIRST,
                  self.step_environment().step_type)

  def test_truncation_matches_specs(self):
    env = gymnasium_adapter.make_environment(self.env_id, seed=0,
                                             max_episode_steps=3)
    self.addCleanup(env.close)
    last = self._step_until_last(env, 3)
    self.assertIs(dm_env.StepType.LAST, last.step_type)
    self.assertEqual(1.0, last.discount)  # a time limit is not terminal


class CartPoleConformanceTest(_GymnasiumConformance, absltest.TestCase):
  env_id = "CartPole-v1"
  terminal_state = np.array([0.0, 0.0, 0.3, 0.0])  # pole past 12 degrees
  terminal_action = np.int32(1)


class AcrobotConformanceTest(_GymnasiumConformance, absltest.TestCase):
  env_id = "Acrobot-v1"
  terminal_state = np.array([np.pi, 0.0, 0.0, 0.0])  # both links straight up
  terminal_action = np.int32(1)  # no torque


class MountainCarConformanceTest(_GymnasiumConformance, absltest.TestCase):
  env_id = "MountainCar-v0"
  terminal_state = np.array([0.49, 0.07])  # just short of the flag
  terminal_action = np.int32(2)  # push right


class PendulumConformanceTest(_GymnasiumConformance, absltest.TestCase):
  env_id = "Pendulum-v1"


class MountainCarContinuousConformanceTest(_GymnasiumConformance,
                                           absltest.TestCase):
  env_id = "MountainCarContinuous-v0"
  terminal_state = np.array([0.44, 0.07])  # just short of the flag
  terminal_action = np.array([1.0], dtype=np.float32)  # push right


if __name__ == "__main__":
  absltest.main()
