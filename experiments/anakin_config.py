"""AnakinConfig: one all-on-accelerator run (many seeds of one agent on one
JAX-native environment), saved as config.json in its run folder."""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Optional

from agents.dqn import DQNConfig
from agents.ppo import PPOConfig
from agents.ppo import config as ppo_config_lib
from building_blocks import config_checks
from building_blocks import errors

ANAKIN_AGENTS = ("ppo", "dqn")


@dataclasses.dataclass
class AnakinConfig:
  """Train seeds in parallel inside one compiled program.

  Example: python -m experiments.anakin --agent ppo --env CartPole-v1 --num-seeds 64
  """

  agent: str = "ppo"
  """Agent name: ppo or dqn."""
  env: str = "CartPole-v1"
  """JAX-native environment id (see the list above)."""
  seed: int = 0
  """Base seed; seed i of the batch uses fold_in(PRNGKey(seed), i)."""
  num_seeds: int = 1
  """Independent runs vmapped in one program (sharded across devices)."""
  num_steps: int = 500_000
  """Environment steps per seed (rounded down to whole evaluation periods)."""
  eval_every: int = 10_000
  """Environment steps per seed between evaluations, and between progress and log updates."""
  eval_episodes: int = 10
  """Episodes per evaluation (greedy policy, run inside the program; 0: no evaluation)."""
  stop_at_return: Optional[float] = None
  """Stop once every seed's 10-episode mean training return reaches this."""
  num_devices: Optional[int] = None
  """Local devices to shard the seeds across (default: all); num_seeds must be a multiple."""
  run_dir: Optional[str] = None
  """Where curves, plot, table and parameters go; must not exist yet. Default: runs/anakin-<agent>-<env>-<time>."""
  compilation_cache_dir: str = "~/.cache/relay/jax"
  """JAX persistent compilation cache: later runs skip XLA compilation ("" disables)."""
  progress: bool = True
  """Show a progress bar."""
  ppo: PPOConfig = dataclasses.field(default_factory=PPOConfig)
  """PPO hyperparameters (with --agent ppo); per-environment presets in agents/ppo/config.py."""
  dqn: DQNConfig = dataclasses.field(default_factory=DQNConfig)
  """DQN hyperparameters (with --agent dqn)."""

  def agent_config(self) -> Any:
    return getattr(self, self.agent)

  def validate(self) -> None:
    """Raises ConfigError naming the first bad field."""
    if self.agent not in ANAKIN_AGENTS:
      raise errors.ConfigError(
          f"Unknown agent {self.agent!r} for the all-on-accelerator runner; "
          f"choose one of {', '.join(ANAKIN_AGENTS)}.")
    config_checks.require_positive_ints(
        self, ("num_seeds", "num_steps", "eval_every"))
    if self.eval_episodes < 0:
      raise errors.ConfigError(
          f"eval_episodes must be >= 0, got {self.eval_episodes!r}.")
    if self.num_devices is not None and self.num_devices < 1:
      raise errors.ConfigError(
          f"num_devices must be >= 1, got {self.num_devices!r}.")
    self.agent_config().validate()

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2)

  @classmethod
  def from_dict(cls, raw: dict[str, Any]) -> "AnakinConfig":
    """Builds a config from JSON-like data; unknown keys are errors."""
    raw = dict(raw)
    nested = {"ppo": PPOConfig, "dqn": DQNConfig}
    kwargs = {}
    known = {f.name for f in dataclasses.fields(cls)}
    for key, value in raw.items():
      if key not in known:
        raise errors.ConfigError(f"Unknown config field {key!r}.")
      if key in nested:
        sub_known = {f.name for f in dataclasses.fields(nested[key])}
        bad = sorted(set(value) - sub_known)
        if bad:
          raise errors.ConfigError(f"Unknown {key} config field(s): {bad}.")
        if "hidden_sizes" in value:
          value = dict(value, hidden_sizes=tuple(value["hidden_sizes"]))
        value = nested[key](**value)
      kwargs[key] = value
    return cls(**kwargs)


def default_config(agent: str = "ppo", env: str = "CartPole-v1",
                   **kwargs: Any) -> AnakinConfig:
  """An AnakinConfig whose agent settings include the preset for `env`."""
  return AnakinConfig(agent=agent, env=env,
                      ppo=ppo_config_lib.default_config(env), **kwargs)
