"""The QR-DQN loss on a batch, from RLax primitives.

Quantile regression Q-learning (Dabney et al., 2018, "Distributional
Reinforcement Learning with Quantile Regression", algorithm 1) with n-step
returns and double-Q action selection. Each action's return distribution
is N quantiles theta_1..theta_N at the midpoints tau_i = (2i + 1) / 2N;
Q(s, a) = mean_i theta_i(s, a).

  a*_b     = argmax_a Q(s'_b, a; theta)          (double_q; else theta^-)
  T theta_j = R_b + Gamma_b theta_j(s'_b, a*_b; theta^-)     (held fixed)
  u_ij     = T theta_j - theta_i(s_b, a_b; theta)
  rho_i(u) = |tau_i - 1{u < 0}| L_kappa(u),  L_kappa the Huber loss
             (|u| for kappa = 0)
  QR_b     = sum_i mean_j rho_i(u_ij)
  L(theta) = mean_b  w_b * QR_b

with R_b, Gamma_b the n-step return and discount stored by the adder and
importance weights w_b (building_blocks/value_based.py) that undo the bias
of prioritized sampling. RLax's L_kappa is the Huber loss itself, not the
paper's L_kappa / kappa (the same for kappa = 1). The new priority of item
b is QR_b.
"""
from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import rlax

from building_blocks import types
from building_blocks import value_based


def quantile_loss(network: value_based.ValueNetwork, params: types.Params,
                  target_params: types.Params, transitions: types.Transition,
                  weights: chex.Array, key: chex.PRNGKey | None = None, *,
                  taus: chex.Array, huber_param: float, double_q: bool = True
                  ) -> tuple[chex.Array, dict[str, chex.Array]]:
  """Returns (loss, extras) for a batch of n-step transitions; extras hold
  the new priorities QR_b and the mean Q-value. `key` feeds a stochastic
  network (one draw for the online network at s and s', one for the
  target network, as in the C51 loss)."""
  chex.assert_rank([transitions.action, transitions.reward,
                    transitions.discount, weights, taus], 1)
  online_key, target_key = value_based.split_key(key, 2)
  dist_tm1, dist_t_online = value_based.apply_network_to_pair(
      network, params, transitions.observation, transitions.next_observation,
      online_key)
  dist_t = value_based.apply_network(network, target_params,
                                     transitions.next_observation, target_key)
  # Double Q: the online network's mean picks a*; else the target's does.
  dist_t_selector = dist_t_online if double_q else dist_t
  chex.assert_rank([dist_tm1, dist_t, dist_t_selector], 3)
  chex.assert_equal_shape([dist_tm1, dist_t, dist_t_selector])
  chex.assert_axis_dimension(dist_tm1, 2, taus.shape[0])
  # RLax wants [N, A] per item; the head gives [A, N].
  to_rlax = lambda x: jnp.swapaxes(x, 1, 2)  # pylint: disable=unnecessary-lambda-assignment
  # huber_param stays a Python number (RLax branches on it).
  per_item = jax.vmap(
      functools.partial(rlax.quantile_q_learning, huber_param=huber_param),
      in_axes=(0, None, 0, 0, 0, 0, 0))(
          to_rlax(dist_tm1), taus, transitions.action.astype(jnp.int32),
          transitions.reward.astype(jnp.float32),
          transitions.discount.astype(jnp.float32), to_rlax(dist_t_selector),
          to_rlax(dist_t))
  loss = jnp.mean(weights * per_item)
  return loss, {"priority": per_item,
                "q_mean": jnp.mean(network.q_values(dist_tm1))}
