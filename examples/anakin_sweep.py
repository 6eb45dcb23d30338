"""PPO on CartPole-v1, all on the accelerator, from Python: 8 seeds in one
compiled program, then a learning-rate sweep vmapped in another.

  .venv/bin/python examples/anakin_sweep.py
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
import jax
import jax.numpy as jnp
import numpy as np

from experiments.anakin_program import make_train, seed_keys
from experiments.config import default_config


def summarise(name: str, returns: np.ndarray, steps: np.ndarray) -> None:
  """returns, steps: [runs, iterations]."""
  for i, (curve, at) in enumerate(zip(returns, steps)):
    reached = np.nonzero(np.nan_to_num(curve, nan=-np.inf) >= 475)[0]
    first = f"{int(at[reached[0]]):,}" if len(reached) else "never"
    print(f"  {name} {i}: final 10-episode mean {curve[-1]:6.1f}, "
          f"475 first reached at step {first}")


def main() -> None:
  config = default_config("ppo", "CartPole-v1", runner="anakin",
                          num_steps=100_000, eval_every=10_240)
  train = make_train(config)

  start = time.time()
  out = jax.jit(jax.vmap(train))(seed_keys(0, 8))
  jax.block_until_ready(out)
  print(f"8 seeds, {config.num_steps:,} steps each: {time.time() - start:.1f} s "
        "(compile included)")
  summarise("seed", np.asarray(out.metrics["mean_return_10"]),
            np.asarray(out.metrics["env_steps"]))

  learning_rates = jnp.array([1e-4, 3e-4, 1e-3, 3e-3])
  start = time.time()
  sweep = jax.jit(jax.vmap(train, in_axes=(None, 0)))(
      jax.random.PRNGKey(0), {"learning_rate": learning_rates})
  jax.block_until_ready(sweep)
  print(f"learning-rate sweep {[f'{lr:.0e}' for lr in np.asarray(learning_rates)]}: "
        f"{time.time() - start:.1f} s")
  summarise("lr", np.asarray(sweep.metrics["mean_return_10"]),
            np.asarray(sweep.metrics["env_steps"]))


if __name__ == "__main__":
  main()
