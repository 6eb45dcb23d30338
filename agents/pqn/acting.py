"""PQN's policy: epsilon-greedy on the Q-network, with epsilon decaying
linearly over environment steps; greedy (evaluation_epsilon) for
evaluation."""
from __future__ import annotations

from typing import Callable

import chex
import jax
import jax.numpy as jnp
import optax

from agents.pqn import config as config_lib
from building_blocks import networks as networks_lib


def epsilon_schedule(config: config_lib.PQNConfig) -> optax.Schedule:
  """epsilon(t): linear from epsilon_start to epsilon_end over
  epsilon_decay_steps environment steps (all environments together), then
  constant."""
  return optax.linear_schedule(config.epsilon_start, config.epsilon_end,
                               config.epsilon_decay_steps)


def epsilon_greedy(key: chex.PRNGKey, q_values: chex.Array,
                   epsilon: chex.Numeric) -> chex.Array:
  """a_i = a uniformly random action with probability epsilon, else
  argmax_a Q(s_i, a) (the first maximiser), for a batch q_values [B, A]:
  the epsilon-greedy distribution (1 - eps) [a = argmax] + eps / A, sampled
  with one uniform and one random action per row rather than rlax's
  (distrax's) categorical over the mixed probabilities, which compiles to
  fewer operations."""
  chex.assert_rank(q_values, 2)
  batch, num_actions = q_values.shape
  explore_key, action_key = jax.random.split(key)
  explore = jax.random.uniform(explore_key, (batch,)) < epsilon
  random_action = jax.random.randint(action_key, (batch,), 0, num_actions)
  greedy = jnp.argmax(q_values, axis=-1)
  return jnp.where(explore, random_action, greedy).astype(jnp.int32)


def make_policy(network: networks_lib.FeedForwardNetwork,
                config: config_lib.PQNConfig) -> Callable:
  """policy(params, key, obs[B], step, evaluation) -> (action[B], {})."""
  epsilon = epsilon_schedule(config)

  def policy(params, key: chex.PRNGKey, observation: chex.Array,
             step: chex.Array, evaluation: bool = False):
    q_values = network.apply(params, observation)
    chex.assert_rank(q_values, 2)
    if evaluation:
      eps = config.evaluation_epsilon
      if isinstance(eps, (int, float)) and eps == 0:  # greedy: no sampling
        return jnp.argmax(q_values, axis=-1).astype(jnp.int32), {}
    else:
      eps = epsilon(step)
    return epsilon_greedy(key, q_values, eps), {}

  return policy
