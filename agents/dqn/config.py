"""DQN hyperparameters. The defaults solve CartPole-v1 (10-episode mean
return >= 475) within 50,000 environment steps; see the README's figures."""
from __future__ import annotations

import dataclasses

from building_blocks import config_checks
from building_blocks import errors


@dataclasses.dataclass
class DQNConfig:
  """Double DQN with n-step returns and prioritized replay."""

  learning_rate: float = 1e-3
  """Adam step size."""
  adam_eps: float = 1e-8
  """Adam epsilon."""
  hidden_sizes: tuple[int, ...] = (128, 128)
  """Widths of the MLP torso's hidden layers."""
  discount: float = 0.995
  """Per-step discount gamma."""
  n_step: int = 3
  """Steps of real reward before bootstrapping."""
  batch_size: int = 32
  """Transitions per gradient step."""
  samples_per_insert: float = 32.0
  """Replayed transitions per inserted one (rate-limiter target). 32 with batch 32: one gradient step per environment step."""
  num_sgd_steps_per_step: int = 8
  """Gradient steps per learner step: one replay sample of this many batches feeds a jitted scan of updates (fewer Python and replay round trips)."""
  min_replay_size: int = 1_000
  """Transitions in replay before learning starts."""
  max_replay_size: int = 50_000
  """Replay capacity; the oldest transitions are removed first."""
  prioritized: bool = True
  """Prioritized (True) or uniform (False) replay."""
  priority_exponent: float = 0.6
  """alpha in P(i) = p_i^alpha / sum_j p_j^alpha."""
  importance_sampling_exponent: float = 0.4
  """beta in the importance weights w_i = (N P(i))^-beta / max_j w_j."""
  target_update_period: int = 100
  """Gradient steps between copies of the online to the target network."""
  huber_loss_parameter: float = 1.0
  """Huber loss threshold delta on TD errors."""
  max_gradient_norm: float = 10.0
  """Global gradient-norm clip."""
  epsilon_start: float = 1.0
  """Exploration rate at the first step."""
  epsilon_end: float = 0.01
  """Exploration rate after the decay."""
  epsilon_decay_steps: int = 10_000
  """Actor steps over which epsilon decays linearly."""
  evaluation_epsilon: float = 0.0
  """Exploration rate of evaluation episodes."""
  variable_update_period: int = 1
  """Actor steps between parameter fetches from the learner."""
  num_envs: int = 1
  """All-on-accelerator runner: environments stepped in parallel per seed (the single-process runner steps one)."""
  rollout_length: int = 8
  """All-on-accelerator runner: steps per environment between learner updates; each update makes samples_per_insert x num_envs x rollout_length / batch_size gradient steps."""

  def validate(self) -> None:
    """Raises ConfigError naming the first out-of-range field."""
    positive_ints = ("n_step", "batch_size", "num_sgd_steps_per_step",
                     "min_replay_size",
                     "max_replay_size", "target_update_period",
                     "variable_update_period", "num_envs", "rollout_length")
    config_checks.require_positive_ints(self, positive_ints, "dqn.")
    config_checks.require(self, [
        ("learning_rate", self.learning_rate > 0, "> 0"),
        ("samples_per_insert", self.samples_per_insert > 0, "> 0"),
        ("discount", 0 <= self.discount <= 1, "in [0, 1]"),
        ("priority_exponent", self.priority_exponent >= 0, ">= 0"),
        ("importance_sampling_exponent",
         0 <= self.importance_sampling_exponent <= 1, "in [0, 1]"),
        ("epsilon_start", 0 <= self.epsilon_start <= 1, "in [0, 1]"),
        ("epsilon_end", 0 <= self.epsilon_end <= 1, "in [0, 1]"),
        ("evaluation_epsilon", 0 <= self.evaluation_epsilon <= 1, "in [0, 1]"),
        ("epsilon_decay_steps", self.epsilon_decay_steps >= 0, ">= 0"),
        ("huber_loss_parameter", self.huber_loss_parameter > 0, "> 0"),
        ("max_gradient_norm", self.max_gradient_norm > 0, "> 0"),
        ("hidden_sizes", len(self.hidden_sizes) > 0 and
         all(h > 0 for h in self.hidden_sizes), "non-empty and positive"),
    ], "dqn.")
    if self.min_replay_size > self.max_replay_size:
      raise errors.ConfigError(
          f"dqn.min_replay_size ({self.min_replay_size}) must not exceed "
          f"dqn.max_replay_size ({self.max_replay_size}).")
