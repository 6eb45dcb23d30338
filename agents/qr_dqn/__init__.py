"""QR-DQN: quantile-regression DQN (Dabney et al., 2018) with double-Q
action selection, n-step returns and prioritized replay.

Read in this order: config.py (hyperparameters), networks.py (the quantile
head and Q = mean of the quantiles), losses.py (the quantile Huber loss),
agent.py (the agent: the loss and network plugged into the shared
value-based learner, building_blocks/value_based.py).
"""
from agents.qr_dqn.config import QRDQNConfig

__all__ = ["QRDQNConfig"]
