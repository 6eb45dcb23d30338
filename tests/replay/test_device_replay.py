"""The host side of the device buffer: adder sink, rate limiter, priority
updates and checkpoints, as the single-process runner uses them (the
protocol tests all backends share are in test_backends.py)."""
from __future__ import annotations

import dm_env
import jax
import numpy as np
import pytest

from building_blocks import errors
from building_blocks import types
from replay import adders
from replay import backends
from replay import device_buffer
from replay import device_replay
from tests.conftest import requires_reverb


def _example():
  obs = np.zeros(2, np.float32)
  return types.Transition(obs, np.int64(0), np.float32(0), np.float32(0), obs)


def _replay(tmp_path=None, capacity=100, min_size=1, batch=32,
            prioritized=False, alpha=1.0, spi=1e6, seed=0, add_chunk=None):
  buf = device_buffer.make_transition_buffer(
      capacity=capacity, min_size=min_size, sample_batch_size=batch,
      add_batch_size=1, prioritized=prioritized, priority_exponent=alpha)
  return device_replay.DeviceReplay(
      buf, _example(), samples_per_insert=spi, error_buffer=4.0 * batch,
      key=jax.random.PRNGKey(seed), add_chunk=add_chunk,
      checkpoint_dir=None if tmp_path is None else str(tmp_path / "replay"))


def _episode(adder, n, start=0.0):
  adder.add_first(dm_env.restart(np.array([start, 0.0], np.float32)))
  for t in range(1, n + 1):
    obs = np.array([start + t, 0.0], np.float32)
    ts = (dm_env.termination(np.float32(1.0), obs) if t == n else
          dm_env.transition(np.float32(1.0), obs, np.float32(1.0)))
    adder.add(np.int64(t % 2), ts)


def _rows(batch):
  data = jax.tree_util.tree_map(np.asarray, batch.data)
  return {(float(o[0]), float(r), float(d), float(n[0]))
          for o, r, d, n in zip(data.observation, data.reward, data.discount,
                                data.next_observation)}


def test_adder_writes_nstep_items_that_sample_back():
  replay = _replay()
  adder = adders.NStepTransitionAdder(backends.sink(replay), n_step=2,
                                      discount=0.5)
  _episode(adder, 3)
  assert replay.size() == 3
  assert replay.ready()
  batch = replay.sample()
  # s_0: r=1+0.5*1, Gamma=0.25; s_1: 1+0.5*1, terminated; s_2: 1, terminated.
  assert _rows(batch) == {(0.0, 1.5, 0.25, 2.0), (1.0, 1.5, 0.0, 3.0),
                          (2.0, 1.0, 0.0, 3.0)}
  assert batch.keys.dtype == np.int32
  assert batch.data.action.dtype == np.int32
  np.testing.assert_array_equal(batch.table_size, np.full(32, 3))
  np.testing.assert_allclose(batch.probabilities, 1 / 3)


@pytest.mark.parametrize("add_chunk", [1, 4, 8])
def test_staged_items_reach_the_device_in_order(add_chunk):
  replay = _replay(capacity=16, add_chunk=add_chunk)
  adder = adders.NStepTransitionAdder(backends.sink(replay), n_step=1,
                                      discount=1.0)
  _episode(adder, 11)
  _episode(adder, 9, start=100.0)  # 20 items into 16 slots: 0..3 dropped
  assert replay.size() == 16
  replay.flush()
  state = replay._state  # pylint: disable=protected-access
  stored = np.asarray(state.buffer.experience.observation[0, :, 0])
  # Item i sits in slot i % 16: items 16..19 (105..108) replaced 0..3.
  np.testing.assert_array_equal(
      stored,
      [105, 106, 107, 108, 4, 5, 6, 7, 8, 9, 10, 100, 101, 102, 103, 104])


def test_priority_updates_reach_the_right_items():
  replay = _replay(prioritized=True, alpha=1.0)
  adder = adders.NStepTransitionAdder(backends.sink(replay), n_step=1,
                                      discount=1.0)
  _episode(adder, 3)
  batch = replay.sample()
  key_of = {float(o[0]): int(k) for o, k in
            zip(np.asarray(batch.data.observation), np.asarray(batch.keys))}
  assert len(key_of) == 3
  keys = np.array(list(key_of.values()), np.int32)
  replay.update_priorities(
      keys, np.where(keys == key_of[1.0], 1.0, 0.0).astype(np.float32))
  batch = replay.sample()
  assert set(np.asarray(batch.keys).tolist()) == {key_of[1.0]}
  np.testing.assert_allclose(batch.probabilities, 1.0)
  np.testing.assert_array_equal(np.asarray(batch.data.observation)[:, 0], 1.0)


def _learner_steps_per_insert(can_sample, sample, insert, num_inserts):
  """Inserts items one by one; after each, samples batches while allowed
  (what the runner does after every environment step)."""
  steps = []
  for _ in range(num_inserts):
    insert()
    n = 0
    while can_sample():
      sample()
      n += 1
    steps.append(n)
  return steps


def test_rate_limiter_holds_samples_per_insert():
  # DQN's defaults: batch 256, 32 samples per insert, learning from 1,000.
  replay = _replay(capacity=5000, min_size=1000, batch=256, spi=32.0)
  item = _example()
  steps = _learner_steps_per_insert(replay.can_sample, replay.sample,
                                    lambda: replay.insert(item), 3000)
  assert sum(steps[:999]) == 0
  assert steps[999] == 4  # the error buffer: 4 batches at once
  later = np.nonzero(steps[1000:])[0]
  np.testing.assert_array_equal(np.diff(later), 8)  # then 1 per 8 inserts
  assert sum(steps) == 4 + (3000 - 1000) // 8  # 32 sampled per inserted
  assert replay.limiter.samples == 256 * sum(steps)


@requires_reverb
def test_rate_limiter_decides_exactly_as_reverbs():
  from replay import server as server_lib
  from replay import tables
  batch, spi, min_size = 16, 4.0, 50
  limiter = tables.sample_to_insert_ratio_limiter(
      samples_per_insert=spi, min_size_to_sample=min_size,
      error_buffer=4.0 * batch, block_inserts=False)
  table = tables.uniform_table("t", 80, limiter)  # FIFO removal from 80 on
  with server_lib.ReplayServer([table]) as server:
    writer = server.client.trajectory_writer(num_keep_alive_refs=1)

    def reverb_insert():
      writer.append({"x": np.zeros(1, np.float32)})
      writer.create_item("t", 1.0, {"x": writer.history["x"][-1]})
      writer.flush()

    def reverb_sample():
      list(server.client.sample("t", num_samples=batch))

    want = _learner_steps_per_insert(lambda: table.can_sample(batch),
                                     reverb_sample, reverb_insert, 150)
    writer.close()
  replay = _replay(capacity=80, min_size=min_size, batch=batch, spi=spi)
  got = _learner_steps_per_insert(replay.can_sample, replay.sample,
                                  lambda: replay.insert(_example()), 150)
  assert sum(want) > 20
  assert got == want


def test_checkpoint_restores_items_priorities_counts_and_rng(tmp_path):
  replay = _replay(tmp_path, capacity=50, prioritized=True, alpha=0.5, spi=2.0)
  adder = adders.NStepTransitionAdder(backends.sink(replay), n_step=3,
                                      discount=0.9)
  for i in range(6):
    _episode(adder, 7, start=10.0 * i)
  batch = replay.sample()
  replay.update_priorities(batch.keys,
                           np.linspace(0.1, 5, 32, dtype=np.float32))
  _episode(adder, 4, start=100.0)  # staged, not yet on the device
  path = replay.checkpoint()
  assert path == str(tmp_path / "replay" / device_replay.CHECKPOINT_FILE)
  expected = [replay.sample() for _ in range(2)]
  counts = (replay.limiter.inserts, replay.limiter.samples, replay.size())
  replay.close()

  restored = _replay(tmp_path, capacity=50, prioritized=True, alpha=0.5,
                     spi=2.0)
  assert restored.restored
  assert (restored.limiter.inserts, restored.limiter.samples + 64,
          restored.size()) == counts
  for want in expected:  # same items, probabilities and RNG stream
    got = restored.sample()
    for a, b in zip(jax.tree_util.tree_leaves(got),
                    jax.tree_util.tree_leaves(want)):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_checkpoint_of_another_buffer_is_refused(tmp_path):
  replay = _replay(tmp_path, capacity=50)
  replay.insert(_example())
  replay.checkpoint()
  with pytest.raises(errors.RunDirectoryError, match="does not fit this run"):
    _replay(tmp_path, capacity=60)
  with pytest.raises(errors.RunDirectoryError, match="does not fit this run"):
    _replay(tmp_path, capacity=50, prioritized=True)
  (tmp_path / "replay" / device_replay.CHECKPOINT_FILE).write_bytes(b"junk")
  with pytest.raises(errors.RunDirectoryError, match="Cannot read"):
    _replay(tmp_path, capacity=50)
