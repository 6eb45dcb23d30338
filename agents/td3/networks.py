"""TD3's networks: a deterministic policy pi(s) = tanh(MLP(s)) in [-1, 1]^D
and twin critics Q_1, Q_2 (two separate MLPs on [s, a])."""
from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from agents.td3 import config as config_lib
from building_blocks import actor_critic
from building_blocks import networks as networks_lib
from building_blocks import specs


def make_networks(spec: specs.EnvironmentSpec,
                  config: config_lib.TD3Config
                  ) -> actor_critic.ActorCriticNetworks:
  """policy_apply(params, obs[B]) -> action[B, D] in [-1, 1];
  critic_apply(params, obs[B], action[B, D]) -> [B, 2] (Q_1, Q_2)."""
  actor_critic.require_continuous_actions(spec, "TD3")
  action_size = int(np.prod(spec.actions.shape))

  def policy(observation: jax.Array) -> jax.Array:
    features = networks_lib.MLP(config.policy_hidden_sizes)(
        actor_critic.flat_observation(observation))
    return jnp.tanh(hk.Linear(action_size)(features))

  def critic(observation: jax.Array, action: jax.Array) -> jax.Array:
    inputs = jnp.concatenate(
        [actor_critic.flat_observation(observation),
         jnp.reshape(action, (action.shape[0], -1))], axis=-1)
    values = [hk.Linear(1)(networks_lib.MLP(config.critic_hidden_sizes)(inputs))
              for _ in range(2)]
    return jnp.concatenate(values, axis=-1)

  policy_net = hk.without_apply_rng(hk.transform(policy))
  critic_net = hk.without_apply_rng(hk.transform(critic))
  return actor_critic.ActorCriticNetworks(
      policy_init=policy_net.init, policy_apply=policy_net.apply,
      critic_init=critic_net.init, critic_apply=critic_net.apply)
