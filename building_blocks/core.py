"""The small interfaces that connect Relay's layers (after Acme's `core`).

env -> Actor.select_action -> Adder -> replay -> Learner.step ->
get_variables -> VariableClient -> Actor. Each arrow below is one method.
"""
from __future__ import annotations

import abc
from typing import Any, Mapping, Sequence

from building_blocks import types


class VariableSource(abc.ABC):
  """Anything that can hand out the latest network parameters."""

  @abc.abstractmethod
  def get_variables(self, names: Sequence[str]) -> list[Any]:
    """Returns the named variable collections, e.g. ["policy"]."""


class Learner(VariableSource):
  """Consumes replayed data and updates parameters, one jitted step a call."""

  @abc.abstractmethod
  def step(self) -> Mapping[str, float]:
    """Runs one update and returns its metrics (loss, ...)."""

  @abc.abstractmethod
  def save(self) -> Any:
    """Returns the full learner state (params, optimizer, rng, counters)."""

  @abc.abstractmethod
  def restore(self, state: Any) -> None:
    """Sets the learner state from what `save` returned."""


class Actor(abc.ABC):
  """Chooses actions and feeds what it saw to an adder."""

  @abc.abstractmethod
  def select_action(self, observation: types.NestedArray) -> types.NestedArray:
    """Samples an action for one (unbatched) observation."""

  @abc.abstractmethod
  def observe_first(self, timestep: types.TimeStep) -> None:
    """Records the first timestep of an episode."""

  @abc.abstractmethod
  def observe(self, action: types.NestedArray,
              next_timestep: types.TimeStep) -> None:
    """Records the action taken and the timestep it led to."""

  @abc.abstractmethod
  def update(self, wait: bool = False) -> None:
    """Pulls fresh parameters from the variable source."""


class Adder(abc.ABC):
  """Turns a stream of timesteps into replay items."""

  @abc.abstractmethod
  def add_first(self, timestep: types.TimeStep) -> None:
    """Starts a new episode."""

  @abc.abstractmethod
  def add(self, action: types.NestedArray,
          next_timestep: types.TimeStep) -> None:
    """Adds one step; writes every item that became complete."""

  @abc.abstractmethod
  def reset(self) -> None:
    """Drops partial state, e.g. after an interrupted episode."""


class Logger(abc.ABC):
  """Writes one dict of scalars per call (CSV, TensorBoard, terminal...)."""

  @abc.abstractmethod
  def write(self, data: Mapping[str, Any]) -> None:
    """Writes one row."""

  def close(self) -> None:
    """Flushes and releases files."""


class NoOpLogger(Logger):
  """Discards everything."""

  def write(self, data: Mapping[str, Any]) -> None:
    del data
