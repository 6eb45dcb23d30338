"""PPO as an `AnakinSystem`: the same networks, losses and update the
other runners use, wired for the all-on-accelerator runner."""
from __future__ import annotations

import numpy as np

from agents.ppo import acting
from agents.ppo import config as config_lib
from agents.ppo import learning
from agents.ppo import networks as networks_lib
from building_blocks import anakin
from building_blocks import specs


def make_system(config: config_lib.PPOConfig, spec: specs.EnvironmentSpec,
                num_iterations: int) -> anakin.AnakinSystem:
  """PPO for `spec`, annealing its step size over `num_iterations` rollouts."""
  network = networks_lib.make_networks(spec, config)
  optimizer = learning.make_optimizer(config, num_iterations)
  update = learning.make_update_fn(network, optimizer, config)
  policy = acting.make_policy(network)
  greedy = acting.make_greedy_policy(network)
  observation_example = np.zeros((1,) + spec.observations.shape,
                                 spec.observations.dtype)

  def init(key):
    params = network.init(key, observation_example)
    return learning.PPOState(params, optimizer.init(params))

  def act(state, key, observation):
    return policy(state.params, key, observation)

  def learn(state, rollout: anakin.Rollout, key):
    batch = learning.make_batch(
        network, config, state.params, rollout.observation, rollout.action,
        rollout.reward, rollout.terminated, rollout.truncated,
        rollout.final_observation, rollout.last_observation,
        rollout.extras["log_prob"], rollout.extras["value"])
    return update(state, batch, key)

  def evaluation_act(state, key, observation):
    return greedy(state.params, key, observation)

  return anakin.AnakinSystem(init=init, act=act, learn=learn,
                             evaluation_act=evaluation_act,
                             num_envs=config.num_envs,
                             rollout_length=config.rollout_length)
