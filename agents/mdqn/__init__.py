"""Munchausen DQN (Vieillard, Pietquin and Geist, 2020, "Munchausen
Reinforcement Learning") on the shared value-based learner.

Read in this order: config.py (hyperparameters and presets), networks.py,
losses.py (the Munchausen target and the loss; how the bonus meets n-step
transitions), agent.py (the agent: the loss and network plugged into the
shared value-based learner, building_blocks/value_based.py).
"""
from agents.mdqn.config import MDQNConfig

__all__ = ["MDQNConfig"]
