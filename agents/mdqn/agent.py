"""M-DQN as an `Agent`: the shared value-based learner (epsilon-greedy
acting, prioritized replay, target network, several SGD steps per sample;
building_blocks/value_based.py) with the Munchausen loss."""
from __future__ import annotations

import functools

from agents.mdqn import config as config_lib
from agents.mdqn import losses
from agents.mdqn import networks
from building_blocks import agent as agent_lib
from building_blocks import specs
from building_blocks import value_based


def make_agent(config: config_lib.MDQNConfig, spec: specs.EnvironmentSpec,
               run: agent_lib.RunInfo) -> agent_lib.Agent:
  """Munchausen DQN with n-step transitions and (optionally) prioritized
  replay."""
  del run  # the schedules count environment steps, whatever the runner
  loss = functools.partial(
      losses.munchausen_loss, tau=config.tau, alpha=config.alpha,
      l0=config.l0, huber_delta=config.huber_loss_parameter)
  return value_based.make_value_based_agent(
      config, spec, networks.make_network(spec, config), loss)
