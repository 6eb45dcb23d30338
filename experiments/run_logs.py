"""The training and evaluation logs of a run: CSV files and TensorBoard,
with the same metric names in every runner.

Rows are keyed by `env_steps` (per seed). On resume, every row written
after the checkpoint being resumed is removed first (CSV rewound,
TensorBoard purged from that step), so a run that crashed and resumed has
every step in its logs exactly once.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

from experiments import loggers

STEP_KEY = "env_steps"


class RunLogs:
  """logs/train.csv, logs/eval.csv and tensorboard/ of one run folder."""

  def __init__(self, run_dir: str, tensorboard: bool,
               resume_from_step: int | None = None):
    logs = os.path.join(run_dir, "logs")
    self.train_csv = os.path.join(logs, "train.csv")
    self.eval_csv = os.path.join(logs, "eval.csv")
    if resume_from_step is not None:
      for path in (self.train_csv, self.eval_csv):
        loggers.rewind_csv(path, STEP_KEY, resume_from_step)
    self._csv = {"train": loggers.CSVLogger(self.train_csv),
                 "eval": loggers.CSVLogger(self.eval_csv)}
    self._tensorboard = {}
    if tensorboard:
      directory = os.path.join(run_dir, "tensorboard")
      purge = None if resume_from_step is None else resume_from_step + 1
      self._tensorboard = {
          name: loggers.TensorBoardLogger(directory, name, STEP_KEY,
                                          purge_step=purge)
          for name in ("train", "eval")}

  def _write(self, name: str, row: Mapping[str, Any], csv: bool,
             tensorboard: bool) -> None:
    if csv:
      self._csv[name].write(row)
    if tensorboard and name in self._tensorboard:
      self._tensorboard[name].write(row)

  def train(self, row: Mapping[str, Any], csv: bool = True,
            tensorboard: bool = True) -> None:
    """One training row (an episode, or a seed's period)."""
    self._write("train", row, csv, tensorboard)

  def evaluation(self, row: Mapping[str, Any], csv: bool = True,
                 tensorboard: bool = True) -> None:
    """One evaluation row."""
    self._write("eval", row, csv, tensorboard)

  def close(self) -> None:
    for logger in list(self._csv.values()) + list(self._tensorboard.values()):
      logger.close()
