"""SAC's networks: a tanh-squashed Gaussian policy (an MLP giving the mean
and the log standard deviation of u ~ N(mu(s), sigma(s)^2), a = tanh(u)),
twin critics Q_1, Q_2 (two separate MLPs on [s, a]) and the log temperature
log alpha (one learnt scalar)."""
from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from agents.sac import config as config_lib
from building_blocks import actor_critic
from building_blocks import networks as networks_lib
from building_blocks import specs

# log sigma is clipped to this range (as in the authors' code), so that
# the policy neither collapses nor explodes.
MIN_LOG_STD = -5.0
MAX_LOG_STD = 2.0


def make_networks(spec: specs.EnvironmentSpec,
                  config: config_lib.SACConfig
                  ) -> actor_critic.ActorCriticNetworks:
  """policy_apply(params, obs[B]) -> (mean[B, D], log_std[B, D]) of u;
  critic_apply(params, obs[B], action[B, D]) -> [B, 2] (Q_1, Q_2);
  extra_init() -> log alpha, a float32 scalar."""
  actor_critic.require_continuous_actions(spec, "SAC")
  action_size = int(np.prod(spec.actions.shape))

  def policy(observation: jax.Array) -> tuple[jax.Array, jax.Array]:
    features = networks_lib.MLP(config.policy_hidden_sizes)(
        actor_critic.flat_observation(observation))
    mean = hk.Linear(action_size, name="mean")(features)
    log_std = hk.Linear(action_size, name="log_std")(features)
    return mean, jnp.clip(log_std, MIN_LOG_STD, MAX_LOG_STD)

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
      critic_init=critic_net.init, critic_apply=critic_net.apply,
      extra_init=lambda: jnp.log(jnp.asarray(config.initial_temperature,
                                             jnp.float32)))
