"""The C51 loss on a batch, from RLax primitives.

Categorical Q-learning (Bellemare et al., 2017, "A Distributional
Perspective on Reinforcement Learning", algorithm 1) with n-step returns
and double-Q action selection (Hessel et al., 2018, "Rainbow"). Each
action's return distribution is p(s, a) = softmax(logits(s, a)) on atoms
z_1..z_K evenly spaced in [v_min, v_max]; Q(s, a) = sum_k z_k p_k(s, a).

  a*_i   = argmax_a Q(s'_i, a; theta)          (double_q; else theta^-)
  T z_j  = R_i + Gamma_i z_j                   (shifted and shrunk atoms)
  m_i    = Phi(T z, p(s'_i, a*_i; theta^-))    (projection onto z:
           m_k = sum_j clip(1 - |[T z_j]_{v_min}^{v_max} - z_k| / dz, 0, 1)
                 p_j)
  CE_i   = - sum_k m_{i,k} log p_k(s_i, a_i; theta)
  L(theta) = mean_i  w_i * CE_i

with R_i, Gamma_i the n-step return and discount stored by the adder
(Gamma_i = 0 after a termination, so the target is the point mass at R_i)
and importance weights w_i (building_blocks/value_based.py) that undo the
bias of prioritized sampling. The new priority of item i is CE_i (Rainbow
prioritises by the KL divergence, which differs from CE_i by the entropy
of m_i). m_i is a constant (no gradient flows into the target).
"""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import rlax

from building_blocks import types
from building_blocks import value_based


def categorical_loss(network: value_based.ValueNetwork, params: types.Params,
                     target_params: types.Params,
                     transitions: types.Transition, weights: chex.Array,
                     key: chex.PRNGKey | None = None, *, atoms: chex.Array,
                     double_q: bool = True
                     ) -> tuple[chex.Array, dict[str, chex.Array]]:
  """Returns (loss, extras) for a batch of n-step transitions; extras hold
  the new priorities CE_i and the mean Q-value. `key` feeds a stochastic
  (noisy) network: one draw for the online network (at s and s', one
  forward pass) and an independent one for the target network, as in
  NoisyNet-DQN (Fortunato et al., 2018, algorithm 1)."""
  chex.assert_rank([transitions.action, transitions.reward,
                    transitions.discount, weights, atoms], [1, 1, 1, 1, 1])
  online_key, target_key = value_based.split_key(key, 2)
  logits_tm1, logits_t_online = value_based.apply_network_to_pair(
      network, params, transitions.observation, transitions.next_observation,
      online_key)
  logits_t = value_based.apply_network(
      network, target_params, transitions.next_observation, target_key)
  # Double Q: the online network picks a*; else the target network does.
  q_t_selector = network.q_values(logits_t_online if double_q else logits_t)
  chex.assert_rank([logits_tm1, logits_t, q_t_selector], [3, 3, 2])
  chex.assert_equal_shape([logits_tm1, logits_t])
  chex.assert_axis_dimension(logits_tm1, 2, atoms.shape[0])
  cross_entropy = jax.vmap(
      rlax.categorical_double_q_learning,
      in_axes=(None, 0, 0, 0, 0, None, 0, 0))(
          atoms, logits_tm1, transitions.action.astype(jnp.int32),
          transitions.reward.astype(jnp.float32),
          transitions.discount.astype(jnp.float32), atoms, logits_t,
          q_t_selector)
  loss = jnp.mean(weights * cross_entropy)
  return loss, {"priority": cross_entropy,
                "q_mean": jnp.mean(network.q_values(logits_tm1))}
