"""Rainbow (Hessel et al., 2018): double Q-learning, prioritized replay,
dueling head, n-step returns, the distributional (C51) loss and noisy
layers, each switchable in the config.

Read in this order: config.py (hyperparameters: one switch per component),
networks.py (the noisy, dueling, categorical head; its layers are in
building_blocks/networks.py), losses.py (the loss), agent.py (the agent:
the loss and network plugged into the shared value-based learner,
building_blocks/value_based.py, which gives noisy networks their keys).
"""
from agents.rainbow.config import RainbowConfig

__all__ = ["RainbowConfig"]
