"""Same seed, same start: identical resets and actions until the learner's
first update on either replay backend (after that, Reverb sampling makes
runs differ; see README). With replay in device memory the whole run is
reproducible: sampling is seeded and runs on the calling thread's order."""
from __future__ import annotations

import numpy as np
import pytest

from building_blocks import actor as actor_lib
from experiments import config as config_lib
from experiments import single_process_runner
from tests.conftest import requires_reverb

BACKENDS = ["device", pytest.param("reverb", marks=requires_reverb)]

_ORIGINAL_SELECT = actor_lib.Actor.select


def _record(monkeypatch, tmp_path, name, seed, replay, num_steps=700,
            min_replay_size=1000):
  seen = []
  original = _ORIGINAL_SELECT
  training_actors = []

  def recording(self, params, observations, step):
    actions, extras = original(self, params, observations, step)
    if not training_actors:
      training_actors.append(self)  # the first to act is the training actor
    if self is training_actors[0]:
      seen.append((np.array(observations), actions.tolist()))
    return actions, extras

  monkeypatch.setattr(actor_lib.Actor, "select", recording)
  config = config_lib.ExperimentConfig(
      seed=seed, num_steps=num_steps, eval_every=0, eval_episodes=1,
      tensorboard=False, progress=False, run_dir=str(tmp_path / name),
      replay=replay)
  # By default the learner never updates in 700 steps.
  config.dqn.min_replay_size = min_replay_size
  summary = single_process_runner.run(config)
  assert summary.env_steps >= num_steps
  return seen


def _assert_same(a, b):
  assert len(a) == len(b)
  for (obs_a, act_a), (obs_b, act_b) in zip(a, b):
    np.testing.assert_array_equal(obs_a, obs_b)
    assert act_a == act_b


@pytest.mark.parametrize("replay", BACKENDS)
def test_same_seed_same_resets_and_actions(monkeypatch, tmp_path, replay):
  a = _record(monkeypatch, tmp_path, "a", seed=3, replay=replay)
  b = _record(monkeypatch, tmp_path, "b", seed=3, replay=replay)
  c = _record(monkeypatch, tmp_path, "c", seed=4, replay=replay)
  _assert_same(a, b)
  assert not np.array_equal(a[0][0], c[0][0])


def test_device_replay_runs_are_reproducible_while_learning(monkeypatch,
                                                            tmp_path):
  # 2,500 steps, learning from step 200: ~290 learner steps of 8 updates.
  a = _record(monkeypatch, tmp_path, "a", seed=5, replay="device",
              num_steps=2500, min_replay_size=200)
  b = _record(monkeypatch, tmp_path, "b", seed=5, replay="device",
              num_steps=2500, min_replay_size=200)
  _assert_same(a, b)
