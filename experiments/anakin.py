"""Command-line entry point: train many seeds of an agent inside one
compiled program, everything on the accelerator.

  python -m experiments.anakin --agent ppo --env CartPole-v1 --num-seeds 64
  python -m experiments.anakin --agent dqn --env CartPole-v1 --num-steps 100000
  python -m experiments.anakin --help
"""
from __future__ import annotations

from experiments import launch_time

_LAUNCH = launch_time.process_start_time()

# pylint: disable=g-import-not-at-top,wrong-import-position
import argparse
import sys
from typing import Sequence

from building_blocks import errors
from envs import jax_envs
from experiments import anakin_config as config_lib

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_DIVERGED = 3

DESCRIPTION = """Train {agents} on a JAX-native environment: vmapped
environments, lax.scan rollouts, the agent's update and evaluation all run in
one compiled program; --num-seeds independent seeds are vmapped and sharded
across the local devices.

Environments: {envs}.
PPO handles discrete and continuous actions; DQN needs discrete actions.
Per-environment PPO presets (agents/ppo/config.py) are the defaults for --env.

Writes config.json, learning_curves.csv (one row per seed per evaluation),
learning_curve.png (mean and spread over seeds), final_returns.csv,
summary.json and checkpoints/ (final parameters of every seed) into the run
folder, and prints the table of final returns.
"""


def _env_from_argv(argv: Sequence[str]) -> str:
  """The --env value (or the default) before full parsing, to pick presets."""
  pre = argparse.ArgumentParser(add_help=False)
  pre.add_argument("--env", default=config_lib.AnakinConfig.env)
  known, _ = pre.parse_known_args(argv)
  return known.env


def parse_args(argv: Sequence[str] | None) -> config_lib.AnakinConfig:
  import tyro
  argv = list(sys.argv[1:] if argv is None else argv)
  default = config_lib.default_config(env=_env_from_argv(argv))
  description = DESCRIPTION.format(agents=" and ".join(config_lib.ANAKIN_AGENTS),
                                   envs=", ".join(jax_envs.registered_ids()))
  return tyro.cli(config_lib.AnakinConfig, args=argv, default=default,
                  prog="python -m experiments.anakin", description=description)


def main(argv: Sequence[str] | None = None) -> int:
  config = parse_args(argv)
  from experiments import anakin_run
  from experiments import anakin_runner
  try:
    result = anakin_run.run(config, launch_time=_LAUNCH)
  except anakin_runner.TrainingDivergedError as e:
    print(f"error: {e}", file=sys.stderr)
    return EXIT_DIVERGED
  except errors.RelayError as e:
    print(f"error: {e}", file=sys.stderr)
    return EXIT_BAD_INPUT
  print(result.table)
  target = ""
  if result.seconds_to_target is not None:
    target = (f" Every seed reached {config.stop_at_return:g} "
              f"{result.seconds_to_target:.1f} s after launch.")
  print(f"{'Interrupted' if result.interrupted else 'Done'}: "
        f"{result.env_steps_per_seed:,} env steps x {config.num_seeds} seeds "
        f"in {result.run_seconds:.1f} s ({result.steps_per_second:,.0f} steps/s)"
        f" after {result.compile_seconds:.1f} s of compilation.{target} "
        f"Run folder {result.run_dir}: learning_curves.csv, "
        f"learning_curve.png, final_returns.csv, checkpoints/.")
  return EXIT_INTERRUPTED if result.interrupted else 0


if __name__ == "__main__":
  sys.exit(main())
