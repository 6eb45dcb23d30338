"""D4PG: Distributed Distributional Deterministic Policy Gradients
(Barth-Maron et al., 2018), here without the distributed actors.

Read in this order: config.py (hyperparameters, the critic's atoms, and
presets), networks.py (a deterministic tanh policy and a categorical
critic), losses.py (the projected distributional target, the critic's
cross-entropy and the policy loss), agent.py (the agent: the losses and
networks plugged into the shared off-policy actor-critic learner,
building_blocks/actor_critic.py).
"""
from agents.d4pg.config import D4PGConfig

__all__ = ["D4PGConfig"]
