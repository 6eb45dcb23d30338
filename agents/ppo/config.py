"""PPO hyperparameters.

The dataclass defaults are PureJaxRL's CartPole settings (4 envs x 128
steps, 4 epochs x 4 minibatches, Adam 2.5e-4 annealed), which reach a
10-episode mean return of 475 on CartPole-v1 within 500k steps and are the
reference for speed comparisons (the 4 x 128 are runner settings:
`RUNNER_DEFAULTS`). `PRESETS` holds tuned settings per environment, which
`experiments.config.default_config` (and so the CLI) applies; see the
README's figures."""
from __future__ import annotations

import dataclasses
from typing import Any

from building_blocks import agent as agent_lib
from building_blocks import config_checks


@dataclasses.dataclass
class PPOConfig:
  """Proximal Policy Optimization (Schulman et al., 2017) with GAE."""

  num_epochs: int = 4
  """Passes over each batch."""
  num_minibatches: int = 4
  """Minibatches per epoch (the batch is shuffled, then split)."""
  learning_rate: float = 2.5e-4
  """Adam step size (the start value when annealed)."""
  anneal_learning_rate: bool = True
  """Decay the step size linearly to 0 over the run."""
  adam_eps: float = 1e-5
  """Adam epsilon."""
  max_gradient_norm: float = 0.5
  """Global gradient-norm clip."""
  discount: float = 0.99
  """Per-step discount gamma."""
  gae_lambda: float = 0.95
  """lambda of generalized advantage estimation."""
  clip_epsilon: float = 0.2
  """epsilon of the clipped surrogate objective (and of the value clip)."""
  clip_value_loss: bool = True
  """Clip the value prediction's change to +-clip_epsilon (PPO2 style)."""
  entropy_coef: float = 0.01
  """Weight of the entropy bonus."""
  value_coef: float = 0.5
  """Weight of the value loss."""
  normalize_advantages: bool = True
  """Standardise advantages within each minibatch."""
  hidden_sizes: tuple[int, ...] = (64, 64)
  """Widths of the actor's and the critic's hidden layers (separate MLPs)."""
  activation: str = "tanh"
  """Hidden activation: tanh or relu."""
  initial_log_std: float = 0.0
  """Continuous actions: starting log standard deviation of the Gaussian."""
  reward_scale: float = 1.0
  """Rewards are multiplied by this before the losses (returns are logged unscaled)."""

  # Fields that set shapes or Python control flow: they cannot be vmapped.
  STATIC_FIELDS = ("num_epochs", "num_minibatches", "anneal_learning_rate",
                   "clip_value_loss", "normalize_advantages", "hidden_sizes",
                   "activation")

  def validate(self, prefix: str = "ppo.") -> None:
    """Raises ConfigError naming the first out-of-range field."""
    config_checks.require_positive_ints(
        self, ("num_epochs", "num_minibatches"), prefix)
    config_checks.require(self, [
        ("learning_rate", self.learning_rate > 0, "> 0"),
        ("adam_eps", self.adam_eps > 0, "> 0"),
        ("max_gradient_norm", self.max_gradient_norm > 0, "> 0"),
        ("discount", 0 <= self.discount <= 1, "in [0, 1]"),
        ("gae_lambda", 0 <= self.gae_lambda <= 1, "in [0, 1]"),
        ("clip_epsilon", self.clip_epsilon > 0, "> 0"),
        ("entropy_coef", self.entropy_coef >= 0, ">= 0"),
        ("value_coef", self.value_coef >= 0, ">= 0"),
        ("reward_scale", self.reward_scale > 0, "> 0"),
        ("activation", self.activation in ("tanh", "relu"), "tanh or relu"),
        ("hidden_sizes", len(self.hidden_sizes) > 0 and
         all(h > 0 for h in self.hidden_sizes), "non-empty and positive"),
    ], prefix)


# The runner settings PPO asks for when the user gives none: PureJaxRL's
# CartPole setting of 4 environments x 128 steps per rollout.
RUNNER_DEFAULTS: dict[str, Any] = dict(num_envs=4, rollout_length=128)

# Settings that differ from the defaults, per environment id: the agent's
# and the runner's. Pendulum needs a short horizon, more epochs and scaled
# rewards (in the spirit of the RL Baselines Zoo settings for PPO on
# Pendulum-v1).
PRESETS: dict[str, agent_lib.Preset] = {
    # Many short rollouts and many small minibatches (80 gradient steps of
    # 32 per 256 env steps), in the spirit of the RL Baselines Zoo's tuned
    # CartPole PPO, and no value clipping (stable-baselines3's default: with
    # returns up to ~50, a +-0.2 clip on each update's value change slows
    # the critic). All on the accelerator, 16 seeds: 475 after 9k-24k steps
    # (median 12k); with value clipping and 4 minibatches 15k-36k (median
    # 26k); with the PureJaxRL settings 110k-170k.
    "CartPole-v1": agent_lib.Preset(
        agent=dict(num_epochs=10, num_minibatches=8, learning_rate=1e-3,
                   discount=0.98, gae_lambda=0.8, entropy_coef=0.0,
                   clip_value_loss=False),
        runner=dict(num_envs=8, rollout_length=32)),
    "Pendulum-v1": agent_lib.Preset(
        agent=dict(num_epochs=10, num_minibatches=8, learning_rate=1e-3,
                   discount=0.9, gae_lambda=0.95, entropy_coef=0.0,
                   reward_scale=0.1, max_gradient_norm=0.5),
        runner=dict(num_envs=16, rollout_length=128)),
}
