"""PPO (Schulman et al., 2017) for discrete and continuous actions.

Read in this order: config.py (hyperparameters and presets), networks.py,
losses.py (GAE and the clipped loss), learning.py (the update on a rollout),
acting.py (the policy), agent.py (the agent).
"""
from agents.ppo.config import PPOConfig

__all__ = ["PPOConfig"]
