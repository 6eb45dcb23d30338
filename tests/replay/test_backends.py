"""The ReplayBackend protocol, the same tests for every backend that
`replay.backends.make_replay` builds (Reverb ones skipped without Reverb):
round trips, the rate limiter, priorities, queues, checkpoints, close."""
from __future__ import annotations

import socket
import time

import dm_env
import jax
import numpy as np
import pytest

from building_blocks import agent as agent_lib
from building_blocks import errors
from building_blocks import types
from replay import adders
from replay import backends
from tests.conftest import requires_reverb

BACKENDS = [pytest.param("reverb", marks=requires_reverb), "device"]


def _transition(i: int) -> types.Transition:
  """Item i: every field says i, so a sampled row names its item."""
  obs = np.array([i, -i, 0.5 * i], np.float32)
  return types.Transition(obs, np.int32(i), np.float32(i / 7),
                          np.float32(1 - i / 100), obs + 1000)


def _rollout(i: int) -> agent_lib.Rollout:
  """Rollout i of 3 steps x 2 environments."""
  base = np.arange(3 * 2 * 4, dtype=np.float32).reshape(3, 2, 4) + 100 * i
  return agent_lib.Rollout(
      observation=base, action=np.full((3, 2), i, np.int32),
      reward=np.full((3, 2), i / 3, np.float32),
      terminated=np.array([[i % 2, 0], [0, 1], [0, 0]], bool),
      truncated=np.zeros((3, 2), bool), final_observation=base + 0.5,
      extras={"log_prob": np.full((3, 2), -i, np.float32)},
      last_observation=base[-1] + 1)


def _spec(**kwargs) -> agent_lib.ReplaySpec:
  fields = dict(capacity=100, min_size=8, batch_size=16,
                samples_per_insert=1e6)
  fields.update(kwargs)
  return agent_lib.ReplaySpec("transitions", **fields)


QUEUE_SPEC = agent_lib.ReplaySpec("rollouts")


@pytest.fixture
def make():
  """make(backend, spec, example, directory=None) -> a backend, closed at
  the end of the test."""
  made = []

  def factory(backend, spec, example=None, directory=None):
    if example is None:
      example = _transition(0) if spec.kind == "transitions" else _rollout(0)
    replay = backends.make_replay(
        spec, example, backend,
        checkpoint_dir=None if directory is None else str(directory),
        key=jax.random.PRNGKey(3))
    made.append(replay)
    return replay

  yield factory
  for replay in made:
    replay.close()


def _rows(batch) -> list[int]:
  """The item each row holds, checking that all its fields are item i's."""
  data = jax.tree_util.tree_map(np.asarray, batch.data)
  ids = [int(a) for a in data.action]
  for row, i in enumerate(ids):
    for got, want in zip(jax.tree_util.tree_leaves(data),
                         jax.tree_util.tree_leaves(_transition(i))):
      np.testing.assert_array_equal(got[row], want)
  return ids


# --- transitions -----------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_items_sample_back_exactly(backend, make):
  replay = make(backend, _spec())
  assert isinstance(replay.description, str) and replay.description
  assert not replay.restored and not replay.ready()
  for i in range(10):
    replay.insert(_transition(i))
  replay.flush()
  assert replay.size() == 10 and replay.ready()
  seen = set()
  for _ in range(6):
    batch = replay.sample()
    assert batch.keys.shape == batch.probabilities.shape == (16,)
    assert batch.probabilities.dtype == np.float32
    np.testing.assert_array_equal(batch.table_size, np.full(16, 10))
    np.testing.assert_allclose(batch.probabilities, 0.1, rtol=1e-6)
    assert batch.data.observation.shape == (16, 3)
    assert batch.data.action.dtype == np.int32
    seen.update(_rows(batch))
  assert seen == set(range(10))


@pytest.mark.parametrize("backend", BACKENDS)
def test_insert_many_stores_stacked_items_as_inserts_would(backend, make):
  """insert_many of stacked items, between single inserts, keeps every
  item and the order of all of them (the oldest go first at capacity)."""
  replay = make(backend, _spec(capacity=20))
  def stack(ids):
    return jax.tree_util.tree_map(lambda *xs: np.stack(xs),
                                  *[_transition(i) for i in ids])
  replay.insert(_transition(0))
  replay.insert_many(stack(range(1, 6)), 5)
  replay.insert(_transition(6))
  replay.insert_many(stack(range(7, 25)), 18)
  replay.flush()
  assert replay.size() == 20 and replay.ready()
  seen = set()
  for _ in range(12):
    seen.update(_rows(replay.sample()))
  assert seen == set(range(5, 25))  # 0..4, the oldest, were overwritten


@pytest.mark.parametrize("backend", BACKENDS)
def test_adder_fills_a_backend_through_its_sink(backend, make):
  replay = make(backend, _spec(min_size=3))
  adder = adders.NStepTransitionAdder(backends.sink(replay), n_step=2,
                                      discount=0.5)
  adder.add_first(dm_env.restart(np.zeros(3, np.float32)))
  for t in range(1, 4):
    obs = np.full(3, t, np.float32)
    adder.add(np.int32(t), dm_env.termination(np.float32(1), obs) if t == 3
              else dm_env.transition(np.float32(1), obs, np.float32(1)))
  adder.flush()
  data = jax.tree_util.tree_map(np.asarray, replay.sample().data)
  rows = {(float(o[0]), float(r), float(d)) for o, r, d in
          zip(data.observation, data.reward, data.discount)}
  assert rows == {(0.0, 1.5, 0.25), (1.0, 1.5, 0.0), (2.0, 1.0, 0.0)}


def _reverb_rule_steps(num_inserts, spi, batch, min_size, capacity):
  """Learner steps after each insert under Reverb 0.14's SampleToInsertRatio
  (rate_limiter.cc): a sample of n items may proceed while inserts -
  deletes >= min_size and inserts * spi - samples - n >= min_diff, with
  min_diff = spi * min_size - error_buffer (error_buffer 4 batches, at
  least 2 * max(1, spi))."""
  min_diff = spi * min_size - max(4.0 * batch, 2 * max(1.0, spi))
  samples, steps = 0, []
  for inserts in range(1, num_inserts + 1):
    n = 0
    while (min(inserts, capacity) >= min_size and
           inserts * spi - samples - batch >= min_diff):
      samples += batch
      n += 1
    steps.append(n)
  return steps


@pytest.mark.parametrize("backend", BACKENDS)
def test_rate_limiter_allows_reverbs_samples_per_insert(backend, make):
  spi, batch, min_size, capacity = 32.0, 32 * 8, 100, 400
  replay = make(backend, _spec(capacity=capacity, min_size=min_size,
                               batch_size=batch, samples_per_insert=spi))
  steps = []
  for i in range(600):
    replay.insert(_transition(i % 50))
    n = 0
    while replay.ready():
      replay.sample()
      n += 1
    steps.append(n)
  want = _reverb_rule_steps(600, spi, batch, min_size, capacity)
  assert steps == want
  assert steps[min_size - 1] == 4 and sum(steps[:min_size - 1]) == 0
  assert sum(steps) == 4 + (600 - min_size) // 8


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_huge_priority_dominates_sampling(backend, make):
  replay = make(backend, _spec(prioritized=True, priority_exponent=1.0))
  assert replay.max_priority == 1.0
  for i in range(8):
    replay.insert(_transition(i))
  replay.flush()
  key_of = {}
  while len(key_of) < 8:
    batch = replay.sample()
    key_of.update(zip(_rows(batch), np.asarray(batch.keys).tolist()))
  keys = np.array(list(key_of.values()), np.asarray(batch.keys).dtype)
  priorities = np.where(keys == key_of[5], 1e6, 1e-3).astype(np.float32)
  replay.update_priorities(keys, priorities)
  assert replay.max_priority == pytest.approx(1e6, rel=1e-5)
  replay.flush()
  # Reverb's sampler may have prepared a few batches before the update.
  rows = [_rows(replay.sample()) for _ in range(6)][-1]
  assert rows.count(5) >= 15


@pytest.mark.parametrize("backend", BACKENDS)
def test_uniform_replay_ignores_priority_updates(backend, make):
  replay = make(backend, _spec())
  for i in range(8):
    replay.insert(_transition(i))
  replay.flush()
  batch = replay.sample()
  replay.update_priorities(batch.keys, np.full(16, 1e6, np.float32))
  assert replay.max_priority == 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_transitions_checkpoint_restores(backend, make, tmp_path):
  spec = _spec(samples_per_insert=2.0, batch_size=8)
  replay = make(backend, spec, directory=tmp_path)
  for i in range(20):
    replay.insert(_transition(i))
  ready = replay.ready()
  assert ready
  replay.checkpoint()
  replay.close()
  restored = make(backend, spec, directory=tmp_path)
  assert restored.restored
  assert restored.size() == 20 and restored.ready() == ready
  while restored.ready():
    assert set(_rows(restored.sample())) <= set(range(20))
  restored.insert(_transition(20))  # 2 more samples per insert
  assert not restored.ready()
  restored.insert(_transition(21))
  restored.insert(_transition(22))
  restored.insert(_transition(23))
  assert restored.ready()
  restored.sample()


@requires_reverb
def test_reverb_resumes_after_sampling_without_waiting(make, tmp_path):
  """Samples Reverb's sampler had prepared but the learner never took count
  as taken after a restore: the resumed replay is at most that far behind,
  and never waits for a batch it was promised."""
  spec = _spec(capacity=400, min_size=100, batch_size=256,
               samples_per_insert=32.0)
  replay = make("reverb", spec, directory=tmp_path)
  taken = 0
  for i in range(300):
    replay.insert(_transition(i % 50))
    while replay.ready():
      replay.sample()
      taken += 1
  replay.checkpoint()
  replay.close()
  restored = make("reverb", spec, directory=tmp_path)
  assert restored.restored and restored.size() == 300
  later = 0
  for i in range(100):
    restored.insert(_transition(i % 50))
    while restored.ready():
      restored.sample()
      later += 1
  want = sum(_reverb_rule_steps(400, 32.0, 256, 100, 400))
  assert want - 3 <= taken + later <= want


@requires_reverb
def test_reverb_resumes_a_table_saved_with_the_learners_own_rule(make,
                                                                 tmp_path):
  """A table whose limiter is not looser than the learner's (as Relay's
  earlier Reverb runs saved it): staged items are written whenever a batch
  needs them, so every batch the rule allows is served, none waits."""
  from replay import adders as adders_lib
  from replay import codec as codec_lib
  from replay import reverb_replay
  from replay import server as server_lib
  from replay import tables
  spec = _spec(capacity=400, min_size=100, batch_size=256,
               samples_per_insert=32.0)
  codec = codec_lib.FlatCodec(_transition(0))
  limiter = tables.sample_to_insert_ratio_limiter(
      32.0, 100, spec.error_buffer, block_inserts=False)
  with server_lib.ReplayServer([tables.uniform_table(
      reverb_replay.TRANSITIONS_TABLE, 400, limiter, codec.signature())],
                               checkpoint_dir=str(tmp_path)) as server:
    sink = adders_lib.ReverbTransitionSink(
        server.client, reverb_replay.TRANSITIONS_TABLE, codec)
    for i in range(90):
      sink(_transition(i), 1.0)
    sink.flush()
    sink.close()
    server.checkpoint()
  replay = make("reverb", spec, directory=tmp_path)
  assert replay.restored and replay.size() == 90
  steps = []
  for i in range(210):
    replay.insert(_transition(i % 50))
    n = 0
    while replay.ready():
      replay.sample()
      n += 1
    steps.append(n)
  assert steps == _reverb_rule_steps(300, 32.0, 256, 100, 400)[90:]


# --- rollouts --------------------------------------------------------------
def _assert_rollout(batch, i):
  assert batch.keys.shape == batch.probabilities.shape == (1,)
  for got, want in zip(jax.tree_util.tree_leaves(batch.data),
                       jax.tree_util.tree_leaves(_rollout(i))):
    got = np.asarray(got)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_queue_is_fifo_and_samples_each_rollout_once(backend, make):
  queue = make(backend, QUEUE_SPEC)
  assert not queue.ready() and queue.size() == 0
  for i in range(3):
    queue.insert(_rollout(i))
  assert queue.size() == 3
  keys = []
  for i in range(3):
    assert queue.ready()
    batch = queue.sample()
    _assert_rollout(batch, i)
    keys.append(int(batch.keys[0]))
  assert len(set(keys)) == 3
  assert not queue.ready() and queue.size() == 0
  with pytest.raises(RuntimeError, match="empty"):
    queue.sample()
  queue.insert(_rollout(7))
  _assert_rollout(queue.sample(), 7)
  stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs),
                                   _rollout(8), _rollout(9))
  queue.insert_many(stacked, 2)
  _assert_rollout(queue.sample(), 8)
  _assert_rollout(queue.sample(), 9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_full_queue_refuses_an_insert_instead_of_blocking(backend, make):
  queue = make(backend, QUEUE_SPEC)
  for i in range(4):
    queue.insert(_rollout(i))
  with pytest.raises(RuntimeError, match="full"):
    queue.insert(_rollout(4))
  _assert_rollout(queue.sample(), 0)
  queue.insert(_rollout(4))


@pytest.mark.parametrize("backend", BACKENDS)
def test_queue_checkpoint_restores(backend, make, tmp_path):
  queue = make(backend, QUEUE_SPEC, directory=tmp_path)
  queue.insert(_rollout(1))
  queue.insert(_rollout(2))
  _assert_rollout(queue.sample(), 1)
  queue.checkpoint()
  queue.close()
  restored = make(backend, QUEUE_SPEC, directory=tmp_path)
  assert restored.restored and restored.size() == 1 and restored.ready()
  _assert_rollout(restored.sample(), 2)
  assert not restored.ready()
  restored.checkpoint()  # an empty queue, as a run normally leaves it
  restored.close()
  empty = make(backend, QUEUE_SPEC, directory=tmp_path)
  assert empty.restored and empty.size() == 0 and not empty.ready()


# --- every backend ---------------------------------------------------------
def _fill_and_sample(replay, kind):
  """Leaves the replay as a run ends: learning, nothing more allowed."""
  if kind == "rollouts":
    replay.insert(_rollout(0))
    replay.insert(_rollout(1))
    replay.sample()
    return
  for i in range(300):
    replay.insert(_transition(i % 50))
    while replay.ready():
      replay.update_priorities(replay.sample().keys, np.ones(256, np.float32))


@pytest.mark.parametrize("kind", ["transitions", "rollouts"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_checkpoint_and_close_are_fast_and_close_is_idempotent(
    backend, kind, make, tmp_path):
  spec = (_spec(capacity=400, min_size=100, batch_size=256,
                samples_per_insert=32.0)
          if kind == "transitions" else QUEUE_SPEC)
  replay = make(backend, spec, directory=tmp_path)
  _fill_and_sample(replay, kind)
  time.sleep(0.2)  # Reverb's sampler now waits on the table's limiter
  start = time.perf_counter()
  replay.checkpoint()
  replay.close()
  assert time.perf_counter() - start < 2.0
  replay.close()
  port = getattr(replay, "port", None)
  if port:  # nothing listens on the Reverb server's port any more
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
      probe.bind(("0.0.0.0", port))
      probe.listen(1)
    finally:
      probe.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_checkpoint_needs_a_folder(backend, make):
  with pytest.raises(ValueError, match="checkpoint_dir"):
    make(backend, _spec()).checkpoint()


def test_unknown_backend_or_kind_is_refused():
  with pytest.raises(errors.ConfigError, match="reverb, device"):
    backends.make_replay(_spec(), _transition(0), "disk",
                         checkpoint_dir=None, key=jax.random.PRNGKey(0))
  with pytest.raises(errors.ConfigError, match="replay kind"):
    backends.make_replay(agent_lib.ReplaySpec("episodes"), _transition(0),
                         "device", checkpoint_dir=None,
                         key=jax.random.PRNGKey(0))
