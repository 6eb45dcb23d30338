"""Rainbow's network: an MLP torso and a head whose layers are noisy
(`noisy`), split into value and advantage streams (`dueling`), with logits
over atoms per action (`distributional`: Q = sum_z z p(z)) or one Q-value
per action. The dueling combination is applied to the logits, atom by atom
(Hessel et al., 2018, section 3)."""
from __future__ import annotations

from agents.c51 import networks as c51_networks
from agents.rainbow import config as config_lib
from building_blocks import networks as networks_lib
from building_blocks import specs
from building_blocks import value_based


def make_network(spec: specs.EnvironmentSpec,
                 config: config_lib.RainbowConfig) -> value_based.ValueNetwork:
  """Rainbow's network for `spec`'s actions: head output logits [B, A, K]
  (distributional) or Q [B, A]; stochastic (takes a key) when noisy."""
  value_based.require_discrete_actions(spec, "Rainbow")
  network = networks_lib.make_value_network(
      spec.actions.num_values, config.hidden_sizes,
      num_outputs=config.num_atoms if config.distributional else None,
      dueling=config.dueling, noisy=config.noisy,
      sigma_0=config.noisy_sigma_0)
  if config.distributional:
    atoms = c51_networks.make_atoms(config.num_atoms, config.v_min,
                                    config.v_max)
    q_values = lambda logits: c51_networks.expected_q_values(logits, atoms)  # pylint: disable=unnecessary-lambda-assignment
  else:
    q_values = lambda q: q  # pylint: disable=unnecessary-lambda-assignment
  return value_based.ValueNetwork(init=network.init, apply=network.apply,
                                  q_values=q_values, stochastic=config.noisy)
