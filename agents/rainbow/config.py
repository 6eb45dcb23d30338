"""Rainbow hyperparameters. Each of Rainbow's components is one switch, so
an ablation is one flag (e.g. `--rainbow.no-noisy`).

The defaults need no per-environment preset. All on the accelerator, 3
seeds (`--runner anakin --num-seeds 3`, 2-core CPU): CartPole-v1 reached a
10-episode mean training return of 475 after 14k-24k steps, 472-500 at
100k; Acrobot-v1 reached -100 after 6k-46k steps, -74 +- 5 at 200k.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

from agents.c51 import config as c51_config
from building_blocks import config_checks
from building_blocks import value_based


@dataclasses.dataclass
class RainbowConfig(value_based.ValueBasedConfig):
  """Rainbow (Hessel et al., 2018): double Q-learning, prioritized replay,
  dueling head, n-step returns, distributional (C51) loss, noisy layers.
  Without `distributional` the loss is DQN's (double Q, Huber)."""

  discount: float = 0.99
  """Per-step discount gamma (returns then lie within +-100 on CartPole-v1 and Acrobot-v1, inside the default support)."""
  dueling: bool = True
  """Dueling head: Q = V + A - mean_a A (per atom when distributional)."""
  noisy: bool = True
  """Noisy layers (factorised Gaussian) in the head: the noise explores, so epsilon defaults to 0."""
  distributional: bool = True
  """C51's categorical loss (else DQN's double-Q Huber loss)."""
  num_atoms: int = 51
  """Atoms of each action's return distribution (distributional only)."""
  v_min: float = -100.0
  """Smallest atom (distributional only)."""
  v_max: float = 100.0
  """Largest atom (distributional only)."""
  noisy_sigma_0: float = 0.5
  """sigma_0 of the noisy layers: each sigma starts at sigma_0 / sqrt(fan-in)."""
  huber_loss_parameter: float = 1.0
  """Huber threshold delta of the loss without distributional."""
  epsilon_start: Optional[float] = None
  """Exploration rate at the first step; None: 0 with noisy layers, else 1.0."""
  epsilon_end: Optional[float] = None
  """Exploration rate after the decay; None: 0 with noisy layers, else 0.01."""

  STATIC_FIELDS = value_based.ValueBasedConfig.STATIC_FIELDS + (
      "dueling", "noisy", "distributional", "num_atoms", "v_min", "v_max",
      "noisy_sigma_0")

  def resolved(self) -> "RainbowConfig":
    """This config with the epsilon defaults filled in (None: 0 with noisy
    layers, DQN's 1.0 -> 0.01 without)."""
    start, end = (0.0, 0.0) if self.noisy else (1.0, 0.01)
    return dataclasses.replace(
        self,
        epsilon_start=start if self.epsilon_start is None else self.epsilon_start,
        epsilon_end=end if self.epsilon_end is None else self.epsilon_end)

  def validate(self, prefix: str = "rainbow.") -> None:
    """Raises ConfigError naming the first out-of-range field."""
    value_based.ValueBasedConfig.validate(self.resolved(), prefix)
    config_checks.require(self, [
        ("noisy_sigma_0", self.noisy_sigma_0 >= 0, ">= 0"),
        ("huber_loss_parameter", self.huber_loss_parameter > 0, "> 0"),
    ], prefix)
    if self.distributional:
      c51_config.check_num_atoms(self.num_atoms, prefix)
      c51_config.check_support(self.v_min, self.v_max, prefix)
