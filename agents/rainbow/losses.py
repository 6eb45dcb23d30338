"""The Rainbow loss on a batch (Hessel et al., 2018, "Rainbow: Combining
Improvements in Deep Reinforcement Learning", section 3), from RLax
primitives.

distributional (the default): C51's categorical double-Q loss on n-step
transitions (agents/c51/losses.py),

  a*_i = argmax_a sum_k z_k p_k(s'_i, a; theta)
  m_i  = Phi(R_i + Gamma_i z, p(s'_i, a*_i; theta^-))
  L(theta) = mean_i  w_i * ( - sum_k m_{i,k} log p_k(s_i, a_i; theta) ),

priority CE_i; otherwise DQN's n-step double-Q loss (van Hasselt et al.,
2016),

  delta_i = R_i + Gamma_i Q(s'_i, argmax_a Q(s'_i, a; theta); theta^-)
            - Q(s_i, a_i; theta)
  L(theta) = mean_i  w_i * huber(delta_i),

priority |delta_i|. With noisy layers the noise comes from `key`: one
draw for the online network (at s and s') and an independent one for the
target network (at s') per SGD step, as in NoisyNet-DQN (Fortunato et al.,
2018, "Noisy Networks for Exploration", algorithm 1). w_i are the importance weights of
prioritized replay (building_blocks/value_based.py).
"""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import rlax

from agents.c51 import losses as c51_losses
from building_blocks import types
from building_blocks import value_based


def double_q_loss(network: value_based.ValueNetwork, params: types.Params,
                  target_params: types.Params, transitions: types.Transition,
                  weights: chex.Array, key: chex.PRNGKey | None = None, *,
                  huber_delta: float
                  ) -> tuple[chex.Array, dict[str, chex.Array]]:
  """DQN's double-Q Huber loss for a network that may be noisy; extras
  hold the new priorities |delta_i| and the mean Q-value."""
  chex.assert_rank([transitions.action, transitions.reward,
                    transitions.discount, weights], 1)
  online_key, target_key = value_based.split_key(key, 2)
  out_tm1, out_t_selector = value_based.apply_network_to_pair(
      network, params, transitions.observation, transitions.next_observation,
      online_key)
  q_tm1 = network.q_values(out_tm1)
  q_t_selector = network.q_values(out_t_selector)
  q_t_value = network.q_values(value_based.apply_network(
      network, target_params, transitions.next_observation, target_key))
  chex.assert_rank(q_tm1, 2)
  chex.assert_equal_shape([q_tm1, q_t_value, q_t_selector])
  td_error = jax.vmap(rlax.double_q_learning)(
      q_tm1, transitions.action.astype(jnp.int32),
      transitions.reward.astype(jnp.float32),
      transitions.discount.astype(jnp.float32), q_t_value, q_t_selector)
  loss = jnp.mean(weights * rlax.huber_loss(td_error, huber_delta))
  return loss, {"priority": jnp.abs(td_error), "q_mean": jnp.mean(q_tm1)}


def rainbow_loss(network: value_based.ValueNetwork, params: types.Params,
                 target_params: types.Params, transitions: types.Transition,
                 weights: chex.Array, key: chex.PRNGKey | None = None, *,
                 atoms: chex.Array | None, huber_delta: float
                 ) -> tuple[chex.Array, dict[str, chex.Array]]:
  """The categorical double-Q loss with `atoms` (distributional), else the
  double-Q Huber loss; see the module docstring."""
  if atoms is not None:
    return c51_losses.categorical_loss(network, params, target_params,
                                       transitions, weights, key, atoms=atoms,
                                       double_q=True)
  return double_q_loss(network, params, target_params, transitions, weights,
                       key, huber_delta=huber_delta)
