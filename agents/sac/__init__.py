"""SAC: Soft Actor-Critic with automatic temperature (Haarnoja et al., 2018,
"Soft Actor-Critic Algorithms and Applications").

Read in this order: config.py (hyperparameters and presets), networks.py
(a tanh-squashed Gaussian policy, twin critics, the log temperature),
losses.py (the tanh-Gaussian log-probability, the soft critic, policy and
temperature losses), agent.py (the agent: the losses and networks plugged
into the shared off-policy actor-critic learner,
building_blocks/actor_critic.py).
"""
from agents.sac.config import SACConfig

__all__ = ["SACConfig"]
