"""Keeps an actor's copy of parameters in step with a VariableSource."""
from __future__ import annotations

from typing import Any, Sequence

from building_blocks import core


class VariableClient:
  """Fetches variables from `source` every `update_period` calls to update().

  In a single process the source is the learner itself and a fetch is just
  a reference to its current (immutable) jax arrays; in a distributed run the
  source is a remote handle and the same interface hides the transport.
  """

  def __init__(self, source: core.VariableSource, names: Sequence[str],
               update_period: int = 1):
    if update_period < 1:
      raise ValueError(f"update_period must be >= 1, got {update_period}.")
    self._source = source
    self._names = list(names)
    self._update_period = update_period
    self._calls = 0
    self._params = self._fetch()

  def _fetch(self) -> Any:
    values = self._source.get_variables(self._names)
    return values[0] if len(values) == 1 else values

  def update(self, wait: bool = False) -> None:
    """Counts a call; fetches when the period is reached or `wait` is set."""
    self._calls += 1
    if wait or self._calls >= self._update_period:
      self._calls = 0
      self._params = self._fetch()

  @property
  def params(self) -> Any:
    return self._params
