"""PPO as an `Agent`: actor-critic networks, the batched policy, and an
update that consumes one on-policy rollout (GAE, then epochs x minibatches
of the clipped loss)."""
from __future__ import annotations

import numpy as np

from agents.ppo import acting
from agents.ppo import config as config_lib
from agents.ppo import learning
from agents.ppo import networks as networks_lib
from building_blocks import agent as agent_lib
from building_blocks import errors
from building_blocks import optimizers
from building_blocks import specs


def make_agent(config: config_lib.PPOConfig, spec: specs.EnvironmentSpec,
               run: agent_lib.RunInfo) -> agent_lib.Agent:
  """PPO for `spec`; with annealing, the step size falls to 0 over the
  run's `run.num_rollouts` updates."""
  batch = run.num_envs * run.rollout_length
  if batch % config.num_minibatches:
    raise errors.ConfigError(
        f"num_envs x rollout_length ({run.num_envs} x {run.rollout_length} = "
        f"{batch}) must split into ppo.num_minibatches "
        f"({config.num_minibatches}) equal minibatches; change one of them.")
  network = networks_lib.make_networks(spec, config)
  optimizer = optimizers.rollout_optimizer(config, run.num_rollouts)
  observation = np.zeros((1,) + spec.observations.shape,
                         spec.observations.dtype)

  def init(key):
    params = network.init(key, observation)
    return learning.PPOState(params, optimizer.init(params))

  return agent_lib.Agent(
      init=init, policy=acting.make_policy(network),
      update=learning.make_update_fn(network, optimizer, config),
      replay=agent_lib.ReplaySpec(kind="rollouts"))
