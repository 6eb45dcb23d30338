"""Replay in an in-process Reverb server, behind the `ReplayBackend`
protocol (building_blocks/agent.py).

- `ReverbReplay`: n-step transitions in one table (uniform or prioritized,
  FIFO removal, a SampleToInsertRatio limiter whose inserts never block).
- `ReverbRolloutQueue`: whole rollouts in a Reverb queue (FIFO, each one
  sampled once).

Each item is packed by `FlatCodec` into one uint8 column (replay/codec.py
says why). Reverb is imported when a backend is built, never at import.

How `ReverbReplay` is driven, and why (measured on 2 shared CPU cores,
DQN on CartPole-sized transitions):

- `insert` stages the encoded item; staged items go to Reverb's C++
  trajectory writer WRITE_GROUP at a time, directly (the Python wrapper's
  per-item bookkeeping cost about as much again), and are not flushed
  (with one step per chunk each item is sent at once; a flush only waits
  for the server's acknowledgement). Every item that reaches the table
  wakes the writer's, the server's and the sampler's threads; on two busy
  cores those wake-ups, not the Python, were most of an insert's cost, so
  fewer, larger groups made DQN's loop ~15% faster.
- `ready()` is the host-side `SampleToInsertRatio` (the device replay's
  rule, Reverb's arithmetic) over the counts of inserted and sampled items:
  no call into Reverb per step (a restored server's `server_info()` costs
  ~0.1-0.2 ms), and exactly the device replay's learner steps per insert.
- `sample()` takes the next batch of a tf.data pipeline
  (`replay.dataset.reverb_batches`) that samples and decodes in
  TensorFlow's threads. The table's own limiter is looser than the
  learner's by one batch plus what a held-back group allows, so the
  pipeline prepares the learner's next batch ahead from the items already
  written; sampling a batch only once the learner may take it made each
  step wait ~1.2 ms for it.
- `close()` stops the server before it releases that pipeline. The
  pipeline's sampler is usually waiting on the table's limiter, and a
  waiting sampler notices a close only when it wakes (every 3 s in
  Reverb's in-process sampler): releasing it first made closing take
  2.5-5 s; stopping the server first cancels the wait at once.

`ReverbRolloutQueue` flushes each rollout (the learner takes it next) and
samples it on the calling thread with a sampler made for that one item.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from building_blocks import optional_deps
from replay import codec as codec_lib
from replay import dataset
from replay import server as server_lib
from replay import tables
from replay.dataset import ReplayBatch
from replay.device_replay import QUEUE_SIZE
from replay.device_replay import SampleToInsertRatio

TRANSITIONS_TABLE = "priority_table"
QUEUE_TABLE = "rollout_queue"
# Every CHECK_EVERY inserts, an insert waits while more than MAX_UNCONFIRMED
# items are not yet confirmed by the server (no wait when it keeps up):
# Reverb warns of memory exhaustion from 50 on.
MAX_UNCONFIRMED = 32
CHECK_EVERY = 16
# Inserted transitions go to Reverb this many at a time (module docstring).
WRITE_GROUP = 64


class _ItemWriter:
  """Writes one-column items (one step each) to a table, never blocking.

  Uses the C++ writer under reverb.TrajectoryWriter (`_writer`, there in
  every Reverb release with that class); the public wrapper does the same
  work with more Python per item. Falls back to the wrapper if it is gone.
  """

  def __init__(self, client: Any, table: str):
    self._table = table
    # One step per chunk: each item is sent as soon as it is created, so it
    # reaches the table without a flush.
    self._writer = client.trajectory_writer(num_keep_alive_refs=1)
    self._cpp = getattr(self._writer, "_writer", None)
    if not all(hasattr(self._cpp, name) for name in ("Append", "CreateItem")):
      self._cpp = None
    self._unflushed = 0  # items created since the last flush

  def write(self, column: np.ndarray, priority: float) -> None:
    if self._cpp is not None:
      refs = self._cpp.Append([column])
      self._cpp.CreateItem(self._table, priority, [[refs[0]]], [True])
    else:
      self._writer.append({codec_lib.COLUMN: column})
      history = self._writer.history[codec_lib.COLUMN]
      self._writer.create_item(self._table, priority,
                               {codec_lib.COLUMN: history[-1]})
    self._unflushed += 1
    if self._unflushed % CHECK_EVERY == 0:
      self._writer.flush(block_until_num_items=MAX_UNCONFIRMED)

  def flush(self) -> None:
    """Blocks until the server has stored every item written so far."""
    if self._unflushed:
      self._writer.flush()
      self._unflushed = 0

  def close(self) -> None:
    self._writer.close()


class _ReverbBackend:
  """What both Reverb backends share: the server, one table, the writer,
  one-shot sampling, checkpoints and an idempotent, fast close."""

  def __init__(self, table: Any, table_name: str,
               codec: codec_lib.FlatCodec, checkpoint_dir: str | None,
               port: int):
    self._codec = codec
    self._table_name = table_name
    self._checkpoint_dir = checkpoint_dir
    self._server = server_lib.ReplayServer([table], port=port,
                                           checkpoint_dir=checkpoint_dir)
    self._client = self._server.client
    self.restored = self._server.restored
    self.port = self._server.port
    self._writer = _ItemWriter(self._client, table_name)
    self._closed = False
    self.max_priority = 1.0

  def _table_info(self) -> Any:
    """The server's own table (after a restore, not the Table passed in)."""
    return self._client.server_info()[self._table_name]

  def flush(self) -> None:
    """Makes every inserted item visible to sampling (waits for the
    server's acknowledgement)."""
    self._writer.flush()

  def size(self) -> int:
    self.flush()
    return int(self._table_info().current_size)

  def update_priorities(self, keys: Any, priorities: Any) -> None:
    del keys, priorities  # uniform tables and queues have none

  def checkpoint(self) -> str:
    """Writes the table (items, priorities, limiter counts) to
    `checkpoint_dir` with Reverb's checkpointer; returns its path."""
    if self._checkpoint_dir is None:
      raise ValueError("this replay has no checkpoint_dir")
    self.flush()
    return self._client.checkpoint()

  def close(self) -> None:
    """Closes the writers, stops the server, then releases the samplers
    (in this order: see the module docstring); safe to call twice."""
    if self._closed:
      return
    self._closed = True
    try:
      self._close_clients()
    finally:
      try:
        self._server.stop()
      finally:
        self._close_samplers()

  def _close_clients(self) -> None:
    """Closes what writes to the server (before it stops)."""
    self._writer.close()

  def _close_samplers(self) -> None:
    """Releases what samples the table (after the server has stopped)."""

  def __enter__(self) -> "_ReverbBackend":
    return self

  def __exit__(self, *exc: Any) -> None:
    self.close()


class ReverbReplay(_ReverbBackend):
  """Transitions in a Reverb table (see the module docstring).

  Args:
    spec: a "transitions" ReplaySpec (capacity, min_size, batch_size,
      samples_per_insert, error_buffer, prioritized, priority_exponent).
    example_item: one Transition without batch axis (shapes and dtypes).
    checkpoint_dir: where `checkpoint()` writes; if it holds a checkpoint
      the table starts from it (`restored`). None: a temporary folder, and
      `checkpoint()` refuses.
    port: the server's port (0: any free one).

  `insert(item, None)` gives the item `max_priority`: the largest priority
  that `update_priorities` has set (1.0 at first), as Schaul et al. (2016)
  give new items. Runners that resume set `max_priority` from their
  checkpoint (it is not part of Reverb's).
  """

  def __init__(self, spec: Any, example_item: Any, *,
               checkpoint_dir: str | None = None, port: int = 0):
    if spec.kind != "transitions":
      raise ValueError(f"ReverbReplay stores transitions, not {spec.kind!r}")
    codec = codec_lib.FlatCodec(example_item)
    # The learner's limiter, on the host: the rule the device replay uses.
    self._limiter = SampleToInsertRatio(
        spec.samples_per_insert, spec.min_size, spec.error_buffer)
    # The table's is looser by one batch plus the samples a held-back
    # group of items would allow: its sampler prepares the learner's next
    # batch ahead, from the items already written.
    self._write_group = WRITE_GROUP
    slack = self._limiter.samples_per_insert * spec.min_size - (
        self._limiter.min_diff)
    lookahead = spec.batch_size + self._write_group * spec.samples_per_insert
    limiter = tables.sample_to_insert_ratio_limiter(
        samples_per_insert=spec.samples_per_insert,
        min_size_to_sample=spec.min_size,
        error_buffer=slack + lookahead, block_inserts=False)
    if spec.prioritized:
      table = tables.prioritized_table(TRANSITIONS_TABLE, spec.capacity,
                                       spec.priority_exponent, limiter,
                                       codec.signature())
    else:
      table = tables.uniform_table(TRANSITIONS_TABLE, spec.capacity, limiter,
                                   codec.signature())
    super().__init__(table, TRANSITIONS_TABLE, codec, checkpoint_dir, port)
    self._batch_size = spec.batch_size
    self._staged: list[tuple[np.ndarray, float]] = []
    self._prioritized = spec.prioritized
    # The counts the server holds (a restored table's too). After a
    # restore, samples the pipeline had prepared but the learner never took
    # count as taken: fewer than 3 batches (its queue, the batch it was
    # assembling, its prefetched batch) that a resumed run does not take.
    info = self._table_info()
    rl = info.rate_limiter_info
    self._limiter.inserts = int(rl.insert_stats.completed)
    self._limiter.samples = int(rl.sample_stats.completed)
    # The table's own rule (a restored table keeps the one it was saved
    # with): `ready()` never promises a batch the table would not serve.
    self._table_rule = (float(rl.samples_per_insert), float(rl.min_diff),
                        int(rl.min_size_to_sample))
    self._capacity = int(info.max_size)
    self._size = int(info.current_size)  # inserted items (staged too)
    self._written = self._size  # items written to the table
    self._batches: Iterator[ReplayBatch] | None = None  # made at 1st sample
    kind = "prioritized" if spec.prioritized else "uniform"
    self.description = (f"Replay server on localhost:{self.port} (Reverb, "
                        f"{kind}, {spec.capacity} transitions)")

  def insert(self, item: Any, priority: float | None = None) -> None:
    """Stages one transition (priority None: `max_priority`); staged ones
    go to Reverb a group at a time, and all of them when `ready()` lets a
    batch be sampled. Never waits for the learner (only, rarely, for the
    server to confirm all but MAX_UNCONFIRMED written items)."""
    if priority is None:
      priority = self.max_priority
    self._staged.append((self._codec.encode(item)[codec_lib.COLUMN],
                         float(priority)))
    self._limiter.inserts += 1
    self._size = min(self._size + 1, self._capacity)
    if len(self._staged) >= self._write_group:
      self._write_staged()

  def insert_many(self, stacked: Any, count: int) -> None:
    """Stages `count` transitions given stacked (each leaf with a leading
    axis of `count`), as `count` calls of `insert(item, None)` would,
    encoded in one go."""
    rows = self._codec.encode_batch(stacked, count)
    priority = float(self.max_priority)
    self._staged.extend((row, priority) for row in rows)
    self._limiter.inserts += count
    self._size = min(self._size + count, self._capacity)
    if len(self._staged) >= self._write_group:
      self._write_staged()

  def _write_staged(self) -> None:
    for column, priority in self._staged:
      self._writer.write(column, priority)
    self._written = min(self._written + len(self._staged), self._capacity)
    self._staged.clear()

  def ready(self) -> bool:
    """True when the rate limiter allows the learner one batch now: the
    device replay's rule, from the counts of inserted and sampled items
    (host arithmetic, no call into Reverb)."""
    if not self._limiter.can_sample(self._batch_size, self._size):
      return False
    # With the table's looser limiter the written items serve the batch,
    # except before min_size (or for a table saved with another rule).
    staged = len(self._staged)
    if self._table_serves(self._limiter.inserts - staged, self._written):
      return True
    if not staged or not self._table_serves(self._limiter.inserts, self._size):
      return False  # a stricter restored table: its rule decides
    self._write_staged()
    return True

  def _table_serves(self, inserts: int, size: int) -> bool:
    """Whether the table, with `inserts` and `size`, lets its sampler
    deliver the learner one more batch (Reverb's rule, its parameters)."""
    spi, min_diff, min_size = self._table_rule
    return (size >= min_size and inserts * spi - self._limiter.samples -
            self._batch_size >= min_diff)

  def flush(self) -> None:
    """Makes every inserted item visible to sampling (waits for the
    server's acknowledgement)."""
    self._write_staged()
    super().flush()

  def sample(self) -> ReplayBatch:
    """`batch_size` items as host arrays: keys uint64, probabilities
    float32, table_size int32 (per item) and the decoded Transition batch.
    Call when `ready()`: otherwise it would wait for inserts that, in one
    process, never come (it raises RuntimeError instead)."""
    if not self.ready():
      raise RuntimeError(
          "sample() called while the rate limiter allows no batch; call it "
          "only when ready() is True.")
    if self._batches is None:
      self._batches = dataset.reverb_batches(self._server.address,
                                             self._table_name,
                                             self._batch_size, self._codec)
    batch = next(self._batches)
    self._limiter.samples += self._batch_size
    return batch._replace(
        probabilities=np.asarray(batch.probabilities, np.float32),
        table_size=np.asarray(batch.table_size, np.int32))

  def _close_samplers(self) -> None:
    if self._batches is not None:
      self._batches.close()
      self._batches = None

  def update_priorities(self, keys: Any, priorities: Any) -> None:
    """p_i for the items of a sampled batch (keys as `sample` gave them);
    raises `max_priority` to the largest. Items removed since are ignored
    by Reverb. A no-op for uniform replay."""
    if not self._prioritized:
      return
    priorities = np.asarray(priorities, np.float64).ravel()
    if not priorities.size:
      return
    self.max_priority = max(self.max_priority, float(priorities.max()))
    keys = np.asarray(keys, np.uint64).ravel()
    self._client.mutate_priorities(
        self._table_name, updates=dict(zip(keys.tolist(), priorities.tolist())))


class ReverbRolloutQueue(_ReverbBackend):
  """Whole rollouts in a Reverb queue table: FIFO, each sampled once.

  Args:
    example_item: one Rollout (no batch axis: [T, N, ...] leaves).
    checkpoint_dir, port: as for `ReverbReplay`.
    max_size: rollouts the queue holds; `insert` into a full queue raises
      RuntimeError (a queue insert would wait for a sample, which in one
      process never comes).
  """

  def __init__(self, example_item: Any, *, checkpoint_dir: str | None = None,
               port: int = 0, max_size: int = QUEUE_SIZE):
    reverb = optional_deps.import_reverb()
    codec = codec_lib.FlatCodec(example_item)
    table = reverb.Table.queue(QUEUE_TABLE, max_size,
                               signature=codec.signature())
    super().__init__(table, QUEUE_TABLE, codec, checkpoint_dir, port)
    self._max_size = max_size
    # Rollouts in the queue, counted here: a restored queue holds its own.
    self._queued = int(self._table_info().current_size)
    self.description = (f"Replay server on localhost:{self.port} (Reverb, "
                        f"queue of up to {max_size} rollouts)")

  def insert(self, item: Any, priority: float | None = None) -> None:
    """Appends one rollout (flushed at once: the learner takes it next)."""
    del priority
    if self._queued >= self._max_size:
      raise RuntimeError(
          f"the rollout queue is full ({self._max_size} rollouts): sample "
          "each rollout before inserting more than that.")
    self._writer.write(self._codec.encode(item)[codec_lib.COLUMN], 1.0)
    self._writer.flush()
    self._queued += 1

  def insert_many(self, stacked: Any, count: int) -> None:
    """`insert` of each of `count` stacked rollouts, in order."""
    for item in codec_lib.unstack(stacked, count):
      self.insert(item)

  def ready(self) -> bool:
    return self._queued > 0

  def sample(self) -> ReplayBatch:
    """The oldest rollout (removed from the queue), decoded, no batch axis;
    keys [1] uint64, probabilities [1] float32, table_size [1] int32."""
    if not self._queued:
      raise RuntimeError("sample() on an empty rollout queue; check ready().")
    # Reverb's `client.sample` makes a sampler for this one item; it has
    # stopped once the item is returned.
    samples = self._client.sample(self._table_name, 1, emit_timesteps=False)
    try:
      sample = next(samples)
    finally:
      samples.close()
    self._queued -= 1
    return ReplayBatch(
        keys=np.array([sample.info.key], np.uint64),
        probabilities=np.array([sample.info.probability], np.float32),
        table_size=np.array([sample.info.table_size], np.int32),
        data=self._codec.decode({codec_lib.COLUMN: np.asarray(sample.data[0])}))

  @property
  def max_priority(self) -> float:
    return 1.0

  @max_priority.setter
  def max_priority(self, value: float) -> None:
    del value  # a queue has no priorities
