"""Learner and run-state checkpoints with orbax.

A checkpoint holds the learner's TrainingState (params, target params,
optimizer state, update count, RNG key) and a JSON record of the run: the
counters, the actor's step and RNG key, and the environment's RNG state.
Orbax writes each step to a temporary folder and renames it when complete,
so an interrupted save never corrupts the previous checkpoint.
"""
from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np


class Checkpointer:
  """Saves and restores (learner state, run metadata) pairs by step."""

  def __init__(self, directory: str, max_to_keep: int = 3):
    import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
    self._ocp = ocp
    self.directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                             create=True))

  def save(self, step: int, learner_state: Any, metadata: dict[str, Any]) -> None:
    """Writes a checkpoint for `step` and waits until it is on disk."""
    ocp = self._ocp
    state = jax.tree_util.tree_map(np.asarray, learner_state)
    self._manager.save(step, args=ocp.args.Composite(
        learner=ocp.args.StandardSave(state),
        run=ocp.args.JsonSave(metadata)), force=True)
    self._manager.wait_until_finished()

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def restore(self, learner_template: Any,
              step: int | None = None) -> tuple[Any, dict[str, Any]]:
    """Returns (learner state shaped like `learner_template`, metadata)."""
    ocp = self._ocp
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    template = jax.tree_util.tree_map(np.asarray, learner_template)
    restored = self._manager.restore(step, args=ocp.args.Composite(
        learner=ocp.args.StandardRestore(template),
        run=ocp.args.JsonRestore()))
    learner = jax.tree_util.tree_unflatten(
        jax.tree_util.tree_structure(learner_template),
        jax.tree_util.tree_leaves(restored["learner"]))
    return learner, dict(restored["run"])

  def metadata(self, step: int | None = None) -> dict[str, Any]:
    """The run metadata of a checkpoint (the latest by default), without
    reading the learner state."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    restored = self._manager.restore(step, args=self._ocp.args.Composite(
        run=self._ocp.args.JsonRestore()))
    return dict(restored["run"])

  def close(self) -> None:
    self._manager.close()
