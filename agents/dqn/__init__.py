"""DQN: Double DQN with n-step returns and prioritized replay.

Read in this order: config.py (hyperparameters), networks.py, losses.py
(the loss), learning.py (the jitted update), acting.py (the policy),
builder.py (wiring).
"""
from agents.dqn.builder import DQNBuilder
from agents.dqn.config import DQNConfig

__all__ = ["DQNBuilder", "DQNConfig"]
