"""PQN (Gallici et al., 2024, "Simplifying Deep Temporal Difference
Learning"): Q(lambda) from rollouts of vectorised environments, with layer
normalisation and without a replay buffer or a target network.

Runners: anakin (everything in one compiled program: PQN's point, and
where it is fastest) and single (`--num-envs` gymnasium environments; every
rollout is learned from before the next one is collected). Not distributed:
there actors act with parameters several updates old and send rollouts
through a replay server, which is what PQN does away with (the registry in
agents/__init__.py gives this reason on the command line).

Read in this order: config.py (hyperparameters, runner defaults, presets),
networks.py (the Q-network with layer normalisation), losses.py (Q(lambda)
returns and the loss), learning.py (the update on a rollout), acting.py
(epsilon-greedy with decay), agent.py (the agent).
"""
from agents.pqn.config import PQNConfig

__all__ = ["PQNConfig"]
