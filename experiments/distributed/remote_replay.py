"""The `ReplayBackend` protocol over a replay server in another process, so
that building_blocks' Learner and the adders run unchanged in a distributed
run.

`LearnerReplay` (the learner's side) keeps one sample call in flight, so
the next batch travels while the current update runs; `sample()` waits for
a batch the limiter allows and raises `Stopped` when the run ends first.
New priorities travel with the next sample call. `ActorReplay` (an actor's
side) collects what the adder inserts and sends it stacked, one call per
`items_per_call` items (a Ray call costs about a millisecond of the
server's time: one per transition would cost more than the environment
step), and holds the actor while the server says it is too far ahead of
the learner.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import jax
import numpy as np
import ray

from replay import codec

POLL_SECONDS = 0.002
# How long a caller waits for a replay server that is restarting (Ray
# restarts it; its constructor restores the last replay checkpoint).
SERVER_RESTART_SECONDS = 120.0


def insert_batch(num_actors: int) -> int:
  """Transitions per insert call: 16 per actor of the run, at least 32 and
  at most 128. A Ray call costs the replay server about a millisecond
  whatever it carries, so with more actors each call carries more and the
  server answers about the same number of calls per second (8 actors:
  128-item calls, a quarter of a core at 8 actors' rate; see
  benchmarks/distributed_throughput.py)."""
  return min(128, max(32, 16 * num_actors))


class Stopped(Exception):
  """The run ended while a process was waiting for replay."""


def call_server(make_call: Callable[[], Any]) -> Any:
  """`ray.get(make_call())`, made again while the server is down or
  restarting (an actor died mid-call), for up to SERVER_RESTART_SECONDS."""
  deadline = time.monotonic() + SERVER_RESTART_SECONDS
  while True:
    try:
      return ray.get(make_call())
    except (ray.exceptions.ActorUnavailableError,
            ray.exceptions.ActorDiedError):
      if time.monotonic() > deadline:
        raise
      time.sleep(0.2)


class LearnerReplay:
  """What the learner samples from: a server handle behind the protocol.

  One sample call is always in flight while an update runs. With
  prioritized replay it is sent with the previous batch's new priorities
  (one call per update: the server applies them, then samples), so it
  leaves when those are known; otherwise right after the last batch came.
  """

  def __init__(self, server: Any, should_stop: Callable[[], bool],
               prioritized: bool):
    self._server = server
    self._should_stop = should_stop
    self._prioritized = prioritized
    self._in_flight: Any = None
    self._pending_priorities: tuple[Any, Any] | None = None
    self.last_version = -1
    self.restored = False
    self.description = "replay server (Ray actor)"
    self.max_priority = 1.0
    self.wait_seconds = 0.0

  def ready(self) -> bool:
    return True  # sample() waits

  def _take_pending(self) -> tuple[Any, Any] | None:
    pending, self._pending_priorities = self._pending_priorities, None
    return pending

  def sample(self) -> Any:
    start = time.perf_counter()
    while True:
      prefetched = [self._in_flight] if self._in_flight is not None else []
      self._in_flight = None
      # The call in flight first; a new one if none, or the server died.
      result = call_server(lambda: prefetched.pop() if prefetched
                           else self._server.sample.remote(self._take_pending()))
      if result is not None:
        break
      if self._should_stop():
        raise Stopped()
      time.sleep(POLL_SECONDS)
    batch, self.last_version = result
    if not self._prioritized:
      self._in_flight = self._server.sample.remote()  # the next one travels now
    self.wait_seconds += time.perf_counter() - start
    return batch

  def update_priorities(self, keys: Any, priorities: Any) -> None:
    """Sends the new priorities with the next sample call (in flight from
    now on). When a sample call is already in flight (a checkpoint
    completes the last update after `sample()`), they wait for the one
    after it, so no sampled batch is thrown away."""
    if self._in_flight is None:
      self._in_flight = self._server.sample.remote((keys, priorities))
    else:
      self._pending_priorities = (keys, priorities)

  def insert(self, item: Any, priority: float | None = None) -> None:
    raise NotImplementedError("the learner does not insert")

  def insert_many(self, stacked: Any, count: int) -> None:
    raise NotImplementedError("the learner does not insert")

  def checkpoint(self) -> None:
    call_server(self._server.checkpoint.remote)

  def size(self) -> int:
    return call_server(self._server.stats.remote)["size"]

  def flush(self) -> None:
    pass

  def close(self) -> None:
    self._in_flight = None


class ActorReplay:
  """What an actor's adder inserts into: items sent `items_per_call` at a
  time, stacked into one array per field (one object for Ray to serialise,
  not one per item), with one call in flight: before sending the next, the
  actor reads the previous call's answer and waits while the server says
  inserts run too far ahead of the learner."""

  def __init__(self, server: Any, items_per_call: int,
               should_stop: Callable[[], bool]):
    self._server = server
    self._items_per_call = items_per_call
    self._should_stop = should_stop
    self._items: list[Any] = []
    self._last_insert: Any = None
    self.params_version = -1
    self.inserted = 0
    self.wait_seconds = 0.0

  def insert(self, item: Any, priority: float | None = None) -> None:
    del priority  # the server gives new items its max priority
    self._items.append(item)

  def insert_many(self, stacked: Any, count: int) -> None:
    self._items.extend(codec.unstack(stacked, count))

  def flush(self, force: bool = False) -> None:
    """Sends the collected items in one call once there are
    `items_per_call` of them, or any with `force` (after the previous
    call's answer allows it)."""
    if not self._items or (len(self._items) < self._items_per_call
                           and not force):
      return
    self._wait_until_insert_allowed()
    stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *self._items)
    self._last_insert = self._server.insert.remote(
        stacked, len(self._items), self.params_version)
    self.inserted += len(self._items)
    self._items = []

  def _wait_until_insert_allowed(self) -> None:
    if self._last_insert is None:
      return
    start = time.perf_counter()
    last, self._last_insert = self._last_insert, None
    try:
      allowed = ray.get(last)
    except (ray.exceptions.ActorUnavailableError,
            ray.exceptions.ActorDiedError):
      allowed = False  # the server restarts: ask again below
    while not allowed and not self._should_stop():
      time.sleep(POLL_SECONDS * 5)
      allowed = call_server(self._server.may_insert.remote)
    self.wait_seconds += time.perf_counter() - start

  def reset(self) -> None:
    self._items = []
