"""D4PG's networks: a deterministic policy pi(s) = tanh(MLP(s)) in
[-1, 1]^D and a categorical critic: logits over the atoms z_1..z_N of the
return distribution Z(s, a) (one MLP on [s, a])."""
from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from agents.d4pg import config as config_lib
from building_blocks import actor_critic
from building_blocks import networks as networks_lib
from building_blocks import specs


def atoms(config: config_lib.D4PGConfig) -> jax.Array:
  """z_i = v_min + i (v_max - v_min) / (N - 1), i = 0..N-1."""
  return jnp.linspace(config.v_min, config.v_max, config.num_atoms,
                      dtype=jnp.float32)


def make_networks(spec: specs.EnvironmentSpec,
                  config: config_lib.D4PGConfig
                  ) -> actor_critic.ActorCriticNetworks:
  """policy_apply(params, obs[B]) -> action[B, D] in [-1, 1];
  critic_apply(params, obs[B], action[B, D]) -> logits [B, num_atoms]."""
  actor_critic.require_continuous_actions(spec, "D4PG")
  action_size = int(np.prod(spec.actions.shape))

  def policy(observation: jax.Array) -> jax.Array:
    features = networks_lib.MLP(config.policy_hidden_sizes)(
        actor_critic.flat_observation(observation))
    return jnp.tanh(hk.Linear(action_size)(features))

  def critic(observation: jax.Array, action: jax.Array) -> jax.Array:
    inputs = jnp.concatenate(
        [actor_critic.flat_observation(observation),
         jnp.reshape(action, (action.shape[0], -1))], axis=-1)
    return hk.Linear(config.num_atoms)(
        networks_lib.MLP(config.critic_hidden_sizes)(inputs))

  policy_net = hk.without_apply_rng(hk.transform(policy))
  critic_net = hk.without_apply_rng(hk.transform(critic))
  return actor_critic.ActorCriticNetworks(
      policy_init=policy_net.init, policy_apply=policy_net.apply,
      critic_init=critic_net.init, critic_apply=critic_net.apply)
