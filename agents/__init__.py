"""Relay's agents, one folder each, and the one registry of them.

`REGISTRY` maps an agent's name (the CLI's --agent) to its `AgentEntry`:
config class, factory `make_agent(config, spec, run) -> Agent`, the runner
settings it wants by default and per-environment presets. Every runner and
the CLI read this registry and nothing else; adding an agent is one folder
and one line here (see building_blocks/agent.py for the contract).
"""
from __future__ import annotations

from agents.dqn import agent as dqn_agent
from agents.dqn.config import DQNConfig
from agents.ppo import agent as ppo_agent
from agents.ppo import config as ppo_config
from building_blocks import agent as agent_lib
from building_blocks import errors

REGISTRY: dict[str, agent_lib.AgentEntry] = {
    "dqn": agent_lib.AgentEntry(
        config_cls=DQNConfig, make_agent=dqn_agent.make_agent,
        # One environment; in the all-on-accelerator runner, 8 steps per
        # rollout (one replay sample of 8 x 32 items per rollout).
        runner_defaults=dict(num_envs=1, rollout_length=8),
        description="Double DQN, n-step, prioritized replay (discrete actions)"),
    "ppo": agent_lib.AgentEntry(
        config_cls=ppo_config.PPOConfig, make_agent=ppo_agent.make_agent,
        runner_defaults=ppo_config.RUNNER_DEFAULTS,
        presets=ppo_config.PRESETS,
        description="PPO with GAE (discrete and continuous actions)"),
}


def get(name: str) -> agent_lib.AgentEntry:
  """The registry entry of `name`, or a clear error listing the agents."""
  try:
    return REGISTRY[name]
  except KeyError:
    raise errors.ConfigError(
        f"Unknown agent {name!r}; choose one of {', '.join(sorted(REGISTRY))}."
    ) from None


def register(name: str, entry: agent_lib.AgentEntry) -> None:
  """Adds an agent defined outside this package (a notebook, a test, your
  own project): every runner and `experiments.config.default_config` then
  know it by `name`."""
  if name in REGISTRY:
    raise errors.ConfigError(f"An agent named {name!r} is registered already.")
  REGISTRY[name] = entry
