"""Replay in device memory, behind the `ReplayBackend` protocol
(building_blocks/agent.py): what a runner gets from Reverb (table, rate
limiter, writer, sampling, checkpoints), without Reverb.

`DeviceReplay` keeps a `replay.device_buffer` state (n-step transitions,
uniform or prioritized) in device memory:

- `insert(item)`: items wait in a host list and reach the device just
  before the next sample (or on `flush()`), in jitted adds of `add_chunk`
  items (the items inserted per sample at the target ratio: 8 for DQN's
  defaults) and of single items for the rest, so an environment step costs
  a list append, not a device dispatch, and only two add shapes ever
  compile;
- `ready()` / `sample()`: batches (`ReplayBatch` of device arrays) when the
  rate limiter allows; `update_priorities(keys, priorities)` for the keys
  of a sampled batch;
- `SampleToInsertRatio`: the same arithmetic as Reverb's rate limiter with
  the parameters of replay/tables.py, so a run takes the same number of
  learner steps per environment step on either backend;
- `checkpoint()` and, at construction, restore from `checkpoint_dir`:
  items, priorities, limiter counts and the sampling RNG.

Adds, samples and priority updates are dispatched asynchronously; the
buffer state is donated to each update, so it is changed in place.

`DeviceRolloutQueue` is the rollouts counterpart: a FIFO of whole rollouts
already on the device, each sampled once.
"""
from __future__ import annotations

import collections
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from building_blocks import errors
from replay import codec as codec_lib
from replay import device_buffer as device_buffer_lib
from replay.dataset import ReplayBatch

CHECKPOINT_FILE = "device_replay.npz"
QUEUE_CHECKPOINT_FILE = "device_queue.npz"
_FORMAT = 1
# Rollouts a queue holds (device or Reverb): a single-process runner
# samples each one right after inserting it.
QUEUE_SIZE = 4


class SampleToInsertRatio:
  """Reverb's rate limiter, computed on the host (Reverb 0.14's rule).

  With diff = inserts * samples_per_insert - samples (items, not batches), a
  sample of n items may proceed while the buffer holds at least
  `min_size_to_sample` items and diff - n >= min_diff, where min_diff =
  samples_per_insert * min_size_to_sample - error_buffer (error_buffer at
  least 2 * max(1, samples_per_insert), as Reverb demands). Inserts are
  never limited: in a single process the learner could not run to unblock
  them (replay/tables.py).
  """

  def __init__(self, samples_per_insert: float, min_size_to_sample: int,
               error_buffer: float):
    if samples_per_insert <= 0:
      raise errors.ConfigError(
          f"samples_per_insert must be > 0, got {samples_per_insert}.")
    self.samples_per_insert = float(samples_per_insert)
    self.min_size_to_sample = int(min_size_to_sample)
    error_buffer = max(float(error_buffer), 2 * max(1.0, samples_per_insert))
    self.min_diff = self.samples_per_insert * min_size_to_sample - error_buffer
    self.inserts = 0
    self.samples = 0

  def can_sample(self, num_samples: int, size: int) -> bool:
    return (size >= self.min_size_to_sample and
            self.inserts * self.samples_per_insert - self.samples -
            num_samples >= self.min_diff)


class DeviceReplay:
  """A device buffer with a host-side rate limiter and checkpoints; a
  `ReplayBackend` for transitions.

  Args:
    buffer: from `device_buffer.make_transition_buffer`.
    example_item: one item (no batch axis) with the stored shapes/dtypes.
    samples_per_insert, error_buffer: the rate limiter (min size to sample
      is `buffer.min_size`); see `SampleToInsertRatio`.
    key: PRNG key of the sampler (the n-th sample uses fold_in(key, n)).
    checkpoint_dir: where `checkpoint()` writes; if it holds a checkpoint,
      the replay starts from it (resume). None: no checkpoints.
    add_chunk: items per jitted add (default: the largest power of two <=
      sample_batch_size / samples_per_insert).
  """

  def __init__(self, buffer: device_buffer_lib.TransitionBuffer,
               example_item: Any, *, samples_per_insert: float,
               error_buffer: float, key: jax.Array,
               checkpoint_dir: str | None = None,
               add_chunk: int | None = None):
    self.buffer = buffer
    self.limiter = SampleToInsertRatio(samples_per_insert, buffer.min_size,
                                       error_buffer)
    self.checkpoint_dir = checkpoint_dir
    if add_chunk is None:
      per_sample = buffer.sample_batch_size / samples_per_insert
      add_chunk = 1 << max(0, int(per_sample).bit_length() - 1)
    self.add_chunk = max(1, min(int(add_chunk), buffer.capacity))
    self._staged: list[Any] = []  # items from insert(), in order
    # Blocks of columns (one array per leaf, leading axis the items) from
    # insert_many() and from the items staged before it, in order.
    self._blocks: list[list[np.ndarray]] = []
    self._treedef = jax.tree_util.tree_structure(example_item)
    # flashbax starts the sum tree's max priority as a weakly typed scalar,
    # which the first priority update makes a float32: the jitted add and
    # priority update would compile a second time mid-run. Strong types
    # from the start.
    self._state = jax.jit(lambda item: jax.tree_util.tree_map(
        lambda x: jnp.asarray(x, dtype=x.dtype), buffer.init(item)))(
            example_item)
    self._dtypes = [np.dtype(x.dtype) for x in
                    jax.tree_util.tree_leaves(self._state.buffer.experience)]
    self._add = jax.jit(buffer.add, donate_argnums=0)
    self._set_priorities = jax.jit(buffer.set_priorities, donate_argnums=0)

    def sample(state, key, n):
      batch = buffer.sample(state, jax.random.fold_in(key, n))
      # One table size per item, as Reverb reports it.
      return batch._replace(table_size=jax.numpy.full(
          (buffer.sample_batch_size,), batch.table_size))
    self._sample = jax.jit(sample)
    self._key = jax.random.key_data(key) if _is_typed_key(key) else key
    self._key = np.asarray(self._key, np.uint32)
    self._num_samples_taken = 0  # sample() calls, for the RNG
    self._size = 0  # items on the device or staged, <= capacity
    self.restored = False
    if checkpoint_dir is not None:
      os.makedirs(checkpoint_dir, exist_ok=True)
      if os.path.exists(self.checkpoint_path):
        self._restore()
        self.restored = True
    kind = "prioritized" if buffer.prioritized else "uniform"
    self.description = (f"replay in {jax.default_backend()} device memory "
                        f"(flashbax buffer, {kind}, {buffer.capacity} items)")

  # --- writing -----------------------------------------------------------
  def insert(self, item: Any, priority: float | None = None) -> None:
    """Stages one item; it reaches the device before the next sample.

    `priority` is not used: the buffer gives each new item the largest
    priority set so far (`max_priority`), which is what Reverb's backend
    does for priority None.
    """
    del priority
    self._staged.append(item)
    self.limiter.inserts += 1
    self._size = min(self._size + 1, self.buffer.capacity)

  def insert_many(self, stacked: Any, count: int) -> None:
    """Stages `count` items given stacked (each leaf with a leading axis of
    `count`), as `count` calls of `insert` would, without splitting them
    into items (a distributed replay server receives them so)."""
    self._stage_items_as_block()
    self._blocks.append([np.asarray(x).astype(dtype, copy=False)
                         for x, dtype in zip(jax.tree_util.tree_leaves(stacked),
                                             self._dtypes)])
    self.limiter.inserts += count
    self._size = min(self._size + count, self.buffer.capacity)

  def _stage_items_as_block(self) -> None:
    staged, self._staged = self._staged, []
    if staged:
      self._blocks.append(
          [np.stack(leaves).astype(dtype, copy=False) for leaves, dtype in
           zip(zip(*(jax.tree_util.tree_leaves(item) for item in staged)),
               self._dtypes)])

  def flush(self) -> None:
    """Moves the staged items to the device, in order (asynchronously):
    adds of `add_chunk` items, then of one item for the remainder."""
    self._stage_items_as_block()
    blocks, self._blocks = self._blocks, []
    if not blocks:
      return
    columns = blocks[0] if len(blocks) == 1 else [
        np.concatenate(leaves) for leaves in zip(*blocks)]
    start = 0
    remaining = len(columns[0])
    while remaining:
      chunk = self.add_chunk if remaining >= self.add_chunk else 1
      items = self._treedef.unflatten(
          [column[start:start + chunk] for column in columns])
      self._state = self._add(self._state, items)
      start += chunk
      remaining -= chunk

  # --- sampling ----------------------------------------------------------
  def size(self) -> int:
    """Items stored (staged ones included)."""
    return self._size

  def can_sample(self) -> bool:
    """True when the rate limiter allows one batch now (never blocks)."""
    return self.limiter.can_sample(self.buffer.sample_batch_size, self._size)

  ready = can_sample  # the ReplayBackend name

  def sample(self) -> ReplayBatch:
    """One batch of `sample_batch_size` items, on the device (int32 keys,
    and `table_size` repeated per item, as Reverb gives it).

    Counts against the rate limiter like a Reverb sample; call it when
    `can_sample()` says so (it does not wait).
    """
    self.flush()
    batch = self._sample(self._state, self._key, self._num_samples_taken)
    self._num_samples_taken += 1
    self.limiter.samples += self.buffer.sample_batch_size
    return batch

  def update_priorities(self, keys: Any, priorities: Any) -> None:
    """Sets p_i for the items of a sampled batch (see set_priorities)."""
    self._state = self._set_priorities(self._state, keys, priorities)

  @property
  def max_priority(self) -> float:
    """The priority new items get: the largest p_i set so far (1.0 at
    first), from the buffer's sum tree (reading it waits for the device)."""
    alpha = self.buffer.priority_exponent
    if not self.buffer.prioritized or alpha == 0 or self._state is None:
      return 1.0
    tree = self._state.buffer.sum_tree_state
    return float(np.asarray(tree.max_recorded_priority)) ** (1.0 / alpha)

  @max_priority.setter
  def max_priority(self, value: float) -> None:
    """Ignored: the buffer's own maximum is in its state and checkpoint."""
    del value

  # --- checkpoints -------------------------------------------------------
  @property
  def checkpoint_path(self) -> str:
    if self.checkpoint_dir is None:
      raise ValueError("this DeviceReplay has no checkpoint_dir")
    return os.path.join(self.checkpoint_dir, CHECKPOINT_FILE)

  def checkpoint(self) -> str:
    """Writes every item, the priorities, the limiter counts and the RNG
    state to `checkpoint_dir/device_replay.npz` (atomically: a crash
    keeps the previous file). Returns the path."""
    self.flush()
    leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(self._state)]
    meta = {"format": _FORMAT, "inserts": self.limiter.inserts,
            "samples": self.limiter.samples,
            "num_samples_taken": self._num_samples_taken, "size": self._size,
            "capacity": self.buffer.capacity,
            "prioritized": self.buffer.prioritized}
    arrays = {f"leaf_{i}": leaf for i, leaf in enumerate(leaves)}
    return _save_npz(self.checkpoint_path, meta, key=self._key, **arrays)

  def _restore(self) -> None:
    path = self.checkpoint_path
    template = jax.tree_util.tree_leaves(self._state)
    meta, arrays = _load_npz(path)
    leaves = [arrays[f"leaf_{i}"] for i in
              range(sum(name.startswith("leaf_") for name in arrays))]
    key = arrays.get("key")
    problem = None
    if meta.get("format") != _FORMAT or key is None:
      problem = "it was written by another version"
    elif (meta.get("capacity") != self.buffer.capacity or
          meta.get("prioritized") != self.buffer.prioritized):
      kind = "prioritized" if meta.get("prioritized") else "uniform"
      problem = f"it holds a {kind} buffer of {meta.get('capacity')} items"
    elif len(leaves) != len(template):
      problem = f"it has {len(leaves)} arrays, this run {len(template)}"
    else:
      for got, want in zip(leaves, template):
        if got.shape != want.shape or got.dtype != want.dtype:
          problem = (f"an array is {got.dtype}{list(got.shape)}, this run "
                     f"stores {want.dtype}{list(want.shape)}")
          break
    if problem:
      raise errors.RunDirectoryError(
          f"The replay checkpoint {path} does not fit this run: {problem}.")
    treedef = jax.tree_util.tree_structure(self._state)
    # Copied inside XLA: on CPU a device array made from a numpy array may
    # share the numpy memory, and this state is donated to every update.
    # With jax 0.4.34, donating such arrays to executables loaded from the
    # persistent compilation cache crashed resumed runs (segfaults).
    copy = jax.jit(lambda xs: [jax.numpy.copy(x) for x in xs])
    self._state = jax.tree_util.tree_unflatten(treedef, copy(leaves))
    self._key = np.asarray(key, np.uint32)
    self.limiter.inserts = int(meta["inserts"])
    self.limiter.samples = int(meta["samples"])
    self._num_samples_taken = int(meta["num_samples_taken"])
    self._size = int(meta["size"])

  def close(self) -> None:
    """Drops the staged items and frees the device memory; safe to call
    twice."""
    self._staged = []
    self._state = None

  def __enter__(self) -> "DeviceReplay":
    return self

  def __exit__(self, *exc: Any) -> None:
    self.close()


class DeviceRolloutQueue:
  """Whole rollouts in device memory, FIFO, each sampled once; a
  `ReplayBackend` for replay kind "rollouts".

  Args:
    example_item: one Rollout (leaves [T, N, ...], no batch axis); fixes
      what a checkpoint must hold.
    checkpoint_dir: where `checkpoint()` writes `device_queue.npz`; if it
      holds one, the queue starts with its rollouts (`restored`). None: no
      checkpoints.
    max_size: rollouts held; `insert` into a full queue raises
      RuntimeError (nothing in one process would ever empty it).
  """

  def __init__(self, example_item: Any, *, checkpoint_dir: str | None = None,
               max_size: int = QUEUE_SIZE):
    self._treedef = jax.tree_util.tree_structure(example_item)
    # What the device stores (64-bit dtypes become 32-bit without x64).
    self._specs = [(np.shape(x), np.dtype(jax.dtypes.canonicalize_dtype(
        np.asarray(x).dtype))) for x in jax.tree_util.tree_leaves(example_item)]
    self._max_size = max_size
    self._queue: collections.deque[tuple[int, Any]] = collections.deque()
    self._next_key = 0  # the n-th rollout ever inserted has key n
    self.checkpoint_dir = checkpoint_dir
    self.restored = False
    if checkpoint_dir is not None:
      os.makedirs(checkpoint_dir, exist_ok=True)
      if os.path.exists(self.checkpoint_path):
        self._restore()
        self.restored = True
    self.description = (f"rollout queue in {jax.default_backend()} device "
                        f"memory (up to {max_size} rollouts)")

  def insert(self, item: Any, priority: float | None = None) -> None:
    """Puts one rollout on the device at the back of the queue."""
    del priority
    if len(self._queue) >= self._max_size:
      raise RuntimeError(
          f"the rollout queue is full ({self._max_size} rollouts): sample "
          "each rollout before inserting more than that.")
    self._queue.append((self._next_key, jax.device_put(item)))
    self._next_key += 1

  def insert_many(self, stacked: Any, count: int) -> None:
    """`insert` of each of `count` stacked rollouts, in order."""
    for item in codec_lib.unstack(stacked, count):
      self.insert(item)

  def ready(self) -> bool:
    return bool(self._queue)

  def sample(self) -> ReplayBatch:
    """The oldest rollout (removed), no batch axis; keys [1] uint64 (its
    insertion number), probabilities [1] float32, table_size [1] int32."""
    if not self._queue:
      raise RuntimeError("sample() on an empty rollout queue; check ready().")
    size = len(self._queue)
    key, data = self._queue.popleft()
    return ReplayBatch(keys=np.array([key], np.uint64),
                       probabilities=np.ones(1, np.float32),
                       table_size=np.array([size], np.int32), data=data)

  def update_priorities(self, keys: Any, priorities: Any) -> None:
    del keys, priorities  # a queue has no priorities

  @property
  def max_priority(self) -> float:
    return 1.0

  @max_priority.setter
  def max_priority(self, value: float) -> None:
    del value

  def size(self) -> int:
    return len(self._queue)

  def flush(self) -> None:
    """Nothing to do: `insert` has already put the rollout in the queue."""

  @property
  def checkpoint_path(self) -> str:
    if self.checkpoint_dir is None:
      raise ValueError("this DeviceRolloutQueue has no checkpoint_dir")
    return os.path.join(self.checkpoint_dir, QUEUE_CHECKPOINT_FILE)

  def checkpoint(self) -> str:
    """Writes the queued rollouts (normally none: each is sampled right
    after its insert) and the key counter, atomically. Returns the path."""
    arrays = {}
    for i, (_, item) in enumerate(self._queue):
      for j, leaf in enumerate(jax.tree_util.tree_leaves(item)):
        arrays[f"item_{i}_leaf_{j}"] = np.asarray(leaf)
    meta = {"format": _FORMAT, "next_key": self._next_key,
            "keys": [key for key, _ in self._queue],
            "num_leaves": len(self._specs)}
    return _save_npz(self.checkpoint_path, meta, **arrays)

  def _restore(self) -> None:
    path = self.checkpoint_path
    meta, arrays = _load_npz(path)
    problem = None
    if meta.get("format") != _FORMAT:
      problem = "it was written by another version"
    elif meta.get("num_leaves") != len(self._specs):
      problem = (f"its rollouts have {meta.get('num_leaves')} arrays, this "
                 f"run's {len(self._specs)}")
    elif len(meta.get("keys", [])) > self._max_size:
      problem = f"it holds more than {self._max_size} rollouts"
    items = []
    for i in range(len(meta.get("keys", [])) if problem is None else 0):
      leaves = [arrays.get(f"item_{i}_leaf_{j}")
                for j in range(len(self._specs))]
      for leaf, (shape, dtype) in zip(leaves, self._specs):
        if leaf is None or leaf.shape != shape or leaf.dtype != dtype:
          got = "nothing" if leaf is None else f"{leaf.dtype}{list(leaf.shape)}"
          problem = (f"a rollout array is {got}, this run stores "
                     f"{dtype}{list(shape)}")
          break
      if problem:
        break
      items.append(leaves)
    if problem:
      raise errors.RunDirectoryError(
          f"The replay checkpoint {path} does not fit this run: {problem}.")
    for key, leaves in zip(meta["keys"], items):
      self._queue.append((int(key), jax.device_put(
          jax.tree_util.tree_unflatten(self._treedef, leaves))))
    self._next_key = int(meta["next_key"])

  def close(self) -> None:
    """Drops the queued rollouts; safe to call twice."""
    self._queue.clear()

  def __enter__(self) -> "DeviceRolloutQueue":
    return self

  def __exit__(self, *exc: Any) -> None:
    self.close()


def _save_npz(path: str, meta: dict[str, Any], **arrays: np.ndarray) -> str:
  """Writes `meta` (as JSON) and `arrays` to `path` atomically: a crash
  keeps the previous file. Returns `path`."""
  tmp = path + ".tmp"
  with open(tmp, "wb") as f:
    np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
  return path


def _load_npz(path: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
  """(meta, arrays) of a `_save_npz` file; RunDirectoryError if unreadable."""
  try:
    with np.load(path) as data:
      meta = json.loads(str(data["meta"]))
      arrays = {name: data[name] for name in data.files if name != "meta"}
  except (OSError, KeyError, ValueError) as e:
    raise errors.RunDirectoryError(
        f"Cannot read the replay checkpoint {path}: {e}") from e
  if not isinstance(meta, dict):
    raise errors.RunDirectoryError(
        f"Cannot read the replay checkpoint {path}: no metadata.")
  return meta, arrays


def _is_typed_key(key: Any) -> bool:
  return (hasattr(key, "dtype") and
          jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key))

