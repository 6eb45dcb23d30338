"""The interface every agent's builder implements (after Acme's
ActorLearnerBuilder). Runners only talk to this; they hold no agent code."""
from __future__ import annotations

import abc
from typing import Any, Iterator, Sequence

import chex

from building_blocks import core
from building_blocks import specs


class ActorLearnerBuilder(abc.ABC):
  """Wires replay tables, dataset, learner, adder and actor for one agent."""

  table_name: str = "priority_table"

  @abc.abstractmethod
  def check_environment(self, spec: specs.EnvironmentSpec, env_id: str) -> None:
    """Raises IncompatibleEnvironmentError if the agent cannot act in it."""

  @abc.abstractmethod
  def make_networks(self, spec: specs.EnvironmentSpec) -> Any:
    """Pure (init, apply) networks for this environment."""

  @abc.abstractmethod
  def make_replay_tables(self, spec: specs.EnvironmentSpec,
                         block_inserts: bool) -> Sequence[Any]:
    """Reverb tables with their rate limiters."""

  @abc.abstractmethod
  def make_dataset_iterator(self, server: Any) -> Iterator[Any]:
    """Device batches sampled from the replay server."""

  @abc.abstractmethod
  def make_learner(self, networks: Any, iterator: Iterator[Any], server: Any,
                   spec: specs.EnvironmentSpec, key: chex.PRNGKey) -> core.Learner:
    """The learner that consumes `iterator`."""

  @abc.abstractmethod
  def make_adder(self, server: Any, learner: core.Learner | None) -> core.Adder:
    """Writes experience into the replay tables."""

  @abc.abstractmethod
  def make_actor(self, networks: Any, variable_source: core.VariableSource,
                 key: chex.PRNGKey, adder: core.Adder | None = None,
                 evaluation: bool = False, initial_step: int = 0) -> core.Actor:
    """A training actor (with adder) or an evaluation actor (without)."""
