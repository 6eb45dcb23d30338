"""A thread-safe counter of steps, episodes and updates (Acme-style)."""
from __future__ import annotations

import threading
from typing import Mapping


class Counter:
  """Named monotone counts shared by actor, learner and runner."""

  def __init__(self, initial: Mapping[str, int] | None = None):
    self._counts: dict[str, int] = dict(initial or {})
    self._lock = threading.Lock()

  def increment(self, **deltas: int) -> dict[str, int]:
    with self._lock:
      for key, delta in deltas.items():
        self._counts[key] = self._counts.get(key, 0) + delta
      return dict(self._counts)

  def get(self, key: str) -> int:
    with self._lock:
      return self._counts.get(key, 0)

  def get_counts(self) -> dict[str, int]:
    with self._lock:
      return dict(self._counts)
