"""The DQN learner: updates, delayed priority/parameter publication, save."""
from __future__ import annotations

import jax
import numpy as np

from agents.dqn import config as config_lib
from agents.dqn import learning
from agents.dqn import networks
from building_blocks import specs
from building_blocks import types
from replay import dataset


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


def test_learner_publishes_after_completion_and_sends_exact_keys():
  config = config_lib.DQNConfig(hidden_sizes=(16,), batch_size=4,
                                num_sgd_steps_per_step=2, target_update_period=1)
  spec = specs.EnvironmentSpec(
      observations=specs.Array((4,), np.float32),
      actions=specs.DiscreteArray(2, dtype=np.int32),
      rewards=specs.Array((), np.float32),
      discounts=specs.BoundedArray((), np.float32, 0.0, 1.0))
  rng = np.random.default_rng(0)
  batches = [_batch(rng, 8, 10 * i) for i in range(3)]
  sent = []
  learner = learning.DQNLearner(
      networks.make_networks(spec, config), config, iter(batches),
      np.zeros(4, np.float32), jax.random.PRNGKey(0),
      priority_updater=lambda k, p: sent.append((k.copy(), p.copy())))
  initial = learner.get_variables(["policy"])[0]

  learner.step()
  assert not sent  # the first update is still allowed to run
  assert learner.get_variables(["policy"])[0] is initial
  learner.step()
  assert len(sent) == 1
  np.testing.assert_array_equal(sent[0][0], batches[0].keys)  # full uint64
  assert sent[0][1].shape == (8,) and np.all(sent[0][1] >= 0)
  published = learner.get_variables(["policy"])[0]
  assert published is not initial
  state = learner.save()  # completes the second update too
  assert len(sent) == 2 and int(state.steps) == 4  # 2 steps x 2 SGD steps
  assert learner.max_priority >= float(max(p.max() for _, p in sent))
  changed = jax.tree_util.tree_map(lambda a, b: bool(np.any(a != b)),
                                   initial, state.params)
  assert all(jax.tree_util.tree_leaves(changed))
  # target_update_period=1: the target copies the online net every step.
  same = jax.tree_util.tree_map(np.array_equal, state.params,
                                state.target_params)
  assert all(jax.tree_util.tree_leaves(same))
