"""ExperimentConfig: one run of one agent on one environment with one runner,
saved as config.json in its folder. The same object drives every runner.

The agent fields (`dqn`, `ppo`, ...) are made from the agent registry
(agents/__init__.py): one field per registered agent, holding its config.
Runner settings (how many environments, how long a rollout, how many seeds)
are fields here, not in the agents' configs.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Literal, Optional

import agents
from building_blocks import config_checks
from building_blocks import errors

RUNNERS = ("single", "anakin", "distributed")
REPLAY_BACKENDS = ("auto", "reverb", "device")
WANDB_MODES = ("offline", "online", "disabled")
DEFAULT_NUM_STEPS = {"single": 50_000, "anakin": 500_000, "distributed": 50_000}


@dataclasses.dataclass
class RunSettings:
  """Train an agent: --runner single (one process, gymnasium environments,
  replay in Reverb or device memory) or --runner anakin (everything in one
  compiled program on JAX-native environments, many seeds at once).

  Example: python -m experiments.train --agent dqn --env CartPole-v1
  """

  agent: str = "dqn"
  """Agent name (see the list above)."""
  env: str = "CartPole-v1"
  """Environment id: any gymnasium id or JAX-native one (envs/jax_envs; the single and distributed runners serve it through gymnasium's API); the anakin runner needs a JAX-native one."""
  runner: Literal["single", "anakin", "distributed"] = "single"
  """single: one process, gymnasium environments, replay in Reverb or device memory; anakin: all on the accelerator, JAX-native environments, many seeds in one program; distributed: replay server, learner, actors and evaluator as Ray processes."""
  seed: int = 0
  """Seeds the environments, the network initialisation and the actor (anakin: seed i of the batch uses fold_in(PRNGKey(seed), i))."""
  num_seeds: int = 1
  """Independent runs vmapped in one program (runner anakin only)."""
  num_steps: Optional[int] = None
  """Environment steps to train for (per seed; the run stops there, mid-episode if need be). Default: 50,000 (single) or 500,000 (anakin); with --resume, the resumed run's own budget."""
  num_envs: Optional[int] = None
  """Environments stepped in parallel (per seed); default: what the agent asks for (its preset for --env)."""
  rollout_length: Optional[int] = None
  """Steps per environment in each rollout the runner collects between updates; default: what the agent asks for."""
  eval_every: int = 10_000
  """Environment steps between evaluations (0: only at the end; anakin: also between progress updates)."""
  eval_episodes: int = 10
  """Episodes per evaluation, with the evaluation policy (anakin: 0 turns evaluation off)."""
  checkpoint_every: int = 25_000
  """Environment steps between checkpoints (0: only at the end; runner single)."""
  stop_at_return: Optional[float] = None
  """Stop once the 10-episode mean training return reaches this (anakin: on every seed)."""
  run_dir: Optional[str] = None
  """Where logs, plot and checkpoints go; must not exist yet. Default: runs/<agent>-<env>-<runner>-seed<seed>-<time>."""
  resume: Optional[str] = None
  """Run folder to continue from its last checkpoint (runners single and distributed); its config.json supplies every other flag except --num-steps."""
  replay: Literal["auto", "reverb", "device"] = "auto"
  """Replay of runner single: "reverb" (in-process Reverb server; needs the Reverb install), "device" (in device memory; any install), "auto" (Reverb when installed). A run records the one it used."""
  replay_port: int = 0
  """Port of the in-process Reverb server (0: pick a free one; Reverb only)."""
  replay_checkpoint: bool = True
  """Save the replay contents with each checkpoint, so resume refills it."""
  num_devices: Optional[int] = None
  """Local devices to shard the seeds across (runner anakin; default: all); num_seeds must be a multiple."""
  num_actors: int = 2
  """Actor processes, each stepping --num-envs environments (runner distributed)."""
  ray_address: Optional[str] = None
  """Join the Ray cluster at this address, host:port (runner distributed); default: start a local Ray on loopback only."""
  publish_every: int = 1
  """Learner updates between parameter versions sent to actors (one ray.put each; runner distributed)."""
  max_restarts: int = 3
  """Times each process of a distributed run is restarted after a crash before the run stops with its error."""
  listen_beyond_loopback: bool = False
  """Runner distributed with --ray-address on other machines: allow the Reverb server to listen on every interface (other machines then reach its port)."""
  compilation_cache_dir: str = "~/.cache/relay/jax"
  """JAX persistent compilation cache, set by the command line for its process and by the distributed runner for its workers: later runs skip XLA compilation ("" disables)."""
  tensorboard: bool = True
  """Also write TensorBoard event files."""
  wandb: bool = False
  """Also log to Weights & Biases (the wandb extra): the same rows and names as TensorBoard. Offline by default (--wandb-mode)."""
  wandb_project: str = "relay"
  """W&B project of the run (with --wandb)."""
  wandb_entity: Optional[str] = None
  """W&B entity (user or team) of the run (with --wandb); default: the account's default entity."""
  wandb_mode: Literal["offline", "online", "disabled"] = "offline"
  """W&B mode (with --wandb): "offline" writes the run under the run folder's wandb/ and sends nothing (upload it later with `wandb sync`); "online" sends it as it runs (needs `wandb login`); "disabled" logs nothing."""
  progress: bool = True
  """Show a progress bar."""

  def agent_config(self) -> Any:
    """The config of the agent this run trains."""
    return getattr(self, self.agent)

  def total_steps(self) -> int:
    """The step budget per seed."""
    if self.num_steps is not None:
      return self.num_steps
    return DEFAULT_NUM_STEPS[self.runner]

  def runner_setting(self, name: str) -> int:
    """num_envs or rollout_length: the user's value, else the agent's preset
    for this environment, else the agent's default."""
    value = getattr(self, name)
    if value is not None:
      return value
    entry = agents.get(self.agent)
    preset = entry.presets.get(self.env)
    if preset is not None and name in preset.runner:
      return preset.runner[name]
    return entry.runner_defaults[name]

  def validate(self) -> None:
    """Raises ConfigError naming the first malformed field."""
    entry = agents.get(self.agent)
    if self.runner not in RUNNERS:
      raise errors.ConfigError(
          f"runner must be one of {', '.join(RUNNERS)}, got {self.runner!r}.")
    if self.runner not in entry.runners:
      raise errors.ConfigError(
          f"{self.agent} does not run in the {self.runner} runner"
          f"{': ' + entry.unsupported_reason if entry.unsupported_reason else ''}"
          f". Choose --runner {' or '.join(entry.runners)}.")
    config_checks.require_positive_ints(self, ("num_seeds",))
    if self.runner == "single":
      config_checks.require_positive_ints(self, ("eval_episodes",))
    elif not (isinstance(self.eval_episodes, int) and self.eval_episodes >= 0):
      raise errors.ConfigError(
          f"eval_episodes must be an integer >= 0 (0: no evaluation), got "
          f"{self.eval_episodes!r}.")
    for name in ("num_steps", "num_envs", "rollout_length", "num_devices"):
      if getattr(self, name) is not None:
        config_checks.require_positive_ints(self, (name,))
    for name in ("eval_every", "checkpoint_every", "seed"):
      if getattr(self, name) < 0:
        raise errors.ConfigError(
            f"{name} must be >= 0, got {getattr(self, name)}.")
    if self.replay not in REPLAY_BACKENDS:
      raise errors.ConfigError(
          f"replay must be one of {list(REPLAY_BACKENDS)}, got {self.replay!r}.")
    if not 0 <= self.replay_port <= 65535:
      raise errors.ConfigError(
          f"replay_port must be in 0..65535, got {self.replay_port}.")
    if self.runner != "anakin" and self.num_seeds != 1:
      raise errors.ConfigError(
          f"--num-seeds {self.num_seeds} needs --runner anakin (it trains "
          f"seeds in parallel); the {self.runner} runner trains one seed: "
          "start one run per seed.")
    if self.runner == "distributed":
      config_checks.require_positive_ints(self, ("num_actors", "publish_every"))
      if self.max_restarts < 0:
        raise errors.ConfigError(
            f"max_restarts must be >= 0, got {self.max_restarts}.")
    if self.wandb_mode not in WANDB_MODES:
      raise errors.ConfigError(
          f"wandb_mode must be one of {', '.join(WANDB_MODES)}, got "
          f"{self.wandb_mode!r}.")
    if self.runner == "anakin" and self.resume:
      raise errors.ConfigError(
          "--resume works with --runner single or distributed; an "
          "all-on-accelerator run "
          "saves its final state but does not resume.")
    self.agent_config().validate(f"{self.agent}.")

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


_CLASSES: dict[tuple[Any, ...], type] = {}


def experiment_config_class() -> type:
  """The ExperimentConfig dataclass for the agents registered now: the run
  settings plus one field per agent, named after it (--dqn.learning-rate).
  An agent registered later (agents.register) gets a class that has its
  field too; every such class is a RunSettings."""
  key = tuple((name, entry.config_cls)
              for name, entry in sorted(agents.REGISTRY.items()))
  if key not in _CLASSES:
    fields = [(name, config_cls,
               dataclasses.field(default_factory=config_cls))
              for name, config_cls in key]
    cls = dataclasses.make_dataclass("ExperimentConfig", fields,
                                     bases=(RunSettings,))
    cls.__doc__ = RunSettings.__doc__
    cls.__module__ = __name__
    _CLASSES[key] = cls
  return _CLASSES[key]


# The config of the built-in agents (see experiment_config_class).
ExperimentConfig = experiment_config_class()


def default_config(agent: str = "dqn", env: str = "CartPole-v1",
                   runner: str = "single", **kwargs: Any) -> Any:
  """An ExperimentConfig whose agent config includes the agent's preset for
  `env`; `kwargs` set other run fields."""
  entry = agents.get(agent)
  config = experiment_config_class()(agent=agent, env=env, runner=runner,
                                     **kwargs)
  preset = entry.presets.get(env)
  if preset is not None:
    setattr(config, agent, entry.config_cls(**preset.agent))
  return config


def from_dict(raw: dict[str, Any]) -> Any:
  """Builds an ExperimentConfig from plain data (config.json), checking
  every field name."""
  cls = experiment_config_class()
  fields = {f.name for f in dataclasses.fields(cls)}
  unknown = set(raw) - fields
  if unknown:
    raise errors.ConfigError(f"Unknown config fields: {sorted(unknown)}.")
  kwargs = dict(raw)
  for name, entry in agents.REGISTRY.items():
    if isinstance(kwargs.get(name), dict):
      kwargs[name] = _agent_config_from_dict(entry.config_cls, kwargs[name],
                                             name)
  return cls(**kwargs)


def from_json_file(path: str) -> Any:
  """Reads a config.json written by `to_json`; unknown keys are an error."""
  try:
    with open(path) as f:
      raw = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise errors.ConfigError(f"Cannot read run config {path}: {e}") from e
  if not isinstance(raw, dict):
    raise errors.ConfigError(f"Run config {path} is not a JSON object.")
  return from_dict(raw)


def _agent_config_from_dict(config_cls: type, raw: dict[str, Any],
                            prefix: str) -> Any:
  names = {f.name for f in dataclasses.fields(config_cls)}
  unknown = set(raw) - names
  if unknown:
    raise errors.ConfigError(
        f"Unknown {prefix} config fields: {sorted(unknown)}.")
  values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
  return config_cls(**values)


def default_run_dir(config: Any, now: str) -> str:
  """runs/AGENT-ENV-RUNNER-seedS[xN]-NOW: where a run goes when the user
  names no folder."""
  name = (f"{config.agent}-{config.env.replace('/', '_')}-{config.runner}"
          f"-seed{config.seed}")
  if config.num_seeds > 1:
    name += f"x{config.num_seeds}"
  return os.path.join("runs", f"{name}-{now}")
