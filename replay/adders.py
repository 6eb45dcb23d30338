"""Adders: turn a stream of timesteps into replay items.

`NStepTransitionAdder` computes n-step transitions (see `replay.nstep`) and
hands each to a `TransitionSink`: `ReverbTransitionSink` writes it to a
Reverb table; any callable works, which keeps the adder testable and lets an
in-memory buffer reuse it.
"""
from __future__ import annotations

import collections
from typing import Any, Callable, NamedTuple, Union

import numpy as np

from building_blocks import core
from building_blocks import types
from replay import codec as codec_lib
from replay import nstep

TransitionSink = Callable[[types.Transition, float], None]
Priority = Union[float, Callable[[], float]]


class _Step(NamedTuple):
  observation: Any
  action: Any
  reward: np.float32
  discount: np.float32


class NStepTransitionAdder(core.Adder):
  """Emits (s_t, a_t, R_t^{(n)}, Gamma_t^{(n)}, s_{t+n}) for every step t.

  Once n steps follow s_t, its transition is written. When an episode ends
  (terminated or truncated), the last min(n, T) steps are written with
  shorter horizons: their return and discount cover only the steps up to
  the end, and a termination's zero discount stops bootstrapping while a
  truncation's discount of 1 keeps it.
  """

  def __init__(self, sink: TransitionSink, n_step: int, discount: float,
               priority: Priority = 1.0):
    if n_step < 1:
      raise ValueError(f"n_step must be >= 1, got {n_step}.")
    if not 0.0 <= discount <= 1.0:
      raise ValueError(f"discount must be in [0, 1], got {discount}.")
    self._sink = sink
    self._n_step = n_step
    self._discount = discount
    self._priority = priority
    self._buffer: collections.deque[_Step] = collections.deque()
    self._observation: Any = None

  def add_first(self, timestep: types.TimeStep) -> None:
    if not timestep.first():
      raise ValueError("add_first needs a FIRST timestep (from env.reset()).")
    self._buffer.clear()
    self._observation = timestep.observation

  def add(self, action: Any, next_timestep: types.TimeStep) -> None:
    if self._observation is None:
      raise ValueError("call add_first(timestep) at the start of each episode.")
    self._buffer.append(_Step(self._observation, action,
                              np.float32(next_timestep.reward),
                              np.float32(next_timestep.discount)))
    self._observation = next_timestep.observation
    if len(self._buffer) == self._n_step:
      self._write_oldest()
    if next_timestep.last():
      while self._buffer:
        self._write_oldest()
      self._observation = None

  def reset(self) -> None:
    self._buffer.clear()
    self._observation = None

  def flush(self) -> None:
    """Makes sure everything written so far has reached replay."""
    flush = getattr(self._sink, "flush", None)
    if flush is not None:
      flush()

  def _write_oldest(self) -> None:
    first = self._buffer[0]
    reward, discount = nstep.nstep_return([s.reward for s in self._buffer],
                                          [s.discount for s in self._buffer],
                                          self._discount)
    transition = types.Transition(first.observation, first.action, reward,
                                  discount, self._observation)
    priority = self._priority() if callable(self._priority) else self._priority
    self._sink(transition, float(priority))
    self._buffer.popleft()


class ReverbTransitionSink:
  """Writes each transition as one Reverb item, packed by `FlatCodec`."""

  def __init__(self, client: Any, table: str, codec: codec_lib.FlatCodec,
               flush_every: int = 32):
    self._writer = client.trajectory_writer(num_keep_alive_refs=1)
    self._table = table
    self._codec = codec
    self._flush_every = flush_every
    self._pending = 0

  def __call__(self, transition: types.Transition, priority: float) -> None:
    self._writer.append(self._codec.encode(transition))
    history = self._writer.history
    self._writer.create_item(self._table, priority,
                             {key: history[key][-1] for key in history})
    self._pending += 1
    if self._pending >= self._flush_every:
      self.flush()

  def flush(self) -> None:
    """Blocks until every created item has reached the table."""
    self._writer.flush()
    self._pending = 0

  def close(self) -> None:
    self._writer.close()
