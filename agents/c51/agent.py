"""C51 as an `Agent`: the shared value-based learner with C51's network and
loss (building_blocks/value_based.py holds the policy, update and replay
description every value-based agent shares)."""
from __future__ import annotations

import functools

from agents.c51 import config as config_lib
from agents.c51 import losses
from agents.c51 import networks
from building_blocks import agent as agent_lib
from building_blocks import specs
from building_blocks import value_based


def make_agent(config: config_lib.C51Config, spec: specs.EnvironmentSpec,
               run: agent_lib.RunInfo) -> agent_lib.Agent:
  """Categorical DQN with n-step returns and (optionally) prioritized
  replay."""
  del run  # C51's schedules count environment steps, whatever the runner.
  network = networks.make_network(spec, config)
  config_lib.check_support_fits_rewards(config.v_min, config.v_max, spec,
                                        "c51.")
  loss = functools.partial(
      losses.categorical_loss,
      atoms=networks.make_atoms(config.num_atoms, config.v_min, config.v_max),
      double_q=config.double_q)
  return value_based.make_value_based_agent(config, spec, network, loss)
