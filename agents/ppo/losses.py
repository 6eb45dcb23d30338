"""PPO's maths as pure functions, from RLax primitives.

Advantages: generalized advantage estimation (Schulman et al., 2016,
"High-Dimensional Continuous Control Using Generalized Advantage
Estimation"):

  delta_t = r_t + gamma_t V(s_{t+1}) - V(s_t)
  A_t = delta_t + gamma_t lambda A_{t+1}

with gamma_t = 0 where an episode ended at step t. A time-limit truncation
is not a terminal state: its bootstrap value gamma V(s_final) is folded into
the reward of that step, so the target stays unbiased while the trace is
cut (the next state in the rollout belongs to a new episode).

Loss on a minibatch (Schulman et al., 2017, "Proximal Policy Optimization
Algorithms", eq. 7 and 9):

  rho = pi(a|s) / pi_old(a|s)
  L_pi = -E[min(rho A, clip(rho, 1-eps, 1+eps) A)]
  L_V  = E[max((V - G)^2, (V_old + clip(V - V_old, -eps, eps) - G)^2)] / 2
  L    = L_pi + c_V L_V - c_H E[H(pi(.|s))]

with G = A + V_old the lambda-return target.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp
import rlax


class PPOBatch(NamedTuple):
  """Flat batch of on-policy experience with its targets (leading dim B)."""
  observation: chex.Array
  action: chex.Array
  log_prob: chex.Array
  value: chex.Array
  advantage: chex.Array
  target: chex.Array


def gae_advantages(reward: chex.Array, terminated: chex.Array,
                   truncated: chex.Array, value: chex.Array,
                   final_value: chex.Array, last_value: chex.Array,
                   discount: float, gae_lambda: float) -> chex.Array:
  """A_t for time-major arrays [T, N] (last_value: V of the state after the
  rollout, [N]; final_value: V of the state each step reached, before any
  auto-reset, [T, N])."""
  chex.assert_rank([reward, terminated, truncated, value, final_value], 2)
  chex.assert_equal_shape([reward, terminated, truncated, value, final_value])
  chex.assert_rank(last_value, 1)
  done = jnp.logical_or(terminated, truncated)
  reward = reward + discount * truncated.astype(jnp.float32) * final_value
  discount_t = discount * (1.0 - done.astype(jnp.float32))
  values = jnp.concatenate([value, last_value[None]], axis=0)
  # rlax's GAE is written for one sequence [T]; map it over the env axis.
  return jax.vmap(rlax.truncated_generalized_advantage_estimation,
                  in_axes=(1, 1, None, 1), out_axes=1)(
                      reward, discount_t, gae_lambda, values)


def ppo_loss(apply_fn: Callable, distribution_fn: Callable, params,
             batch: PPOBatch, clip_epsilon: float, clip_value_loss: bool,
             value_coef: float, entropy_coef: float,
             normalize_advantages: bool
             ) -> tuple[chex.Array, dict[str, chex.Array]]:
  """Returns (L, extras) for one minibatch."""
  chex.assert_rank([batch.log_prob, batch.value, batch.advantage,
                    batch.target], 1)
  policy_params, value = apply_fn(params, batch.observation)
  distribution = distribution_fn(policy_params)
  log_prob = distribution.log_prob(batch.action)
  chex.assert_equal_shape([log_prob, batch.log_prob, value, batch.value])
  advantage = batch.advantage
  if normalize_advantages:
    advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
  ratio = jnp.exp(log_prob - batch.log_prob)
  policy_loss = rlax.clipped_surrogate_pg_loss(ratio, advantage, clip_epsilon)
  value_loss = rlax.l2_loss(value - batch.target)
  if clip_value_loss:
    clipped = batch.value + jnp.clip(value - batch.value, -clip_epsilon,
                                     clip_epsilon)
    value_loss = jnp.maximum(value_loss, rlax.l2_loss(clipped - batch.target))
  value_loss = jnp.mean(value_loss)
  entropy = jnp.mean(distribution.entropy())
  loss = policy_loss + value_coef * value_loss - entropy_coef * entropy
  approx_kl = jnp.mean((ratio - 1.0) - (log_prob - batch.log_prob))
  return loss, {"policy_loss": policy_loss, "value_loss": value_loss,
                "entropy": entropy, "approx_kl": approx_kl}
