"""The DQN loss on a batch, from RLax primitives.

Double Q-learning with n-step returns (van Hasselt et al., 2016, "Deep
Reinforcement Learning with Double Q-learning"; Hessel et al., 2018):

  y_i = R_i + Gamma_i * Q(s'_i, argmax_a Q(s'_i, a; theta); theta^-)
  delta_i = y_i - Q(s_i, a_i; theta)
  L(theta) = mean_i  w_i * huber(delta_i)

with R_i, Gamma_i the n-step return and discount stored by the adder and
importance weights w_i (building_blocks/value_based.py) that undo the bias
of prioritized sampling (Schaul et al., 2016). The new priority of item i
is |delta_i|.
"""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import rlax

from building_blocks import types
from building_blocks import value_based


def double_q_loss(network: value_based.ValueNetwork, params: types.Params,
                  target_params: types.Params, transitions: types.Transition,
                  weights: chex.Array, huber_delta: float
                  ) -> tuple[chex.Array, dict[str, chex.Array]]:
  """Returns (loss, extras) for a batch of n-step transitions; extras hold
  the new priorities |delta_i| and the mean Q-value."""
  chex.assert_rank([transitions.action, transitions.reward,
                    transitions.discount, weights], 1)
  q_tm1 = network.apply(params, transitions.observation)
  q_t_value = network.apply(target_params, transitions.next_observation)
  q_t_selector = network.apply(params, transitions.next_observation)
  chex.assert_equal_shape([q_tm1, q_t_value, q_t_selector])
  td_error = jax.vmap(rlax.double_q_learning)(
      q_tm1, transitions.action.astype(jnp.int32), transitions.reward,
      transitions.discount, q_t_value, q_t_selector)
  loss = jnp.mean(weights * rlax.huber_loss(td_error, huber_delta))
  return loss, {"priority": jnp.abs(td_error), "q_mean": jnp.mean(q_tm1)}
