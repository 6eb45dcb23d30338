"""The run folder every runner writes, and the checks on it.

  config.json          the ExperimentConfig (runner and agent included)
  logs/train.csv       training rows (one per episode, or per seed per
                       period for runner anakin), every env step once
  logs/eval.csv        evaluation rows
  tensorboard/         the same rows as TensorBoard scalars
  wandb_run_id         the W&B run's id (with --wandb; a resume continues it)
  wandb/               the W&B run's files (with --wandb, unless WANDB_DIR
                       is set; offline mode: what `wandb sync` uploads)
  learning_curve.png   the plot of both
  checkpoints/         orbax checkpoints of the agent state (and run state)
  replay/              the replay's own checkpoint (runner single)
  summary.json         what the run reports at the end (RunSummary)
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
from typing import Any

from building_blocks import errors
from experiments import config as config_lib
from experiments import run_logs

CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"


@dataclasses.dataclass
class RunSummary:
  """What a finished (or stopped) run reports, whichever runner ran it.
  Per-seed lists have one entry per seed (one for runner single)."""
  run_dir: str
  runner: str
  agent: str
  env: str
  num_seeds: int
  env_steps: int
  final_mean_return: list[float | None]
  final_eval_return: list[float | None]
  steps_to_target: list[int | None] | None
  seconds_to_target: float | None
  wall_seconds: float
  steps_per_second: float
  interrupted: bool
  plot_path: str | None
  checkpoint_dir: str
  extra: dict[str, Any] = dataclasses.field(default_factory=dict)

  def write(self) -> str:
    path = os.path.join(self.run_dir, SUMMARY_FILE)
    with open(path, "w") as f:
      json.dump(dataclasses.asdict(self), f, indent=2, default=float)
    return path


def create(config: Any) -> tuple[Any, str]:
  """Makes a new run folder and writes config.json; never reuses a folder.
  Returns (config with run_dir set, run_dir). Raises MissingDependencyError
  first when a logger the config asks for is not installed."""
  run_logs.check_available(config)
  now = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
  run_dir = config.run_dir or config_lib.default_run_dir(config, now)
  if os.path.exists(run_dir):
    raise errors.RunDirectoryError(
        f"Run folder {run_dir!r} exists already; Relay never overwrites a run."
        + (f" Continue it with --resume {run_dir}, or choose another --run-dir."
           if config.runner == "single" else " Choose another --run-dir."))
  os.makedirs(run_dir)
  config = dataclasses.replace(config, run_dir=run_dir)
  with open(os.path.join(run_dir, CONFIG_FILE), "w") as f:
    f.write(config.to_json())
  return config, run_dir


RESUMABLE_RUNNERS = ("single", "distributed")


def load_for_resume(config: Any, runner: str = "single") -> tuple[Any, str]:
  """The config of the run folder `config.resume`, with `--num-steps` taken
  from `config` when given. Raises RunDirectoryError for a folder that is
  not a run, a run of another runner than `runner`, or has no checkpoint."""
  run_dir = config.resume
  path = os.path.join(run_dir, CONFIG_FILE)
  if not os.path.isfile(path):
    raise errors.RunDirectoryError(
        f"{run_dir!r} is not a Relay run folder (no {CONFIG_FILE}). Pass the "
        "folder a run printed (runs/<agent>-<env>-...).")
  try:
    with open(path) as f:
      raw = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise errors.RunDirectoryError(
        f"Cannot read run config {path}: {e}. Cannot resume {run_dir!r}.") from e
  saved_runner = raw.get("runner", "single") if isinstance(raw, dict) else None
  if saved_runner not in RESUMABLE_RUNNERS:
    raise errors.RunDirectoryError(
        f"Cannot resume {run_dir!r}: it is a run of the {saved_runner!r} "
        "runner, and only single-process and distributed runs (--runner "
        "single or distributed) resume. Start a new run instead.")
  if saved_runner != runner:
    raise errors.RunDirectoryError(
        f"Cannot resume {run_dir!r} with the {runner} runner: it is a run of "
        f"the {saved_runner!r} runner. Resume it with the command line "
        "(python -m experiments.train --resume RUN_DIR), which picks the "
        "runner from the folder.")
  try:
    saved = config_lib.from_dict(raw)
  except (errors.ConfigError, TypeError) as e:
    raise errors.RunDirectoryError(
        f"Cannot resume {run_dir!r}: its {CONFIG_FILE} is not a valid run "
        f"config ({e}).") from e
  if not os.path.isdir(os.path.join(run_dir, "checkpoints")):
    raise errors.RunDirectoryError(
        f"Cannot resume {run_dir!r}: it has no checkpoints/ (the run stopped "
        "before its first checkpoint). Start a new run instead.")
  num_steps = config.num_steps if config.num_steps is not None else saved.num_steps
  saved = dataclasses.replace(saved, resume=run_dir, run_dir=run_dir,
                              num_steps=num_steps, progress=config.progress)
  saved.validate()
  run_logs.check_available(saved)
  return saved, run_dir
