"""Command-line entry point: train an agent in a single process.

  python -m experiments.train --agent dqn --env CartPole-v1
  python -m experiments.train --resume runs/dqn-CartPole-v1-seed0-...
  python -m experiments.train --help
"""
from __future__ import annotations

import time

_LAUNCH = time.time()

# pylint: disable=g-import-not-at-top,wrong-import-position
import importlib.util
import json
import os
import sys
from typing import Sequence

from experiments import network_isolation


def _asks_for_a_port(argv: Sequence[str]) -> bool:
  """True when the user chose --replay-port (wants it reachable) or only
  asks for help; then the process stays in the host's network."""
  for i, arg in enumerate(argv):
    if arg in ("-h", "--help"):
      return True
    value = None
    if arg.startswith("--replay-port="):
      value = arg.split("=", 1)[1]
    elif arg == "--replay-port" and i + 1 < len(argv):
      value = argv[i + 1]
    if value is not None and value.strip() not in ("0", ""):
      return True
  return False


def _flag_value(argv: Sequence[str], flag: str) -> str | None:
  """The last value given to `flag` (as `flag X` or `flag=X`), if any."""
  value = None
  for i, arg in enumerate(argv):
    if arg.startswith(flag + "="):
      value = arg.split("=", 1)[1]
    elif arg == flag and i + 1 < len(argv):
      value = argv[i + 1]
  return value


def _uses_reverb(argv: Sequence[str]) -> bool:
  """Whether the run will start a Reverb server (whose port needs hiding).

  Decided before anything heavy is imported: the replay choice comes from
  --replay, or for --resume from the run folder's config.json; "auto"
  means Reverb when it is installed. A run with replay in device memory
  opens no port and stays in the host's network.
  """
  choice = _flag_value(argv, "--replay")
  resume = _flag_value(argv, "--resume")
  if resume is not None:
    try:
      with open(os.path.join(resume, "config.json")) as f:
        choice = json.load(f).get("replay", "auto")
    except (OSError, ValueError, AttributeError):
      choice = "auto"  # the runner reports the unreadable folder
  if choice == "device":
    return False
  if choice == "reverb":
    return True
  return importlib.util.find_spec("reverb") is not None


# Must run before numpy/TensorFlow/JAX start threads (see network_isolation).
_ISOLATION_PROBLEM: str | None = None
if (__name__ == "__main__" and not _asks_for_a_port(sys.argv[1:]) and
    _uses_reverb(sys.argv[1:])):
  _ISOLATION_PROBLEM = network_isolation.isolate_network()

from agents import AGENTS
from building_blocks import errors
from building_blocks import optional_deps
from experiments import config as config_lib

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

DESCRIPTION = """Train a Relay agent on a gymnasium environment (single process;
replay in an in-process Reverb server, or without Reverb in device memory).

Agents: {agents}.
Environments: any registered gymnasium id; {agents_first} needs discrete
actions, e.g. CartPole-v1, Acrobot-v1, MountainCar-v0, LunarLander-v3.

Writes config.json, logs/train.csv, logs/eval.csv, tensorboard/,
learning_curve.png, checkpoints/ and replay/ into the run folder.
"""


def parse_args(argv: Sequence[str] | None) -> config_lib.ExperimentConfig:
  import tyro
  description = DESCRIPTION.format(agents=", ".join(sorted(AGENTS)),
                                   agents_first=sorted(AGENTS)[0].upper())
  return tyro.cli(config_lib.ExperimentConfig, args=argv,
                  prog="python -m experiments.train", description=description)


def main(argv: Sequence[str] | None = None) -> int:
  config = parse_args(argv)
  if __name__ == "__main__" and _ISOLATION_PROBLEM and not config.replay_port:
    print("warning: the replay port could not be kept off the network "
          f"({_ISOLATION_PROBLEM}); Reverb 0.14 listens on all interfaces.",
          file=sys.stderr)
  try:
    from experiments import single_process
    result = single_process.run_experiment(config, start_time=_LAUNCH)
  except (errors.RelayError, optional_deps.MissingDependencyError) as e:
    print(f"error: {e}", file=sys.stderr)
    return EXIT_BAD_INPUT
  except KeyboardInterrupt as e:
    result = e.args[0] if e.args else None
    if result is None:
      print("Interrupted before the run could save its state; its folder "
            "keeps the last complete checkpoint, if any.", file=sys.stderr)
    else:
      print(f"Interrupted at step {result.actor_steps}. Checkpoint and replay "
            f"saved in {result.run_dir}; logs are intact. Continue with:\n"
            f"  python -m experiments.train --resume {result.run_dir}",
            file=sys.stderr)
    return EXIT_INTERRUPTED
  final = ("n/a" if result.final_eval_return is None
           else f"{result.final_eval_return:.1f}")
  target = ("" if result.steps_to_target is None else
            f" reached target at step {result.steps_to_target} "
            f"({result.seconds_to_target:.1f} s after launch);")
  print(f"Done: {result.actor_steps} steps, {result.episodes} episodes in "
        f"{result.wall_seconds:.1f} s; final evaluation return {final} "
        f"(best 10-episode mean {result.best_mean_return:.1f});{target} "
        f"run folder {result.run_dir} (logs in logs/, plot "
        f"{result.plot_path}, checkpoints in {result.checkpoint_dir}).")
  return 0


if __name__ == "__main__":
  sys.exit(main())
