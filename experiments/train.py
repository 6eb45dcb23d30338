"""The command line: train any agent with any runner.

  python -m experiments.train --agent dqn --env CartPole-v1
  python -m experiments.train --agent ppo --env CartPole-v1 --runner anakin --num-seeds 8
  python -m experiments.train --resume runs/dqn-CartPole-v1-single-seed0-...
  python -m experiments.train --help
(also installed as `relay train ...`).

This entry point, and only it, changes process-wide state: it moves a
Reverb run into a loopback-only network namespace (before any thread
starts), turns on JAX's persistent compilation cache and selects
matplotlib's file backend. The runners it calls leave all of that alone,
so the Python API behaves the same in a notebook.
"""
from __future__ import annotations

from experiments import launch_time

# Times "after launch" count from the process's start (imports included).
_LAUNCH = launch_time.process_start_time()

# pylint: disable=g-import-not-at-top,wrong-import-position
import argparse
import importlib.util
import json
import os
import sys
from typing import Any, Sequence

from experiments import network_isolation


def _pre_parse(argv: Sequence[str], read_resumed: bool = True
               ) -> argparse.Namespace:
  """--agent, --env, --runner, --replay, --replay-port, --ray-address,
  --compilation-cache-dir and --resume before the full parse: they pick the
  presets, whether to isolate the network and the process's compilation
  cache (for --resume, from the run folder's config.json when
  `read_resumed`)."""
  pre = argparse.ArgumentParser(add_help=False)
  for flag in ("--agent", "--env", "--runner", "--replay", "--resume",
               "--replay-port", "--ray-address", "--compilation-cache-dir"):
    pre.add_argument(flag)
  pre.add_argument("-h", "--help", action="store_true")
  known, _ = pre.parse_known_args(argv)
  if known.resume and read_resumed:
    try:
      with open(os.path.join(known.resume, "config.json")) as f:
        saved = json.load(f)
      for name in ("agent", "env", "runner", "replay", "ray_address",
                   "compilation_cache_dir"):
        setattr(known, name, saved.get(name, getattr(known, name)))
    except (OSError, ValueError, AttributeError):
      pass  # the runner reports the unreadable folder
  return known


def _uses_reverb(known: argparse.Namespace) -> bool:
  """Whether the run will start a Reverb server (whose port needs hiding):
  a single-process run whose replay is "reverb", or "auto" with Reverb
  installed. Decided before anything heavy is imported."""
  if (known.runner or "single") != "single" or known.replay == "device":
    return False
  if known.replay == "reverb":
    return True
  return importlib.util.find_spec("reverb") is not None


def _wants_open_port(known: argparse.Namespace) -> bool:
  """True when the user chose a --replay-port (wants it reachable) or only
  asks for help; then the process stays in the host's network."""
  return known.help or (known.replay_port or "0").strip() not in ("0", "")


def isolate_if_needed(argv: Sequence[str]) -> str | None:
  """Moves a Reverb run into a loopback-only network namespace; returns why
  that failed, if it did. Must run before numpy/TensorFlow/JAX start
  threads (see network_isolation), i.e. before the imports below."""
  global _ISOLATED
  known = _pre_parse(argv)
  if _uses_reverb(known) and not _wants_open_port(known):
    problem = network_isolation.isolate_network()
    _ISOLATED = problem is None
    return problem
  if (known.runner == "distributed" and not known.ray_address
      and not known.help):
    # A local Ray binds some ports on every interface (and a Reverb replay
    # server its own): the whole run lives in a loopback-only namespace,
    # whose processes all end when this one does (namespace_reaper).
    problem = network_isolation.isolate_network()
    if problem is None:
      _ISOLATED = True
      from experiments import namespace_reaper
      namespace_reaper.start()
    return problem
  return None


def isolation_warning(runner: str, problem: str) -> str:
  """What a run that could not move into a loopback-only namespace leaves
  open (`problem`: why it could not)."""
  if runner == "distributed":
    return ("warning: the run's ports could not be kept off the network "
            f"({problem}); a local Ray listens on all interfaces for some of "
            "its ports (and a Reverb replay server for its own).")
  return ("warning: the replay port could not be kept off the network "
          f"({problem}); Reverb 0.14 listens on all interfaces.")


def _wandb_online(config: Any) -> bool:
  """Whether the run logs to W&B online (for --resume: as its folder's
  config.json says)."""
  settings = {"wandb": config.wandb, "wandb_mode": config.wandb_mode}
  if config.resume:
    try:
      with open(os.path.join(config.resume, "config.json")) as f:
        saved = json.load(f)
      settings = {k: saved.get(k, v) for k, v in settings.items()}
    except (OSError, ValueError, AttributeError):
      pass  # the runner reports the unreadable folder
  return bool(settings["wandb"]) and settings["wandb_mode"] == "online"


_ISOLATION_PROBLEM: str | None = None
_ISOLATED = False  # this process is in a loopback-only network namespace
if __name__ == "__main__":
  _ISOLATION_PROBLEM = isolate_if_needed(sys.argv[1:])

# Light imports only at module level (the console script isolates first).
from building_blocks import errors
from experiments import stopping

EXIT_BAD_INPUT = stopping.EXIT_BAD_INPUT
EXIT_DIVERGED = stopping.EXIT_DIVERGED
EXIT_INTERRUPTED = stopping.EXIT_INTERRUPTED

DESCRIPTION = """Train a Relay agent.

Runners:
  single  one process: gymnasium environments, replay in an in-process Reverb
          server or in device memory (--replay), checkpoints and --resume.
  anakin  all on the accelerator: JAX-native environments ({jax_envs}),
          rollouts, replay, updates and evaluation in one compiled program;
          --num-seeds seeds at once, sharded across local devices.

Agents (each trains under both runners):
{agents}

Writes config.json, logs/train.csv, logs/eval.csv, tensorboard/,
learning_curve.png, checkpoints/ and summary.json into the run folder
(runner single also replay/, runner anakin also final_returns.csv; with
--wandb also wandb_run_id and wandb/). `python -m experiments.watch RUN_DIR`
renders episodes of the trained agent.
"""


def _description() -> str:
  import agents
  from envs import jax_envs
  lines = [f"  {name:6s}  {entry.description}; --{name}.* fields below"
           for name, entry in sorted(agents.REGISTRY.items())]
  return DESCRIPTION.format(jax_envs=", ".join(jax_envs.registered_ids()),
                            agents="\n".join(lines))


def parse_args(argv: Sequence[str] | None) -> Any:
  """The ExperimentConfig of the command line, with the agent's preset for
  the chosen environment as the defaults."""
  import tyro
  from experiments import config as config_lib
  argv = list(sys.argv[1:] if argv is None else argv)
  # A resumed run's settings come from its folder (run_folder.load_for_resume).
  known = _pre_parse(argv, read_resumed=False)
  try:
    default = config_lib.default_config(
        known.agent or "dqn", known.env or "CartPole-v1",
        known.runner or "single")
  except errors.ConfigError:
    default = config_lib.ExperimentConfig()  # validate() names the problem
  return tyro.cli(config_lib.experiment_config_class(), args=argv,
                  default=default,
                  prog="python -m experiments.train",
                  description=_description())


def set_process_state(config: Any) -> None:
  """What only a command line may change for the whole process: JAX's
  persistent compilation cache (every program, however quick to compile)
  and matplotlib's non-interactive backend."""
  import jax
  import matplotlib
  matplotlib.use("Agg")
  if config.compilation_cache_dir:
    jax.config.update("jax_compilation_cache_dir",
                      os.path.expanduser(config.compilation_cache_dir))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def _print_summary(summary: Any) -> None:
  if summary.runner == "distributed":
    final = summary.final_eval_return[0]
    print(f"{'Interrupted' if summary.interrupted else 'Done'}: "
          f"{summary.env_steps} steps by {summary.extra['num_actors']} actors, "
          f"{summary.extra['learner_steps']} learner steps, in "
          f"{summary.wall_seconds:.1f} s; final evaluation return "
          f"{'n/a' if final is None else f'{final:.1f}'}; restarts "
          f"{summary.extra['restarts'] or 'none'}; run folder {summary.run_dir}.")
    return
  if summary.runner == "anakin":
    print(summary.extra["table"])
    target = ""
    if summary.seconds_to_target is not None:
      target = (f" Every seed reached the target "
                f"{summary.seconds_to_target:.1f} s after launch.")
    print(f"{'Interrupted' if summary.interrupted else 'Done'}: "
          f"{summary.env_steps:,} env steps x {summary.num_seeds} seeds in "
          f"{summary.extra['run_seconds']:.1f} s "
          f"({summary.steps_per_second:,.0f} steps/s) after "
          f"{summary.extra['compile_seconds']:.1f} s of compilation.{target} "
          f"Run folder {summary.run_dir}: logs/, learning_curve.png, "
          "final_returns.csv, checkpoints/.")
    return
  final = summary.final_eval_return[0]
  final = "n/a" if final is None else f"{final:.1f}"
  target = ""
  if summary.steps_to_target and summary.steps_to_target[0] is not None:
    target = (f" reached target at step {summary.steps_to_target[0]} "
              f"({summary.seconds_to_target:.1f} s after launch);")
  print(f"Done: {summary.env_steps} steps, {summary.extra['episodes']} "
        f"episodes in {summary.wall_seconds:.1f} s; final evaluation return "
        f"{final} (best 10-episode mean "
        f"{summary.extra['best_mean_return']:.1f});{target} run folder "
        f"{summary.run_dir} (logs in logs/, plot {summary.plot_path}, "
        f"checkpoints in {summary.checkpoint_dir}).")


def main(argv: Sequence[str] | None = None) -> int:
  """`python -m experiments.train ARGS`: parses, validates and runs one
  experiment with the runner it names; returns the exit code (0 done, 2
  bad input, 3 diverged, 130 interrupted; experiments/stopping.py)."""
  from building_blocks import optional_deps
  config = parse_args(argv)
  if config.resume:  # the runner that resumes is the folder's, and so is
    import dataclasses  # the process's compilation cache
    from experiments import run_folder
    saved = _pre_parse(sys.argv[1:] if argv is None else argv)
    if saved.runner in run_folder.RESUMABLE_RUNNERS:  # else: its error says why
      config = dataclasses.replace(config, runner=saved.runner)
    if saved.compilation_cache_dir is not None:
      config = dataclasses.replace(
          config, compilation_cache_dir=saved.compilation_cache_dir)
  if _ISOLATION_PROBLEM and not config.replay_port:
    print(isolation_warning(config.runner, _ISOLATION_PROBLEM),
          file=sys.stderr)
  if _ISOLATED and _wandb_online(config):
    print("error: --wandb-mode online needs the network, but this run lives "
          "in a loopback-only network namespace (it keeps the Reverb and Ray "
          "ports off the network; see the README's Network exposure). Log "
          "offline (--wandb-mode offline, the default) and upload afterwards "
          "with `wandb sync RUN_DIR/wandb/offline-run-*`, or, for --runner "
          "single, use --replay device (no server, no isolation).",
          file=sys.stderr)
    return stopping.EXIT_BAD_INPUT
  try:
    config.validate()
    if not config.resume:  # (a resumed run's loggers: its folder's config)
      from experiments import run_logs
      run_logs.check_available(config)  # before compiling
    set_process_state(config)
    if config.runner == "anakin":
      from experiments import anakin_runner as runner
    elif config.runner == "distributed":
      from experiments import distributed_runner as runner
    else:
      from experiments import single_process_runner as runner
    summary = runner.run(config, start_time=_LAUNCH)
  except stopping.TrainingDivergedError as e:
    print(f"error: {e}", file=sys.stderr)
    return stopping.EXIT_DIVERGED
  except (errors.RelayError, optional_deps.MissingDependencyError) as e:
    print(f"error: {e}", file=sys.stderr)
    return stopping.EXIT_BAD_INPUT
  except KeyboardInterrupt as e:
    summary = e.args[0] if e.args else None
    if summary is None:
      print("Interrupted before the run could save its state; its folder "
            "keeps the last complete checkpoint, if any.", file=sys.stderr)
    else:
      print(f"Interrupted at step {summary.env_steps}. Checkpoint and replay "
            f"saved in {summary.run_dir}; logs are intact. Continue with:\n"
            f"  python -m experiments.train --resume {summary.run_dir}",
            file=sys.stderr)
    return stopping.EXIT_INTERRUPTED
  _print_summary(summary)
  return stopping.EXIT_INTERRUPTED if summary.interrupted else stopping.EXIT_OK


def console_main() -> None:
  """The `relay` console script: `relay train ARGS` (or `relay ARGS`)."""
  global _ISOLATION_PROBLEM
  argv = sys.argv[1:]
  if argv and argv[0] == "train":
    argv = argv[1:]
  _ISOLATION_PROBLEM = isolate_if_needed(argv)
  sys.exit(main(argv))


if __name__ == "__main__":
  sys.exit(main())
