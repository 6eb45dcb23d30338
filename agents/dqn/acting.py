"""DQN's policies as pure functions: epsilon-greedy over Q(s, .)."""
from __future__ import annotations

from typing import Callable

import chex
import jax
import jax.numpy as jnp
import optax
import rlax

from agents.dqn import config as config_lib
from building_blocks import networks as networks_lib


def make_policy(network: networks_lib.FeedForwardNetwork,
                config: config_lib.DQNConfig, evaluation: bool = False
                ) -> Callable:
  """policy(params, key, observation, actor_step) -> action.

  epsilon(t) decays linearly from `epsilon_start` to `epsilon_end` over
  `epsilon_decay_steps` actor steps; evaluation uses `evaluation_epsilon`.
  """
  schedule = optax.linear_schedule(config.epsilon_start, config.epsilon_end,
                                   config.epsilon_decay_steps)

  def policy(params, key: chex.PRNGKey, observation: chex.Array,
             actor_step: chex.Array) -> chex.Array:
    q_values = network.apply(params, observation[None])[0]
    epsilon = (config.evaluation_epsilon if evaluation
               else schedule(actor_step))
    return rlax.epsilon_greedy(epsilon).sample(key, q_values).astype(jnp.int32)

  return policy


def epsilon_at(config: config_lib.DQNConfig, actor_step: int) -> float:
  """The exploration rate the training policy uses at `actor_step`."""
  schedule = optax.linear_schedule(config.epsilon_start, config.epsilon_end,
                                   config.epsilon_decay_steps)
  return float(jax.device_get(schedule(actor_step)))
