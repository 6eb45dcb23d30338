"""SAC as an `Agent`: the shared off-policy actor-critic learner
(building_blocks/actor_critic.py) with SAC's networks and losses, the log
temperature as its extra parameter, sampled actions while training and
the mean action tanh(mu(s)) in evaluation."""
from __future__ import annotations

import chex
import jax.numpy as jnp
import numpy as np

from agents.sac import config as config_lib
from agents.sac import losses
from agents.sac import networks as networks_lib
from building_blocks import actor_critic
from building_blocks import agent as agent_lib
from building_blocks import specs


def make_agent(config: config_lib.SACConfig, spec: specs.EnvironmentSpec,
               run: agent_lib.RunInfo) -> agent_lib.Agent:
  """SAC for `spec`'s bounded continuous actions."""
  networks = networks_lib.make_networks(spec, config)
  target_entropy = config.target_entropy
  if target_entropy is None:
    target_entropy = -float(np.prod(spec.actions.shape))

  def critic(critic_params, state: actor_critic.ActorCriticState,
             transitions, weights, key):
    return losses.critic_loss(
        networks, critic_params, state.params.policy,
        state.target_critic_params, state.extra_params, transitions, weights,
        key, config.log_prob_epsilon)

  def policy(policy_params, state: actor_critic.ActorCriticState,
             transitions, key):
    return losses.policy_loss(networks, policy_params, state.critic_params,
                              state.extra_params, transitions, key,
                              config.log_prob_epsilon)

  def temperature(log_alpha, state: actor_critic.ActorCriticState,
                  transitions, key):
    mean, log_std = networks.policy_apply(state.params.policy,
                                          transitions.observation)
    _, log_prob = losses.sample_and_log_prob(mean, log_std, key,
                                             config.log_prob_epsilon)
    return losses.temperature_loss(log_alpha, log_prob, target_entropy)

  def select_action(params, key: chex.PRNGKey, observation: chex.Array,
                    evaluation: bool) -> chex.Array:
    """a ~ pi(.|s) while training; tanh(mu(s)) in evaluation."""
    mean, log_std = networks.policy_apply(params, observation)
    if evaluation:
      return jnp.tanh(mean)
    return losses.tanh_gaussian(mean, log_std).sample(seed=key)

  return actor_critic.make_actor_critic_agent(
      config, spec, networks,
      actor_critic.ActorCriticLosses(critic=critic, policy=policy,
                                     extra=temperature),
      select_action, num_envs=run.num_envs, uses_target_policy=False,
      extra_learning_rate=config.temperature_learning_rate)
