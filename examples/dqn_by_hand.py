"""Build DQN's pieces by hand and run them: environment, Reverb tables,
adder, learner, actor and an EnvironmentLoop (what the runner wires).

  python examples/dqn_by_hand.py --episodes 150
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import numpy as np

from agents.dqn import DQNBuilder, DQNConfig
from building_blocks import counting, environment_loop
from envs import make_environment, make_environment_spec
from experiments.single_process import LearningActor
from replay.server import ReplayServer


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--episodes", type=int, default=150)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()

  builder = DQNBuilder(DQNConfig())
  env = make_environment("CartPole-v1", seed=args.seed)
  spec = make_environment_spec(env)
  networks = builder.make_networks(spec)
  # Single thread: inserts must not block (the learner runs after them).
  server = ReplayServer(builder.make_replay_tables(spec, block_inserts=False))
  try:
    keys = jax.random.split(jax.random.PRNGKey(args.seed))
    iterator = builder.make_dataset_iterator(server)
    learner = builder.make_learner(networks, iterator, server, spec, keys[0])
    adder = builder.make_adder(server, learner)
    actor = builder.make_actor(networks, learner, keys[1], adder=adder)
    counter = counting.Counter()
    loop = environment_loop.EnvironmentLoop(
        env, LearningActor(actor, learner, iterator, counter), counter)
    returns = []
    for episode in range(args.episodes):
      returns.append(loop.run_episode()["episode_return"])
      if (episode + 1) % 10 == 0:
        print(f"episode {episode + 1}: steps {counter.get('actor_steps')}, "
              f"learner steps {counter.get('learner_steps')}, mean return of "
              f"the last 10 {np.mean(returns[-10:]):.1f}", flush=True)
  finally:
    server.stop()


if __name__ == "__main__":
  main()
