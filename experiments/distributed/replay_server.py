"""The replay server of a distributed run: any `ReplayBackend` (a Reverb
table or queue, or the device buffer or queue, from replay/backends.py)
inside one Ray actor, which actors insert into and the learner samples
from by Ray calls.

Rate limiting, as in the single-process runner: the learner may sample
when the backend's limiter allows (`ready()`), and an insert call answers
whether the actor may go on inserting (False while the inserted items run
more than `slack` items ahead of what the samples-per-insert ratio asks,
or while the rollout queue is full); the actor then waits, so fast actors
never outrun the learner's update rate by more than the slack. Nothing
blocks inside the server: a Ray actor runs one call at a time, and a call
that waited would hold up every other process.

Rollouts carry the parameter version that produced them; `sample()`
returns it so the learner can report how stale its data is.
"""
from __future__ import annotations

import collections
import os
from typing import Any

import jax
import numpy as np

from building_blocks import agent as agent_lib
from experiments.distributed import remote_replay
from replay import backends
from replay import codec
from replay.device_replay import QUEUE_SIZE


class ReplayServer:
  """A replay backend served to other processes (a Ray actor)."""

  def __init__(self, spec: agent_lib.ReplaySpec, example_item: Any,
               backend: str, checkpoint_dir: str | None, seed: int,
               num_actors: int, port: int = 0):
    self._spec = spec
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 7)
    # Every insert call is flushed at once: the device buffer adds it in
    # one jitted add of the actors' call size.
    per_call = remote_replay.insert_batch(num_actors)
    self._replay = backends.make_replay(spec, example_item, backend,
                                        checkpoint_dir=checkpoint_dir,
                                        key=key, port=port, add_chunk=per_call)
    self._on_policy = spec.kind == "rollouts"
    # Rollouts: about one per actor waits (bounded staleness); those the
    # backend's fixed-size queue has no room for wait here, in order.
    self._queue_limit = max(2, num_actors)
    self._overflow: collections.deque[Any] = collections.deque()
    self._versions: collections.deque[int] = collections.deque()
    if self._on_policy:  # rollouts restored from a checkpoint: version unknown
      self._versions.extend([-1] * self._replay.size())
    # Transitions: inserts may run this far ahead of the ratio (items).
    # Two calls per actor beyond the rate limiter's own error buffer.
    self._slack = spec.error_buffer / max(spec.samples_per_insert, 1e-9) + (
        2 * per_call * num_actors)
    self.inserted = 0
    self.sampled_batches = 0
    self.restored = bool(self._replay.restored)
    self.description = self._replay.description

  def info(self) -> dict[str, Any]:
    return {"description": self.description, "restored": self.restored,
            "size": self._replay.size(), "pid": os.getpid()}

  def insert(self, stacked: Any, count: int, params_version: int) -> bool:
    """Stores `count` items (transitions, or rollouts) given stacked (each
    leaf with a leading axis of `count`); returns whether the caller may
    insert more now."""
    if self._on_policy:
      for item in codec.unstack(stacked, count):
        self._versions.append(params_version)
        self._overflow.append(item)
      self._move_overflow()
    else:
      # Stacked columns straight into the backend: splitting 32 items
      # apart here cost more than half of the server's time per insert.
      self._replay.insert_many(stacked, count)
      self._replay.flush()
    self.inserted += count
    return self.may_insert()

  def _move_overflow(self) -> None:
    while self._overflow and self._replay.size() < QUEUE_SIZE:
      self._replay.insert(self._overflow.popleft(), None)

  def may_insert(self) -> bool:
    if self._on_policy:
      return self._replay.size() + len(self._overflow) < self._queue_limit
    spec = self._spec
    allowed = spec.min_size + (
        self.sampled_batches * spec.batch_size / spec.samples_per_insert)
    return self.inserted <= allowed + self._slack

  def sample(self, new_priorities: tuple[Any, Any] | None = None
             ) -> tuple[Any, int] | None:
    """(batch as host arrays, parameter version of a rollout or -1), or
    None when the limiter allows no sample now (the learner asks again).
    `new_priorities` (keys, priorities) of the previous batch are applied
    first (one call per update instead of two)."""
    if new_priorities is not None:
      self.update_priorities(*new_priorities)
    if not self._replay.ready():
      return None
    batch = jax.device_get(self._replay.sample())
    self.sampled_batches += 1
    version = -1
    if self._on_policy:
      version = self._versions.popleft()
      self._move_overflow()
    return batch, version

  def update_priorities(self, keys: Any, priorities: Any) -> None:
    self._replay.update_priorities(keys, np.asarray(priorities))

  def checkpoint(self) -> int:
    """Writes the contents (Reverb's own checkpoint, or the device
    buffer's file); returns the number of items written. Rollouts waiting
    beyond the backend's fixed-size queue are not written: a restored
    on-policy run drops them, as stale data."""
    self._replay.checkpoint()
    return self._replay.size()

  def stats(self) -> dict[str, Any]:
    return {"size": self._replay.size() + len(self._overflow),
            "inserted": self.inserted,
            "sampled_batches": self.sampled_batches}

  def close(self) -> None:
    self._replay.close()
