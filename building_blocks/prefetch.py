"""A background thread that moves batches onto the device ahead of use.

Written by hand because the job is small and specific: it must expose
`ready()` (a batch is waiting, so the single-process runner can step the
learner without blocking the actor) and must stop cleanly when the replay
server shuts down. tf.data's own prefetch has neither.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator

_DONE = object()


class DevicePrefetcher:
  """Iterates over `transform(x)` for x in `source`, computed `size` ahead."""

  def __init__(self, source: Iterator[Any],
               transform: Callable[[Any], Any] = lambda x: x, size: int = 2):
    if size < 1:
      raise ValueError(f"prefetch size must be >= 1, got {size}.")
    self._queue: queue.Queue = queue.Queue(maxsize=size)
    self._stop = threading.Event()
    self._source = source
    self._transform = transform
    self._error: BaseException | None = None
    self._thread = threading.Thread(target=self._work, daemon=True,
                                    name="device-prefetch")
    self._thread.start()

  def _work(self) -> None:
    try:
      for item in self._source:
        value = self._transform(item)
        while not self._stop.is_set():
          try:
            self._queue.put(value, timeout=0.1)
            break
          except queue.Full:
            continue
        if self._stop.is_set():
          return
    except BaseException as e:  # pylint: disable=broad-except
      if not self._stop.is_set():
        self._error = e
    finally:
      while not self._stop.is_set():
        try:
          self._queue.put(_DONE, timeout=0.1)
          break
        except queue.Full:
          continue

  def ready(self) -> bool:
    """True when `next()` would return without waiting."""
    return not self._queue.empty()

  def __iter__(self) -> "DevicePrefetcher":
    return self

  def __next__(self) -> Any:
    item = self._queue.get()
    if item is _DONE:
      self._queue.put(_DONE)
      if self._error is not None:
        raise RuntimeError("replay iterator failed") from self._error
      raise StopIteration
    return item

  def close(self, timeout: float = 5.0) -> None:
    """Asks the worker to stop; the source must unblock (e.g. server stop)."""
    self._stop.set()
    self._thread.join(timeout)
