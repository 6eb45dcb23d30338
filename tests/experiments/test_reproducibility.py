"""Same seed, same start: identical resets and actions until the learner's
first update (after that, Reverb sampling makes runs differ; see README)."""
from __future__ import annotations

import numpy as np

from building_blocks import actors
from experiments import config as config_lib
from experiments import single_process
from tests.conftest import requires_reverb

pytestmark = requires_reverb


_ORIGINAL_SELECT_ACTION = actors.FeedForwardActor.select_action


def _record(monkeypatch, tmp_path, name, seed):
  seen = []
  original = _ORIGINAL_SELECT_ACTION

  def recording(self, observation):
    action = original(self, observation)
    if self._adder is not None:  # the training actor, not evaluation
      seen.append((np.array(observation), int(action)))
    return action

  monkeypatch.setattr(actors.FeedForwardActor, "select_action", recording)
  config = config_lib.ExperimentConfig(
      seed=seed, num_steps=700, eval_every=0, eval_episodes=1,
      tensorboard=False, progress=False, run_dir=str(tmp_path / name))
  config.dqn.min_replay_size = 1000  # the learner never updates in 700 steps
  result = single_process.run_experiment(config)
  assert result.actor_steps >= 700
  return seen


def test_same_seed_same_resets_and_actions(monkeypatch, tmp_path):
  a = _record(monkeypatch, tmp_path, "a", seed=3)
  b = _record(monkeypatch, tmp_path, "b", seed=3)
  c = _record(monkeypatch, tmp_path, "c", seed=4)
  assert len(a) == len(b)
  for (obs_a, act_a), (obs_b, act_b) in zip(a, b):
    np.testing.assert_array_equal(obs_a, obs_b)
    assert act_a == act_b
  assert not np.array_equal(a[0][0], c[0][0])
