"""PPO's policy as one pure function on batches of observations."""
from __future__ import annotations

from typing import Callable

import chex
import jax.numpy as jnp

from agents.ppo import networks as networks_lib


def make_policy(network: networks_lib.ActorCriticNetwork) -> Callable:
  """policy(params, key, obs[B], step, evaluation) -> (action[B], extras).

  Training: samples a ~ pi(.|s) and returns {"log_prob"} of the sample
  for the update's probability ratio (the update computes values itself,
  with the parameters it updates); continuous actions are returned
  unclipped (the environment clips them) so that log_prob matches the
  sample. Evaluation: the mode of
  pi(.|s) (argmax of the logits, or the Gaussian's mean) and no extras.
  """

  def policy(params, key: chex.PRNGKey, observation: chex.Array,
             step: chex.Array, evaluation: bool = False):
    del step  # PPO's policy has no schedule
    policy_params, _ = network.apply(params, observation)
    if evaluation:
      if network.discrete:
        return jnp.argmax(policy_params, axis=-1).astype(jnp.int32), {}
      return policy_params[0], {}
    distribution = network.distribution(policy_params)
    action, log_prob = distribution.sample_and_log_prob(seed=key)
    if network.discrete:
      action = action.astype(jnp.int32)
    return action, {"log_prob": log_prob}

  return policy
