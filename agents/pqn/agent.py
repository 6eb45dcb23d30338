"""PQN as an `Agent`: a layer-normalised Q-network, epsilon-greedy acting,
and an update that consumes one rollout of vectorised environments
(Q(lambda) targets, then epochs x minibatches of gradient steps). Replay
kind "rollouts": no replay buffer, no target network."""
from __future__ import annotations

import numpy as np

from agents.pqn import acting
from agents.pqn import config as config_lib
from agents.pqn import learning
from agents.pqn import networks as networks_lib
from building_blocks import agent as agent_lib
from building_blocks import errors
from building_blocks import optimizers
from building_blocks import specs


def make_agent(config: config_lib.PQNConfig, spec: specs.EnvironmentSpec,
               run: agent_lib.RunInfo) -> agent_lib.Agent:
  """PQN for `spec` (discrete actions) and the run's `num_envs` x
  `rollout_length` rollouts; with annealing, the step size falls to 0 over
  the run's `run.num_rollouts` updates."""
  network = networks_lib.make_network(spec, config.hidden_sizes,
                                      config.layer_norm)
  batch = run.num_envs * run.rollout_length
  if batch % config.num_minibatches:
    raise errors.ConfigError(
        f"num_envs x rollout_length ({run.num_envs} x {run.rollout_length} = "
        f"{batch}) must split into pqn.num_minibatches "
        f"({config.num_minibatches}) equal minibatches; change --num-envs, "
        "--rollout-length or --pqn.num-minibatches.")
  optimizer = optimizers.rollout_optimizer(config, run.num_rollouts)
  observation = np.zeros((1,) + spec.observations.shape,
                         spec.observations.dtype)

  def init(key):
    params = network.init(key, observation)
    return learning.PQNState(params, optimizer.init(params))

  return agent_lib.Agent(
      init=init, policy=acting.make_policy(network, config),
      update=learning.make_update_fn(network, optimizer, config),
      replay=agent_lib.ReplaySpec(kind="rollouts"))
