"""Batched evaluation: episodes stepped side by side give each episode the
return it has when run alone."""
from __future__ import annotations

import numpy as np

from envs import gymnasium_adapter
from experiments import evaluation


class _PolicyActor:
  """An Actor's select() with a fixed policy (push towards the pole's
  lean); counts its calls and the batch shapes it sees."""

  def __init__(self):
    self.calls = 0
    self.shapes = set()

  def select(self, params, observations, step):
    del params, step
    self.calls += 1
    self.shapes.add(observations.shape)
    return (observations[:, 2] > 0).astype(
        np.int64), {}


def _alone(seed: int) -> float:
  """The same policy's return on one environment of that seed, by hand."""
  env = gymnasium_adapter.make_environment("CartPole-v1", seed=seed)
  timestep, total = env.reset(), 0.0
  while not timestep.last():
    obs = timestep.observation
    timestep = env.step(int(obs[2] > 0))
    total += float(timestep.reward)
  env.close()
  return total


def test_side_by_side_returns_equal_each_episode_run_alone():
  envs = evaluation.make_envs("CartPole-v1", 5, 4)
  actor = _PolicyActor()
  returns = evaluation.run_episodes(actor, None, envs, env_steps=0)
  expected = [_alone(5 + evaluation.EVAL_ENV_SEED_STRIDE * i)
              for i in range(4)]
  assert returns == expected
  assert len(set(returns)) > 1, "episodes of equal length test nothing here"
  # One call per step of the longest episode, always the full batch.
  assert actor.calls == max(returns)
  assert actor.shapes == {(4, 4)}
  row = evaluation.row(100, returns)
  assert row == {"env_steps": 100, "eval_mean_return": np.mean(expected),
                 "eval_min_return": min(expected),
                 "eval_max_return": max(expected)}


def test_stop_request_ends_the_evaluation_without_a_result():
  envs = evaluation.make_envs("CartPole-v1", 0, 2)
  calls = iter(range(1000))
  assert evaluation.run_episodes(_PolicyActor(), None, envs, 0,
                                 should_stop=lambda: next(calls) >= 3) is None
