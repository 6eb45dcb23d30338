"""The shared learner and value-based update: delayed publication, exact
priority keys, SGD steps per sample, target copies, donation safety."""
from __future__ import annotations

import jax
import numpy as np

from agents.dqn import agent as dqn_agent
from agents.dqn import config as config_lib
from building_blocks import agent as agent_lib
from building_blocks import learner as learner_lib
from building_blocks import specs
from building_blocks import types
from replay import dataset

SPEC = specs.EnvironmentSpec(
    observations=specs.Array((4,), np.float32),
    actions=specs.DiscreteArray(2, dtype=np.int32),
    rewards=specs.Array((), np.float32),
    discounts=specs.BoundedArray((), np.float32, 0.0, 1.0))


def _batch(rng, size, first_key):
  data = types.Transition(
      observation=rng.normal(size=(size, 4)).astype(np.float32),
      action=rng.integers(0, 2, size).astype(np.int32),
      reward=np.ones(size, np.float32),
      discount=np.full(size, 0.99, np.float32),
      next_observation=rng.normal(size=(size, 4)).astype(np.float32))
  keys = np.arange(first_key, first_key + size, dtype=np.uint64) + np.uint64(2**63)
  return dataset.ReplayBatch(keys=keys, probabilities=np.full(size, 0.01, np.float32),
                             table_size=np.full(size, 100, np.int64), data=data)


class _FakeReplay:
  """Hands out fixed batches and records the priority updates."""

  def __init__(self, batches):
    self._batches = iter(batches)
    self.sent = []

  def sample(self):
    return next(self._batches)

  def update_priorities(self, keys, priorities):
    self.sent.append((np.array(keys), np.array(priorities)))


def _agent(**kwargs):
  config = config_lib.DQNConfig(hidden_sizes=(16,), batch_size=4,
                                num_sgd_steps_per_step=2, **kwargs)
  return dqn_agent.make_agent(config, SPEC, agent_lib.RunInfo(1, 1, 1000))


def test_learner_publishes_after_completion_and_sends_exact_keys():
  agent = _agent(target_update_period=1)
  rng = np.random.default_rng(0)
  batches = [_batch(rng, 8, 10 * i) for i in range(4)]
  replay = _FakeReplay(batches)
  learner = learner_lib.Learner(agent, replay, jax.random.PRNGKey(0))
  initial = learner.params

  learner.step()
  assert not replay.sent  # the first update is still allowed to run
  assert learner.params is initial
  learner.step()
  assert len(replay.sent) == 1
  np.testing.assert_array_equal(replay.sent[0][0], batches[0].keys)  # uint64
  assert replay.sent[0][1].shape == (8,) and np.all(replay.sent[0][1] >= 0)
  published = learner.params
  assert published is not initial
  state = learner.save()  # completes the second update too
  assert len(replay.sent) == 2 and int(state.agent.steps) == 4  # 2 x 2 SGD
  # The published parameters stay readable after later (donating) updates.
  learner.step()
  learner.step()
  jax.tree_util.tree_map(np.asarray, published)
  changed = jax.tree_util.tree_map(lambda a, b: bool(np.any(a != b)),
                                   initial, learner.save().agent.params)
  assert all(jax.tree_util.tree_leaves(changed))
  # target_update_period=1: the target copies the online net every step.
  final = learner.save().agent
  same = jax.tree_util.tree_map(np.array_equal, final.params,
                                final.target_params)
  assert all(jax.tree_util.tree_leaves(same))


def test_restore_round_trips_and_survives_donation():
  agent = _agent()
  rng = np.random.default_rng(1)
  replay = _FakeReplay([_batch(rng, 8, 10 * i) for i in range(3)])
  learner = learner_lib.Learner(agent, replay, jax.random.PRNGKey(0))
  learner.step()
  saved = jax.tree_util.tree_map(np.asarray, learner.save())
  other = learner_lib.Learner(agent, _FakeReplay([]), jax.random.PRNGKey(5))
  other.restore(saved)
  restored = jax.tree_util.tree_map(np.asarray, other.save())
  jax.tree_util.tree_map(np.testing.assert_array_equal, saved, restored)
  # The numpy arrays handed to restore are not donated away.
  learner.restore(saved)
  learner.step()
  jax.tree_util.tree_map(np.asarray, saved)


def test_value_based_update_takes_one_sgd_step_per_slice():
  agent = _agent(target_update_period=100)
  state = agent.init(jax.random.PRNGKey(0))
  batch = _batch(np.random.default_rng(2), 8, 0)
  new_state, metrics, priorities = jax.jit(agent.update)(
      state, batch._replace(keys=None), jax.random.PRNGKey(1))
  assert int(new_state.steps) == 2
  assert priorities.shape == (8,)
  assert set(metrics) >= {"loss", "grad_norm", "q_mean"}
  # The target network is only copied every 100 steps.
  same = jax.tree_util.tree_map(np.array_equal, new_state.target_params,
                                state.params)
  assert all(jax.tree_util.tree_leaves(same))
