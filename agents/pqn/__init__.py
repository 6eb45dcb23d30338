"""PQN (Gallici et al., 2024, "Simplifying Deep Temporal Difference
Learning"): Q(lambda) from rollouts of vectorised environments, with layer
normalisation and without a replay buffer or a target network.

Read in this order: config.py (hyperparameters, runner defaults, presets),
networks.py (the Q-network with layer normalisation), losses.py (Q(lambda)
returns and the loss), learning.py (the update on a rollout), acting.py
(epsilon-greedy with decay), agent.py (the agent).
"""
from agents.pqn.config import PQNConfig

__all__ = ["PQNConfig"]
