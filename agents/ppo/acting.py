"""PPO's policies as pure functions on batches of observations."""
from __future__ import annotations

from typing import Callable

import chex
import jax.numpy as jnp

from agents.ppo import networks as networks_lib


def make_policy(network: networks_lib.ActorCriticNetwork) -> Callable:
  """policy(params, key, obs[B]) -> (action[B], {"log_prob", "value"}).

  Samples a ~ pi(.|s); continuous actions are returned unclipped (the
  environment clips them) so that log_prob matches the sample.
  """

  def policy(params, key: chex.PRNGKey, observation: chex.Array):
    policy_params, value = network.apply(params, observation)
    distribution = network.distribution(policy_params)
    action, log_prob = distribution.sample_and_log_prob(seed=key)
    if network.discrete:
      action = action.astype(jnp.int32)
    return action, {"log_prob": log_prob, "value": value}

  return policy


def make_greedy_policy(network: networks_lib.ActorCriticNetwork) -> Callable:
  """policy(params, key, obs[B]) -> action[B]: the mode of pi(.|s)."""

  def policy(params, key: chex.PRNGKey, observation: chex.Array):
    del key
    policy_params, _ = network.apply(params, observation)
    if network.discrete:
      return jnp.argmax(policy_params, axis=-1).astype(jnp.int32)
    return policy_params[0]

  return policy
