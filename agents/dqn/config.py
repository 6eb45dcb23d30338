"""DQN hyperparameters. The defaults solve CartPole-v1 (10-episode mean
return >= 475) within 50,000 environment steps; see the README's figures."""
from __future__ import annotations

import dataclasses

from building_blocks import config_checks
from building_blocks import value_based


@dataclasses.dataclass
class DQNConfig(value_based.ValueBasedConfig):
  """Double DQN with n-step returns and prioritized replay."""

  huber_loss_parameter: float = 1.0
  """Huber loss threshold delta on TD errors."""

  def validate(self, prefix: str = "dqn.") -> None:
    """Raises ConfigError naming the first out-of-range field."""
    super().validate(prefix)
    config_checks.require(self, [
        ("huber_loss_parameter", self.huber_loss_parameter > 0, "> 0")],
                          prefix)
