"""Rainbow as an `Agent`: the shared value-based learner with Rainbow's
network and loss (building_blocks/value_based.py holds the policy, update
and replay description every value-based agent shares; n-step returns and
prioritized replay are its `n_step` and `prioritized` settings)."""
from __future__ import annotations

import functools

from agents.c51 import config as c51_config
from agents.c51 import networks as c51_networks
from agents.rainbow import config as config_lib
from agents.rainbow import losses
from agents.rainbow import networks
from building_blocks import agent as agent_lib
from building_blocks import specs
from building_blocks import value_based


def make_agent(config: config_lib.RainbowConfig, spec: specs.EnvironmentSpec,
               run: agent_lib.RunInfo) -> agent_lib.Agent:
  """Rainbow, with each component as its config says."""
  del run  # Rainbow's schedules count environment steps, whatever the runner.
  config = config.resolved()
  network = networks.make_network(spec, config)
  atoms = None
  if config.distributional:
    c51_config.check_support_fits_rewards(config.v_min, config.v_max, spec,
                                          "rainbow.")
    atoms = c51_networks.make_atoms(config.num_atoms, config.v_min,
                                    config.v_max)
  loss = functools.partial(losses.rainbow_loss, atoms=atoms,
                           huber_delta=config.huber_loss_parameter)
  return value_based.make_value_based_agent(config, spec, network, loss)
