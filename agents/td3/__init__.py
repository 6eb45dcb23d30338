"""TD3: Twin Delayed Deep Deterministic policy gradient (Fujimoto et al., 2018).

Read in this order: config.py (hyperparameters and presets), networks.py
(a deterministic tanh policy and twin critics), losses.py (the clipped
double-Q target with target policy smoothing, and the policy loss),
agent.py (the agent: the losses and networks plugged into the shared
off-policy actor-critic learner, building_blocks/actor_critic.py).
"""
from agents.td3.config import TD3Config

__all__ = ["TD3Config"]
