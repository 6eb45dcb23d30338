"""The DQN loss on a batch, from RLax primitives.

Double Q-learning with n-step returns (van Hasselt et al., 2016, "Deep
Reinforcement Learning with Double Q-learning"; Hessel et al., 2018):

  y_i = R_i + Gamma_i * Q(s'_i, argmax_a Q(s'_i, a; theta); theta^-)
  delta_i = y_i - Q(s_i, a_i; theta)
  L(theta) = mean_i  w_i * huber(delta_i)

with R_i, Gamma_i the n-step return and discount stored by the adder and
importance weights w_i = (N P(i))^-beta / max_j (N P(j))^-beta that undo the
bias of prioritized sampling (Schaul et al., 2016). The new priority of
item i is |delta_i|.
"""
from __future__ import annotations

from typing import Callable

import chex
import jax
import jax.numpy as jnp
import rlax

from building_blocks import types


def importance_weights(probabilities: chex.Array, table_size: chex.Array,
                       exponent: float) -> chex.Array:
  """w_i = (N P(i))^-beta, normalised by the batch maximum."""
  chex.assert_rank(probabilities, 1)
  weights = (table_size.astype(jnp.float32) *
             probabilities.astype(jnp.float32)) ** (-exponent)
  return weights / jnp.max(weights)


def double_q_loss(apply_fn: Callable, params: types.Params,
                  target_params: types.Params, transitions: types.Transition,
                  weights: chex.Array, huber_delta: float
                  ) -> tuple[chex.Array, dict[str, chex.Array]]:
  """Returns (loss, extras) for a batch of n-step transitions."""
  chex.assert_rank([transitions.action, transitions.reward,
                    transitions.discount, weights], 1)
  q_tm1 = apply_fn(params, transitions.observation)
  q_t_value = apply_fn(target_params, transitions.next_observation)
  q_t_selector = apply_fn(params, transitions.next_observation)
  chex.assert_equal_shape([q_tm1, q_t_value, q_t_selector])
  td_error = jax.vmap(rlax.double_q_learning)(
      q_tm1, transitions.action.astype(jnp.int32), transitions.reward,
      transitions.discount, q_t_value, q_t_selector)
  loss = jnp.mean(weights * rlax.huber_loss(td_error, huber_delta))
  return loss, {"td_error": td_error, "q_mean": jnp.mean(q_tm1)}
