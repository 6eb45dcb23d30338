"""Transition replay in device memory: pure, jittable, vmappable functions.

Built on flashbax (InstaDeep's in-JAX buffers): the items sit in one row of
a flashbax trajectory buffer (`add_batch_size=1`, `sample_sequence_length=1`,
`period=1`, time axis of length `capacity`), written in insertion order into
a ring, so once `capacity` items are stored each add overwrites the oldest
(FIFO, as Reverb's Fifo remover does).

Sampling (with replacement, `sample_batch_size` items per call):

- uniform: every stored item with probability P(i) = 1 / N, N the number of
  items stored;
- prioritized (Schaul et al., 2016, "Prioritized Experience Replay"):
  item i with probability

      P(i) = p_i^alpha / sum_k p_k^alpha,

  alpha = `priority_exponent`, from flashbax's sum tree with the paper's
  stratified sampling (the batch's B draws come one from each of B equal
  slices of the total p^alpha mass; the batch is then shuffled, so any
  contiguous part of it, e.g. one SGD minibatch, is also spread over the
  whole buffer). A new item gets the largest p^alpha ever set (1 at
  first), as in the paper and flashbax, so it is likely to be replayed soon.

Every sample reports each item's P(i) (`probabilities`) and N
(`table_size`): importance weights w_i = (N P(i))^-beta undo the bias of
prioritized sampling and equal 1 for uniform sampling.

Keys identify items, not slots: a key is the item's insertion number
modulo a multiple of `capacity` (so key % capacity is its slot, and keys
stay int32 for ever). `set_priorities` ignores the keys of items that were
overwritten since they were sampled, as Reverb ignores deleted keys.

All functions are pure: `jax.jit` and `jax.vmap` them freely (vmap over a
batch of states, e.g. one buffer per seed). Compile them with the state
donated (`jax.jit(fn, donate_argnums=0)`) for in-place updates.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from building_blocks import errors
from replay.dataset import ReplayBatch

# Keys live in [0, key_modulus), key_modulus a multiple of capacity <= 2**30.
MAX_CAPACITY = 2**30


class DeviceBufferState(NamedTuple):
  """A buffer's contents.

  `buffer`: the flashbax state (items in `buffer.experience`, leaves shaped
  [1, capacity, ...]; for prioritized replay also the sum tree of p^alpha).
  `inserted`: items ever added, modulo the key modulus (int32).
  """
  buffer: Any
  inserted: jax.Array


class TransitionBuffer(NamedTuple):
  """Pure functions over a DeviceBufferState (see the module docstring).

  init(example_item) -> state: `example_item` is a pytree of ONE item (no
    batch axis); it fixes shapes and dtypes (64-bit dtypes become JAX's
    default 32-bit ones unless x64 is enabled).
  add(state, items) -> state: leaves of `items` have a leading axis of
    `add_batch_size` items (any other size up to `capacity` works too and
    compiles separately); they are stored in order.
  sample(state, key) -> ReplayBatch(keys int32 [B], probabilities float32
    [B], table_size int32 scalar, data with leading axis B). Only
    meaningful once `can_sample(state)`.
  can_sample(state) -> bool scalar: at least `min_size` items stored.
  set_priorities(state, keys, priorities [B]) -> state: p_i for the sampled
    items (priorities >= 0, e.g. |TD error|); keys of items overwritten
    since are ignored; a key repeated in the batch keeps one of its
    values. Returns the state unchanged for uniform replay.
  size(state) -> int32 number of items stored (<= capacity).
  """
  init: Callable[[Any], DeviceBufferState]
  add: Callable[[DeviceBufferState, Any], DeviceBufferState]
  sample: Callable[[DeviceBufferState, jax.Array], ReplayBatch]
  can_sample: Callable[[DeviceBufferState], jax.Array]
  set_priorities: Callable[[DeviceBufferState, jax.Array, jax.Array],
                           DeviceBufferState]
  size: Callable[[DeviceBufferState], jax.Array]
  prioritized: bool
  capacity: int
  min_size: int
  sample_batch_size: int
  add_batch_size: int
  priority_exponent: float


def _check_int(name: str, value: Any, low: int, high: int | None = None,
               rule: str | None = None) -> None:
  ok = (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        and value >= low and (high is None or value <= high))
  if not ok:
    rule = rule or (f"an integer >= {low}" if high is None else
                    f"an integer in [{low}, {high}]")
    raise errors.ConfigError(f"device replay: {name} must be {rule}, got "
                             f"{value!r}.")


def _flashbax_device() -> str:
  """The flashbax code path for the default backend ('cpu' otherwise)."""
  backend = jax.default_backend()
  return backend if backend in ("gpu", "tpu") else "cpu"


def _resum_paths(tree: Any, leaves: jax.Array) -> Any:
  """Recomputes the inner nodes above `leaves` of a flashbax sum tree as
  the sum of their two children, bottom-up.

  flashbax updates a sum tree by adding each leaf's change along its path,
  so float32 rounding makes inner nodes drift from the sum of their leaves
  (measured: ~5e-5 of the total after 5M updates on 50,000 items) and a
  draw near the top of the mass can then land on an empty leaf. Redoing
  every path flashbax touched keeps each inner node exactly left + right
  (O(len(leaves) * depth) work).
  """
  depth = tree.tree_depth

  def level(i, carry):
    nodes, index = carry
    d = depth - 1 - i  # the parents' level
    parent = index // 2
    first_child = jnp.power(2, d + 1) - 1 + 2 * parent
    total = nodes[first_child] + nodes[first_child + 1]
    nodes = nodes.at[jnp.power(2, d) - 1 + parent].set(total)
    return nodes, parent

  nodes, _ = jax.lax.fori_loop(0, depth, level,
                               (tree.nodes, leaves.astype(jnp.int32)))
  return tree.replace(nodes=nodes)


def make_transition_buffer(*, capacity: int, min_size: int,
                           sample_batch_size: int, add_batch_size: int,
                           prioritized: bool,
                           priority_exponent: float = 0.6) -> TransitionBuffer:
  """Returns the pure functions of a uniform or prioritized item buffer.

  Args:
    capacity: items kept; once full, each new item replaces the oldest.
    min_size: items needed before `can_sample` is true (1..capacity).
    sample_batch_size: B, items per `sample` (drawn with replacement).
    add_batch_size: items per `add` call (other sizes up to `capacity`
      work too; each compiles once).
    prioritized: P(i) = p_i^alpha / sum_k p_k^alpha (Schaul et al., 2016)
      if True, else P(i) = 1 / N.
    priority_exponent: alpha >= 0 (0: uniform; only used when
      `prioritized`; any alpha, unlike flashbax's own [0, 1]).

  Raises:
    ConfigError: an argument is out of range.
  """
  # Imported here: flashbax pulls in flax, which `import replay` need not pay.
  import flashbax  # pylint: disable=g-import-not-at-top

  _check_int("capacity", capacity, 1, MAX_CAPACITY)
  _check_int("min_size", min_size, 1, capacity,
             rule=f"an integer in [1, capacity={capacity}]")
  _check_int("sample_batch_size", sample_batch_size, 1)
  _check_int("add_batch_size", add_batch_size, 1, capacity,
             rule=f"an integer in [1, capacity={capacity}]")
  if not isinstance(prioritized, bool):
    raise errors.ConfigError("device replay: prioritized must be True or "
                             f"False, got {prioritized!r}.")
  try:
    alpha = float(priority_exponent)
  except (TypeError, ValueError):
    alpha = float("nan")
  if not alpha >= 0 or not np.isfinite(alpha):
    raise errors.ConfigError(
        "device replay: priority_exponent (alpha) must be a finite number "
        f">= 0, got {priority_exponent!r}.")
  capacity = int(capacity)
  min_size = int(min_size)
  sample_batch_size = int(sample_batch_size)
  key_modulus = capacity * (MAX_CAPACITY // capacity)

  common = dict(add_batch_size=1, sample_batch_size=sample_batch_size,
                sample_sequence_length=1, period=1,
                min_length_time_axis=min_size, max_length_time_axis=capacity)
  if prioritized:
    # flashbax accepts alpha in [0, 1] only and maps priority 0 to 0 even
    # for alpha = 0; exponent 1 there and p**alpha here allow any alpha.
    fbx = flashbax.make_prioritised_trajectory_buffer(
        **common, priority_exponent=1.0, device=_flashbax_device())
  else:
    fbx = flashbax.make_trajectory_buffer(**common)

  def size(state: DeviceBufferState) -> jax.Array:
    buffer = state.buffer
    return jnp.where(buffer.is_full, capacity,
                     buffer.current_index).astype(jnp.int32)

  def can_sample(state: DeviceBufferState) -> jax.Array:
    return size(state) >= min_size

  def init(example_item: Any) -> DeviceBufferState:
    item = jax.tree_util.tree_map(lambda x: jnp.zeros_like(jnp.asarray(x)),
                                  example_item)
    return DeviceBufferState(buffer=fbx.init(item),
                             inserted=jnp.zeros((), jnp.int32))

  def add(state: DeviceBufferState, items: Any) -> DeviceBufferState:
    stored = state.buffer.experience
    num = jax.tree_util.tree_leaves(items)[0].shape[0]
    if num > capacity:
      raise ValueError(f"add: {num} items exceed the capacity {capacity}.")
    # One row, items along its time axis: [n, ...] -> [1, n, ...].
    items = jax.tree_util.tree_map(
        lambda x, s: jnp.asarray(x, s.dtype)[None], items, stored)
    buffer = fbx.add(state.buffer, items)
    if prioritized:
      # flashbax gave the written slots the max priority (the items they
      # held, if any, lose theirs): redo those slots' paths in the tree.
      written = (state.buffer.current_index + jnp.arange(num)) % capacity
      # Keep flashbax's int32 running_index bounded: once past capacity
      # only its value modulo capacity matters.
      running = buffer.running_index
      running = jnp.where(running >= 2 * capacity,
                          capacity + running % capacity, running)
      buffer = buffer.replace(running_index=running,
                              sum_tree_state=_resum_paths(
                                  buffer.sum_tree_state, written))
    inserted = (state.inserted + num) % key_modulus
    return DeviceBufferState(buffer=buffer, inserted=inserted.astype(jnp.int32))

  def _keys_of_slots(state: DeviceBufferState, slots: jax.Array) -> jax.Array:
    # The newest item (age 1) sits just before the write position.
    write = state.buffer.current_index
    age = (write - slots - 1) % capacity + 1
    return ((state.inserted - age) % key_modulus).astype(jnp.int32)

  def _gather(state: DeviceBufferState, slots: jax.Array) -> Any:
    return jax.tree_util.tree_map(lambda x: x[0, slots],
                                  state.buffer.experience)

  def sample_uniform(state: DeviceBufferState, key: jax.Array) -> ReplayBatch:
    n = size(state)
    slots = jax.random.randint(key, (sample_batch_size,), 0, n)
    probabilities = jnp.full((sample_batch_size,), 1.0, jnp.float32) / n
    return ReplayBatch(keys=_keys_of_slots(state, slots),
                       probabilities=probabilities, table_size=n,
                       data=_gather(state, slots))

  def sample_prioritized(state: DeviceBufferState,
                         key: jax.Array) -> ReplayBatch:
    sample_key, shuffle_key = jax.random.split(key)
    drawn = fbx.sample(state.buffer, sample_key)
    order = jax.random.permutation(shuffle_key, sample_batch_size)
    slots = drawn.indices[order].astype(jnp.int32)
    probabilities = drawn.probabilities[order].astype(jnp.float32)
    # Rounding can still, very rarely, walk a draw onto an empty or
    # zero-priority leaf, whose P(i) = 0 would make an infinite weight:
    # such a draw takes the batch's most probable valid draw instead.
    n = size(state)
    valid = (slots < n) & (probabilities > 0)
    best = jnp.argmax(jnp.where(valid, probabilities, -1.0))
    slots = jnp.where(valid, slots, slots[best])
    probabilities = jnp.where(valid, probabilities, probabilities[best])
    return ReplayBatch(keys=_keys_of_slots(state, slots),
                       probabilities=probabilities, table_size=n,
                       data=_gather(state, slots))

  def set_priorities(state: DeviceBufferState, keys: jax.Array,
                     priorities: jax.Array) -> DeviceBufferState:
    if not prioritized:
      return state
    keys = jnp.asarray(keys, jnp.int32)
    slots = keys % capacity
    age = (state.inserted - keys) % key_modulus
    still_stored = (age >= 1) & (age <= size(state))
    tree = state.buffer.sum_tree_state
    current = tree.nodes[2**tree.tree_depth - 1 + slots]
    values = jnp.power(jnp.maximum(jnp.asarray(priorities, jnp.float32), 0.0),
                       alpha)
    values = jnp.where(still_stored, values, current)
    buffer = fbx.set_priorities(state.buffer, slots, values)
    buffer = buffer.replace(
        sum_tree_state=_resum_paths(buffer.sum_tree_state, slots))
    return state._replace(buffer=buffer)

  return TransitionBuffer(
      init=init, add=add,
      sample=sample_prioritized if prioritized else sample_uniform,
      can_sample=can_sample, set_priorities=set_priorities, size=size,
      prioritized=prioritized, capacity=capacity, min_size=min_size,
      sample_batch_size=sample_batch_size, add_batch_size=int(add_batch_size),
      priority_exponent=alpha)
