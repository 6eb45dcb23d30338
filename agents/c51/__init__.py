"""C51: categorical DQN (Bellemare et al., 2017) with double-Q action
selection, n-step returns and prioritized replay.

Read in this order: config.py (hyperparameters, and the support checks
Rainbow shares), networks.py (the categorical head and Q = sum_z z p(z)),
losses.py (the loss), agent.py (the agent: the loss and network plugged
into the shared value-based learner, building_blocks/value_based.py).
"""
from agents.c51.config import C51Config

__all__ = ["C51Config"]
