"""PQN's maths as pure functions, from RLax primitives.

Q(lambda) returns over a rollout (Gallici et al., 2024, "Simplifying Deep
Temporal Difference Learning"; Peng and Williams, 1996, "Incremental
Multi-Step Q-Learning"):

  G_t = r_t + gamma_t [(1 - lambda_t) max_a Q(s_{t+1}, a) + lambda_t G_{t+1}]

computed backwards from the rollout's end, where s_{t+1} is the state step
t reached. At the last step G_T = max_a Q(s_T, a) (bootstrapping from the
observation after the rollout). Episode ends inside the rollout:

- a termination at step t: gamma_t = 0, so G_t = r_t (no value after a
  terminal state, and the trace stops);
- a truncation at step t (a time limit): the state reached is not terminal,
  so the target bootstraps from it, G_t = r_t + gamma max_a Q(s_final, a),
  with s_final the observation before the auto-reset
  (`Rollout.final_observation`); lambda_t = 0 cuts the trace, because the
  next step of the rollout belongs to a new episode.

Because `final_observation[t]` equals the next observation wherever the
episode did not end (and the observation after the rollout at the last
step), V_t = max_a Q(final_observation_t, a) is the bootstrap value of every
step, and the recursion is exactly `rlax.lambda_returns` with
discount_t = gamma (1 - terminated_t), lambda_t = lambda (1 - truncated_t)
and v_t = V_t (rlax starts the recursion from v_{T-1}, i.e. G_T = V_{T-1}).
The targets use the parameters the rollout was collected with and no target
network.

Loss on a minibatch of (s, a, G):  L = mean 1/2 (G - Q(s, a))^2.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp
import rlax


class PQNBatch(NamedTuple):
  """Flat batch of (s, a, G) with leading dim B."""
  observation: chex.Array
  action: chex.Array
  target: chex.Array


def q_lambda_returns(reward: chex.Array, terminated: chex.Array,
                     truncated: chex.Array, next_value: chex.Array,
                     discount: float, q_lambda: float) -> chex.Array:
  """G_t for time-major arrays [T, N] (see the module docstring).

  reward, terminated, truncated: what each step gave; next_value:
  max_a Q(s, a) of the state each step reached before any auto-reset
  (Q of `final_observation`). Returns G [T, N], without gradient.
  """
  chex.assert_rank([reward, terminated, truncated, next_value], 2)
  chex.assert_equal_shape([reward, terminated, truncated, next_value])
  discount_t = discount * (1.0 - terminated.astype(jnp.float32))
  lambda_t = q_lambda * (1.0 - truncated.astype(jnp.float32))
  # rlax's lambda returns are written for one sequence [T]: map over envs.
  returns = jax.vmap(rlax.lambda_returns, in_axes=(1, 1, 1, 1), out_axes=1)(
      reward.astype(jnp.float32), discount_t, next_value.astype(jnp.float32),
      lambda_t)
  return jax.lax.stop_gradient(returns)


def pqn_loss(apply_fn: Callable, params, batch: PQNBatch
             ) -> tuple[chex.Array, dict[str, chex.Array]]:
  """Returns (L, extras) for one minibatch: L = mean 1/2 (G - Q(s, a))^2."""
  chex.assert_rank([batch.action, batch.target], 1)
  q = apply_fn(params, batch.observation)
  chex.assert_rank(q, 2)
  q_a = rlax.batched_index(q, batch.action.astype(jnp.int32))
  chex.assert_equal_shape([q_a, batch.target])
  td_error = batch.target - q_a
  loss = jnp.mean(rlax.l2_loss(td_error))
  return loss, {"q_mean": jnp.mean(q_a), "td_abs": jnp.mean(jnp.abs(td_error))}
