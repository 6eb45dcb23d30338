"""M-DQN's network: an MLP torso and a Q-value head, Q(s, .) in R^A (the
same network as DQN's; the policy pi = softmax(Q / tau) is derived from it
in the loss)."""
from __future__ import annotations

from agents.mdqn import config as config_lib
from building_blocks import networks as networks_lib
from building_blocks import specs
from building_blocks import value_based


def make_network(spec: specs.EnvironmentSpec,
                 config: config_lib.MDQNConfig) -> value_based.ValueNetwork:
  """The Q-network for `spec`'s actions; the head output is Q itself."""
  value_based.require_discrete_actions(spec, "M-DQN")
  q_network = networks_lib.make_q_network(spec.actions.num_values,
                                          config.hidden_sizes)
  return value_based.ValueNetwork(init=q_network.init, apply=q_network.apply,
                                  q_values=lambda q: q)
