"""ExperimentConfig: everything a run needs, saved as config.json in its folder."""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Literal, Optional

from agents import AGENTS
from agents.dqn import DQNConfig
from building_blocks import errors


REPLAY_BACKENDS = ("auto", "reverb", "device")


@dataclasses.dataclass
class ExperimentConfig:
  """One training run of one agent on one environment.

  Example: python -m experiments.train --agent dqn --env CartPole-v1
  """

  agent: str = "dqn"
  """Agent name (see the list above)."""
  env: str = "CartPole-v1"
  """Any gymnasium environment id the agent supports."""
  seed: int = 0
  """Seeds the environment, the network initialisation and the actor."""
  num_steps: Optional[int] = None
  """Environment steps to train for; the last episode is completed (default 50,000; with --resume, the resumed run's own budget)."""
  eval_every: int = 10_000
  """Environment steps between evaluation phases (0: only at the end)."""
  eval_episodes: int = 10
  """Episodes per evaluation phase, with the evaluation policy."""
  checkpoint_every: int = 25_000
  """Environment steps between checkpoints (0: only at the end)."""
  stop_at_return: Optional[float] = None
  """Stop early once the 10-episode mean training return reaches this."""
  run_dir: Optional[str] = None
  """Where logs, plot and checkpoints go; must not exist yet. Default:
  runs/<agent>-<env>-seed<seed>-<time>."""
  resume: Optional[str] = None
  """Run folder to continue from its last checkpoint; its config.json supplies every other flag except --num-steps."""
  replay: Literal["auto", "reverb", "device"] = "auto"
  """Replay backend: "reverb" (in-process Reverb server; needs the Reverb install), "device" (flashbax buffer in device memory; any install), "auto" (Reverb when it is installed, else device). A run records the backend it used."""
  replay_port: int = 0
  """Port of the in-process Reverb server (0: pick a free one; Reverb only)."""
  replay_checkpoint: bool = True
  """Save the replay contents with each checkpoint, so resume refills it."""
  compilation_cache_dir: str = "~/.cache/relay/jax"
  """JAX persistent compilation cache: later runs skip XLA compilation ("" disables)."""
  tensorboard: bool = True
  """Also write TensorBoard event files."""
  progress: bool = True
  """Show a progress bar."""
  dqn: DQNConfig = dataclasses.field(default_factory=DQNConfig)
  """DQN hyperparameters (used with --agent dqn)."""

  DEFAULT_NUM_STEPS = 50_000

  def total_steps(self) -> int:
    return self.DEFAULT_NUM_STEPS if self.num_steps is None else self.num_steps

  def agent_config(self) -> Any:
    return getattr(self, self.agent)

  def validate(self) -> None:
    """Raises ConfigError naming the first malformed field."""
    if self.agent not in AGENTS:
      raise errors.ConfigError(
          f"Unknown agent {self.agent!r}; choose one of {sorted(AGENTS)}.")
    if self.num_steps is not None and self.num_steps < 1:
      raise errors.ConfigError(f"num_steps must be >= 1, got {self.num_steps}.")
    for name in ("eval_episodes",):
      if getattr(self, name) < 1:
        raise errors.ConfigError(f"{name} must be >= 1, got {getattr(self, name)}.")
    for name in ("eval_every", "checkpoint_every", "seed"):
      if getattr(self, name) < 0:
        raise errors.ConfigError(f"{name} must be >= 0, got {getattr(self, name)}.")
    if self.replay not in REPLAY_BACKENDS:
      raise errors.ConfigError(
          f"replay must be one of {list(REPLAY_BACKENDS)}, got {self.replay!r}.")
    if not 0 <= self.replay_port <= 65535:
      raise errors.ConfigError(
          f"replay_port must be in 0..65535, got {self.replay_port}.")
    self.agent_config().validate()

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

  @classmethod
  def from_json_file(cls, path: str) -> "ExperimentConfig":
    """Reads a config.json written by `to_json`; unknown keys are an error."""
    try:
      with open(path) as f:
        raw = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
      raise errors.ConfigError(f"Cannot read run config {path}: {e}") from e
    return from_dict(raw)


def from_dict(raw: dict[str, Any]) -> ExperimentConfig:
  """Builds an ExperimentConfig from plain data, checking field names."""
  fields = {f.name: f for f in dataclasses.fields(ExperimentConfig)}
  unknown = set(raw) - set(fields)
  if unknown:
    raise errors.ConfigError(f"Unknown config fields: {sorted(unknown)}.")
  kwargs = dict(raw)
  for name, (config_cls, _) in AGENTS.items():
    if name in kwargs and isinstance(kwargs[name], dict):
      kwargs[name] = _agent_config_from_dict(config_cls, kwargs[name], name)
  return ExperimentConfig(**kwargs)


def _agent_config_from_dict(config_cls: type, raw: dict[str, Any],
                            prefix: str) -> Any:
  names = {f.name for f in dataclasses.fields(config_cls)}
  unknown = set(raw) - names
  if unknown:
    raise errors.ConfigError(
        f"Unknown {prefix} config fields: {sorted(unknown)}.")
  values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
  return config_cls(**values)


def default_run_dir(config: ExperimentConfig, now: str) -> str:
  return os.path.join("runs", f"{config.agent}-{config.env.replace('/', '_')}"
                      f"-seed{config.seed}-{now}")
