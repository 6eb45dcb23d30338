"""The training and evaluation logs of a run: CSV files, TensorBoard and,
when asked for, Weights & Biases, with the same metric names in every
runner.

Rows are keyed by `env_steps` (per seed). On resume, every row written
after the checkpoint being resumed is removed first (CSV rewound,
TensorBoard purged from that step), so a run that crashed and resumed has
every step in its logs exactly once. A resumed run continues the same W&B
run (its id is kept in the run folder, `WANDB_ID_FILE`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import string
from typing import Any, Mapping

from building_blocks import optional_deps
from experiments import loggers

STEP_KEY = "env_steps"
WANDB_ID_FILE = "wandb_run_id"


@dataclasses.dataclass(frozen=True)
class WandbOptions:
  """Where a run's rows go in W&B (see loggers.WandbRun)."""
  project: str = "relay"
  entity: str | None = None
  mode: str = "offline"
  config: Mapping[str, Any] | None = None


class RunLogs:
  """logs/train.csv, logs/eval.csv, tensorboard/ and the W&B run of one run
  folder.

  Every row goes to the CSV; `train` and `evaluation` rows with
  `tensorboard=True` (the default) also go to the step-keyed sinks,
  TensorBoard and W&B alike, so both always hold the same rows (the
  all-on-accelerator runner sends them the mean over seeds, and each
  seed's row to the CSV only).
  """

  def __init__(self, run_dir: str, tensorboard: bool,
               resume_from_step: int | None = None,
               wandb: WandbOptions | None = None):
    logs = os.path.join(run_dir, "logs")
    self.train_csv = os.path.join(logs, "train.csv")
    self.eval_csv = os.path.join(logs, "eval.csv")
    if wandb is not None:
      optional_deps.import_wandb()  # before anything is rewound or written
    if resume_from_step is not None:
      for path in (self.train_csv, self.eval_csv):
        loggers.rewind_csv(path, STEP_KEY, resume_from_step)
    self._csv = {"train": loggers.CSVLogger(self.train_csv),
                 "eval": loggers.CSVLogger(self.eval_csv)}
    self._sinks: dict[str, list[Any]] = {"train": [], "eval": []}
    self._closers: list[Any] = list(self._csv.values())
    if tensorboard:
      directory = os.path.join(run_dir, "tensorboard")
      purge = None if resume_from_step is None else resume_from_step + 1
      for name in ("train", "eval"):
        logger = loggers.TensorBoardLogger(directory, name, STEP_KEY,
                                           purge_step=purge)
        self._sinks[name].append(logger)
        self._closers.append(logger)
    self.wandb_run: loggers.WandbRun | None = None
    if wandb is not None:
      self.wandb_run = loggers.WandbRun(
          os.environ.get("WANDB_DIR") or run_dir, wandb_run_id(run_dir),
          project=wandb.project, entity=wandb.entity, mode=wandb.mode,
          name=os.path.basename(os.path.normpath(run_dir)),
          config=wandb.config)
      for name in ("train", "eval"):
        self._sinks[name].append(self.wandb_run.logger(name, STEP_KEY))
      self._closers.append(self.wandb_run)

  def _write(self, name: str, row: Mapping[str, Any], csv: bool,
             tensorboard: bool) -> None:
    if csv:
      self._csv[name].write(row)
    if tensorboard:
      for sink in self._sinks[name]:
        sink.write(row)

  def train(self, row: Mapping[str, Any], csv: bool = True,
            tensorboard: bool = True) -> None:
    """One training row (an episode, or a seed's period). `tensorboard`:
    also to TensorBoard and W&B."""
    self._write("train", row, csv, tensorboard)

  def evaluation(self, row: Mapping[str, Any], csv: bool = True,
                 tensorboard: bool = True) -> None:
    """One evaluation row. `tensorboard`: also to TensorBoard and W&B."""
    self._write("eval", row, csv, tensorboard)

  def close(self) -> None:
    """Closes every sink, even if one fails (the first error is raised)."""
    error = None
    for closer in self._closers:
      try:
        closer.close()
      except Exception as e:  # pylint: disable=broad-except
        error = error or e
    if error is not None:
      raise error


def for_config(config: Any, run_dir: str,
               resume_from_step: int | None = None) -> RunLogs:
  """The logs a run's config asks for: CSV always, TensorBoard unless
  `--no-tensorboard`, W&B with `--wandb` (its project, entity and mode;
  the whole config as the W&B run's config)."""
  wandb = None
  if config.wandb:
    wandb = WandbOptions(project=config.wandb_project,
                         entity=config.wandb_entity, mode=config.wandb_mode,
                         config=json.loads(config.to_json()))
  return RunLogs(run_dir, config.tensorboard,
                 resume_from_step=resume_from_step, wandb=wandb)


def check_available(config: Any) -> None:
  """Raises MissingDependencyError (naming the extra) when the config asks
  for a logger whose package is not installed; the runners call it (via
  run_folder) before writing anything."""
  if config.wandb:
    optional_deps.import_wandb()


def wandb_run_id(run_dir: str) -> str:
  """The W&B run id of this run folder: read from `WANDB_ID_FILE`, or made
  and written there on the run's first W&B start."""
  path = os.path.join(run_dir, WANDB_ID_FILE)
  try:
    with open(path) as f:
      run_id = f.read().strip()
    if run_id:
      return run_id
  except FileNotFoundError:
    pass
  alphabet = string.ascii_lowercase + string.digits
  run_id = "".join(secrets.choice(alphabet) for _ in range(8))
  with open(path, "w") as f:
    f.write(run_id + "\n")
  return run_id
