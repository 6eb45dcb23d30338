"""Relay's agents, one folder each. `AGENTS` maps a CLI name to
(config class, builder class)."""
from agents.dqn import DQNBuilder, DQNConfig

AGENTS = {"dqn": (DQNConfig, DQNBuilder)}
