"""QR-DQN as an `Agent`: the shared value-based learner with QR-DQN's
network and loss (building_blocks/value_based.py holds the policy, update
and replay description every value-based agent shares)."""
from __future__ import annotations

import functools

from agents.qr_dqn import config as config_lib
from agents.qr_dqn import losses
from agents.qr_dqn import networks
from building_blocks import agent as agent_lib
from building_blocks import specs
from building_blocks import value_based


def make_agent(config: config_lib.QRDQNConfig, spec: specs.EnvironmentSpec,
               run: agent_lib.RunInfo) -> agent_lib.Agent:
  """QR-DQN with n-step returns and (optionally) prioritized replay."""
  del run  # QR-DQN's schedules count environment steps, whatever the runner.
  loss = functools.partial(
      losses.quantile_loss,
      taus=networks.quantile_midpoints(config.num_quantiles),
      huber_param=config.huber_param, double_q=config.double_q)
  return value_based.make_value_based_agent(
      config, spec, networks.make_network(spec, config), loss)
