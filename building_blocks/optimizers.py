"""The optimisers the agents share: Adam after global-norm gradient
clipping, with an optional linear decay of the step size to 0."""
from __future__ import annotations

from typing import Any

import optax


def clipped_adam(learning_rate: float, max_gradient_norm: float,
                 adam_eps: float, decay_steps: int | None = None
                 ) -> optax.GradientTransformation:
  """Global-norm clipping, then Adam (Kingma & Ba, 2015). With
  `decay_steps`, the step size falls linearly from `learning_rate` to 0
  over that many gradient steps."""
  schedule: Any = learning_rate
  if decay_steps is not None:
    schedule = optax.linear_schedule(learning_rate, 0.0, decay_steps)
  return optax.chain(optax.clip_by_global_norm(max_gradient_norm),
                     optax.adam(schedule, eps=adam_eps))


def rollout_optimizer(config: Any, num_updates: int
                      ) -> optax.GradientTransformation:
  """`clipped_adam` for an agent that learns from rollouts in num_epochs x
  num_minibatches gradient steps each (PPO, PQN): with
  `config.anneal_learning_rate` the step size falls to 0 over the
  `num_updates` rollouts of the run."""
  decay_steps = (num_updates * config.num_epochs * config.num_minibatches
                 if config.anneal_learning_rate else None)
  return clipped_adam(config.learning_rate, config.max_gradient_norm,
                      config.adam_eps, decay_steps)
