"""DQN: Double DQN with n-step returns and prioritized replay.

Read in this order: config.py (hyperparameters), networks.py, losses.py
(the loss), agent.py (the agent: the loss and network plugged into the
shared value-based learner, building_blocks/value_based.py).
"""
from agents.dqn.config import DQNConfig

__all__ = ["DQNConfig"]
