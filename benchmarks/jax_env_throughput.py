"""Throughput of the JAX-native environments: N envs stepped in one jit.

  python benchmarks/jax_env_throughput.py
  python benchmarks/jax_env_throughput.py --env Acrobot-v1 --num-envs 1024 16384

For each batch size the whole rollout (random actions, `env.step` with its
time limit and auto-reset, vmapped over the batch) is one jitted
`lax.scan` over `--num-steps` steps. Compile time is measured once per
batch size (lowering + XLA compilation); steps/s is env steps (batch size
times steps) per second of the best of `--repeats` timed runs after that.
Runs on whatever device JAX picks (CPU unless an accelerator is present).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from building_blocks import specs  # pylint: disable=wrong-import-position
from envs import jax_envs  # pylint: disable=wrong-import-position


def make_rollout(env: jax_envs.JaxEnvironment, num_envs: int, num_steps: int):
  """A jittable function: (states, key) -> (states, summed rewards)."""
  spec = env.action_spec()

  def random_actions(key: jax.Array) -> jax.Array:
    if isinstance(spec, specs.DiscreteArray):
      return jax.random.randint(key, (num_envs,), 0, spec.num_values,
                                jnp.int32)
    return jax.random.uniform(key, (num_envs,) + spec.shape, jnp.float32,
                              spec.minimum, spec.maximum)

  step = jax.vmap(env.step)

  def body(carry, key):
    states, total = carry
    action_key, step_key = jax.random.split(key)
    states, ts = step(jax.random.split(step_key, num_envs), states,
                      random_actions(action_key))
    return (states, total + ts.reward.sum()), None

  def rollout(states, key):
    (states, total), _ = jax.lax.scan(
        body, (states, jnp.zeros((), jnp.float32)),
        jax.random.split(key, num_steps))
    return states, total

  return rollout


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--env", default="CartPole-v1",
                      choices=jax_envs.registered_ids())
  parser.add_argument("--num-envs", type=int, nargs="+",
                      default=[1024, 16384, 131072])
  parser.add_argument("--num-steps", type=int, default=1000,
                      help="steps per jitted rollout (one lax.scan)")
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()

  env = jax_envs.make(args.env)
  print(f"{args.env}, {args.num_steps} steps per rollout, "
        f"device: {jax.devices()[0].platform} ({jax.device_count()}), "
        f"jax {jax.__version__}")
  print(f"{'num_envs':>10} {'compile_s':>10} {'rollout_s':>10} "
        f"{'steps/s':>14}")
  for num_envs in args.num_envs:
    key = jax.random.PRNGKey(0)
    states, _ = jax.jit(jax.vmap(env.reset))(jax.random.split(key, num_envs))
    rollout = jax.jit(make_rollout(env, num_envs, args.num_steps))

    start = time.perf_counter()
    compiled = rollout.lower(states, key).compile()
    compile_s = time.perf_counter() - start

    best = float("inf")
    for i in range(args.repeats):
      run_key = jax.random.fold_in(key, i)
      start = time.perf_counter()
      out = compiled(states, run_key)
      jax.block_until_ready(out)
      best = min(best, time.perf_counter() - start)
    steps_per_s = num_envs * args.num_steps / best
    print(f"{num_envs:>10} {compile_s:>10.2f} {best:>10.3f} "
          f"{steps_per_s:>14,.0f}", flush=True)


if __name__ == "__main__":
  main()
