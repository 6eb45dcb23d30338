"""DQN as an `Agent`: the shared value-based learner with DQN's network and
loss (building_blocks/value_based.py holds the policy, update and replay
description every value-based agent shares)."""
from __future__ import annotations

import functools

from agents.dqn import config as config_lib
from agents.dqn import losses
from agents.dqn import networks
from building_blocks import agent as agent_lib
from building_blocks import specs
from building_blocks import value_based


def make_agent(config: config_lib.DQNConfig, spec: specs.EnvironmentSpec,
               run: agent_lib.RunInfo) -> agent_lib.Agent:
  """Double DQN with n-step returns and (optionally) prioritized replay."""
  del run  # DQN's schedules count environment steps, whatever the runner.
  loss = functools.partial(losses.double_q_loss,
                           huber_delta=config.huber_loss_parameter)
  return value_based.make_value_based_agent(
      config, spec, networks.make_network(spec, config), loss)
