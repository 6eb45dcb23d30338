"""TD3 as an `Agent`: the shared off-policy actor-critic learner
(building_blocks/actor_critic.py) with TD3's networks, losses, Gaussian
exploration and a policy update every `policy_update_period` critic
updates."""
from __future__ import annotations

import chex

from agents.td3 import config as config_lib
from agents.td3 import losses
from agents.td3 import networks as networks_lib
from building_blocks import actor_critic
from building_blocks import agent as agent_lib
from building_blocks import specs


def make_agent(config: config_lib.TD3Config, spec: specs.EnvironmentSpec,
               run: agent_lib.RunInfo) -> agent_lib.Agent:
  """TD3 for `spec`'s bounded continuous actions."""
  networks = networks_lib.make_networks(spec, config)

  def critic(critic_params, state: actor_critic.ActorCriticState,
             transitions, weights, key):
    return losses.critic_loss(
        networks, critic_params, state.target_policy_params,
        state.target_critic_params, transitions, weights, key,
        config.target_noise, config.target_noise_clip)

  def policy(policy_params, state: actor_critic.ActorCriticState,
             transitions, key):
    del key  # deterministic
    return losses.policy_loss(networks, policy_params, state.critic_params,
                              transitions)

  def select_action(params, key: chex.PRNGKey, observation: chex.Array,
                    evaluation: bool) -> chex.Array:
    """pi(s), plus clipped Gaussian noise while training."""
    action = networks.policy_apply(params, observation)
    if evaluation:
      return action
    return actor_critic.gaussian_exploration(action, key,
                                             config.exploration_noise)

  return actor_critic.make_actor_critic_agent(
      config, spec, networks,
      actor_critic.ActorCriticLosses(critic=critic, policy=policy),
      select_action, num_envs=run.num_envs,
      policy_update_period=config.policy_update_period)
