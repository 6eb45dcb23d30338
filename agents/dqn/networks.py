"""DQN's network: an MLP torso and a Q-value head, Q(s, .) in R^A."""
from __future__ import annotations

from building_blocks import errors
from building_blocks import networks as networks_lib
from building_blocks import specs
from agents.dqn import config as config_lib


def check_environment(spec: specs.EnvironmentSpec, env_id: str = "") -> None:
  """DQN needs one discrete action; raise a clear error otherwise."""
  if not specs.is_discrete(spec.actions):
    raise errors.IncompatibleEnvironmentError(
        f"DQN needs a discrete action space, but {env_id or 'this environment'}"
        f" has actions {spec.actions!r}. Pick an environment with discrete "
        "actions (e.g. CartPole-v1, Acrobot-v1) or an agent for continuous "
        "control.")


def make_networks(spec: specs.EnvironmentSpec,
                  config: config_lib.DQNConfig) -> networks_lib.FeedForwardNetwork:
  """The Q-network for `spec`'s actions."""
  check_environment(spec)
  return networks_lib.make_q_network(spec.actions.num_values,
                                     config.hidden_sizes)
