"""Relay's agents, one folder each, and the one registry of them.

`REGISTRY` maps an agent's name (the CLI's --agent) to its `AgentEntry`:
config class, factory `make_agent(config, spec, run) -> Agent`, the runner
settings it wants by default and per-environment presets. Every runner and
the CLI read this registry and nothing else; adding an agent is one folder
and one line here (see building_blocks/agent.py for the contract).
"""
from __future__ import annotations

from agents.c51 import agent as c51_agent
from agents.c51 import config as c51_config
from agents.d4pg import agent as d4pg_agent
from agents.d4pg import config as d4pg_config
from agents.dqn import agent as dqn_agent
from agents.dqn.config import DQNConfig
from agents.mdqn import agent as mdqn_agent
from agents.mdqn import config as mdqn_config
from agents.ppo import agent as ppo_agent
from agents.ppo import config as ppo_config
from agents.pqn import agent as pqn_agent
from agents.pqn import config as pqn_config
from agents.qr_dqn import agent as qr_dqn_agent
from agents.qr_dqn import config as qr_dqn_config
from agents.rainbow import agent as rainbow_agent
from agents.rainbow import config as rainbow_config
from agents.sac import agent as sac_agent
from agents.sac import config as sac_config
from agents.td3 import agent as td3_agent
from agents.td3 import config as td3_config
from building_blocks import agent as agent_lib
from building_blocks import errors

REGISTRY: dict[str, agent_lib.AgentEntry] = {
    "c51": agent_lib.AgentEntry(
        config_cls=c51_config.C51Config, make_agent=c51_agent.make_agent,
        # As DQN: one environment; 8 steps per all-on-accelerator rollout.
        runner_defaults=dict(num_envs=1, rollout_length=8),
        description="C51, categorical DQN, n-step, prioritized replay (discrete actions)"),
    "d4pg": agent_lib.AgentEntry(
        config_cls=d4pg_config.D4PGConfig, make_agent=d4pg_agent.make_agent,
        runner_defaults=d4pg_config.RUNNER_DEFAULTS,
        presets=d4pg_config.PRESETS,
        description="D4PG: deterministic policy, categorical critic, n-step "
                    "(continuous actions)"),
    "dqn": agent_lib.AgentEntry(
        config_cls=DQNConfig, make_agent=dqn_agent.make_agent,
        # One environment; in the all-on-accelerator runner, 8 steps per
        # rollout (one replay sample of 8 x 32 items per rollout).
        runner_defaults=dict(num_envs=1, rollout_length=8),
        description="Double DQN, n-step, prioritized replay (discrete actions)"),
    "mdqn": agent_lib.AgentEntry(
        config_cls=mdqn_config.MDQNConfig, make_agent=mdqn_agent.make_agent,
        # As DQN: one environment; 8 steps per all-on-accelerator rollout.
        runner_defaults=dict(num_envs=1, rollout_length=8),
        presets=mdqn_config.PRESETS,
        description="Munchausen DQN, n-step, prioritized replay (discrete actions)"),
    "ppo": agent_lib.AgentEntry(
        config_cls=ppo_config.PPOConfig, make_agent=ppo_agent.make_agent,
        runner_defaults=ppo_config.RUNNER_DEFAULTS,
        presets=ppo_config.PRESETS,
        description="PPO with GAE (discrete and continuous actions)"),
    "pqn": agent_lib.AgentEntry(
        config_cls=pqn_config.PQNConfig, make_agent=pqn_agent.make_agent,
        runner_defaults=pqn_config.RUNNER_DEFAULTS,
        presets=pqn_config.PRESETS,
        runners=("single", "anakin"),
        unsupported_reason=(
            "PQN learns from each rollout of its own vectorised environments "
            "once, right after acting with the newest parameters (no replay "
            "buffer, no target network), while the distributed runner's "
            "actors send rollouts through a replay server and act with "
            "parameters several updates old"),
        description="PQN: Q(lambda), LayerNorm, vectorised envs, no replay "
                    "(discrete actions)"),
    "qr_dqn": agent_lib.AgentEntry(
        config_cls=qr_dqn_config.QRDQNConfig,
        make_agent=qr_dqn_agent.make_agent,
        # As DQN: one environment; 8 steps per all-on-accelerator rollout.
        runner_defaults=dict(num_envs=1, rollout_length=8),
        description="QR-DQN, quantile regression DQN, n-step, prioritized replay (discrete actions)"),
    "rainbow": agent_lib.AgentEntry(
        config_cls=rainbow_config.RainbowConfig,
        make_agent=rainbow_agent.make_agent,
        # As DQN: one environment; 8 steps per all-on-accelerator rollout.
        runner_defaults=dict(num_envs=1, rollout_length=8),
        description="Rainbow: noisy dueling C51, n-step, prioritized replay (discrete actions)"),
    "sac": agent_lib.AgentEntry(
        config_cls=sac_config.SACConfig, make_agent=sac_agent.make_agent,
        runner_defaults=sac_config.RUNNER_DEFAULTS,
        presets=sac_config.PRESETS,
        description="SAC: tanh-Gaussian policy, twin critics, automatic "
                    "temperature (continuous actions)"),
    "td3": agent_lib.AgentEntry(
        config_cls=td3_config.TD3Config, make_agent=td3_agent.make_agent,
        runner_defaults=td3_config.RUNNER_DEFAULTS,
        presets=td3_config.PRESETS,
        description="TD3: twin critics, target smoothing, delayed policy "
                    "updates (continuous actions)"),
}


# The agents this package defines, which `register` will not replace.
BUILT_IN = frozenset(REGISTRY)


def get(name: str) -> agent_lib.AgentEntry:
  """The registry entry of `name`, or a clear error listing the agents."""
  try:
    return REGISTRY[name]
  except KeyError:
    raise errors.ConfigError(
        f"Unknown agent {name!r}; choose one of {', '.join(sorted(REGISTRY))}."
    ) from None


def register(name: str, entry: agent_lib.AgentEntry, *,
             replace: bool = False) -> None:
  """Adds an agent defined outside this package (a notebook, a test, your
  own project): every runner and `experiments.config.default_config` then
  know it by `name`. A name taken already is refused unless `replace`
  (for a notebook cell run again after an edit); a built-in agent's name
  is refused either way."""
  if name in BUILT_IN:
    raise errors.ConfigError(
        f"{name!r} is a built-in agent; register yours under another name.")
  if name in REGISTRY and not replace:
    raise errors.ConfigError(
        f"An agent named {name!r} is registered already; pass replace=True "
        "to swap in the new definition.")
  REGISTRY[name] = entry
