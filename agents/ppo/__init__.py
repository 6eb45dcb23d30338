"""PPO (Schulman et al., 2017) for discrete and continuous actions.

The loss is in `losses.py`, the update in `learning.py`."""
from agents.ppo.config import PPOConfig

__all__ = ["PPOConfig"]
