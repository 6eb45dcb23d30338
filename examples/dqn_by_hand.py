"""Build DQN's pieces by hand and run them: the environment, the agent (pure
functions), replay (Reverb when installed, else device memory), the adder,
the learner and the actor, in a plain loop: what the single-process runner
wires, without its logging and checkpoints.

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

from agents.dqn import DQNConfig
from agents.dqn.agent import make_agent
from building_blocks import actor as actor_lib
from building_blocks import agent as agent_lib
from building_blocks import learner as learner_lib
from building_blocks import optional_deps
from envs import make_environment, make_environment_spec
from replay import backends
from replay import vector_adders


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--episodes", type=int, default=150)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()

  env = make_environment("CartPole-v1", seed=args.seed)
  spec = make_environment_spec(env)
  agent = make_agent(DQNConfig(), spec, agent_lib.RunInfo(1, 1, 50_000))
  backend = optional_deps.resolve_replay_backend("auto")
  replay = backends.make_replay(
      agent.replay, vector_adders.example_item(agent, spec, 1, 1), backend,
      checkpoint_dir=None, key=jax.random.PRNGKey(args.seed + 1))
  print(f"replay: {replay.description}")
  adder = vector_adders.make_adder(agent.replay, 1, 1, replay.insert)
  keys = jax.random.split(jax.random.PRNGKey(args.seed))
  learner = learner_lib.Learner(agent, replay, keys[0])
  actor = actor_lib.Actor(agent.policy, keys[1])
  steps, learner_steps, returns = 0, 0, []
  try:
    for episode in range(args.episodes):
      timestep = env.reset()
      adder.start([timestep])
      total = 0.0
      while not timestep.last():
        action, extras = actor.select(learner.params,
                                      timestep.observation[None], steps)
        timestep = env.step(action[0])
        adder.add(action, extras, [timestep], [None])
        steps += 1
        total += float(timestep.reward)
        while replay.ready():  # one update per batch the rate limit allows
          learner.step()
          learner_steps += 1
      returns.append(total)
      if (episode + 1) % 10 == 0:
        print(f"episode {episode + 1}: steps {steps}, learner steps "
              f"{learner_steps}, mean return of the last 10 "
              f"{np.mean(returns[-10:]):.1f}", flush=True)
  finally:
    replay.close()
    env.close()


if __name__ == "__main__":
  main()
