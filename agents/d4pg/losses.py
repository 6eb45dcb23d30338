"""D4PG's losses on a batch (Barth-Maron et al., 2018, "Distributed
Distributional Deterministic Policy Gradients", Algorithm 1; the
categorical critic and its projection are Bellemare et al., 2017, "A
Distributional Perspective on Reinforcement Learning", Algorithm 1).

The critic is a categorical distribution Z(s, a) over the fixed atoms
z_1 < ... < z_N of [v_min, v_max] with probabilities p_k(s, a) =
softmax(logits(s, a))_k, and Q(s, a) = E[Z(s, a)] = sum_k p_k(s, a) z_k.

Critic (distributional n-step TD with the target networks):

  a'_i = pi(s'_i; phi^-)
  Y_i = Phi(R_i + Gamma_i z, p(s'_i, a'_i; theta^-))
  L(theta) = mean_i w_i * CE(Y_i, p(s_i, a_i; theta))
           = mean_i w_i * -sum_k Y_ik log p_k(s_i, a_i; theta)

where Phi projects the distribution with atoms R_i + Gamma_i z_k (clipped
to [v_min, v_max]) and probabilities p_k(s'_i, a'_i) back onto the atoms z
(`rlax.categorical_l2_project`), Y is held fixed, R_i, Gamma_i are the
n-step return and discount stored by the adder and w_i the importance
weights of prioritized replay (1 for uniform replay). The new priority of
item i is its cross-entropy.

Policy (deterministic policy gradient through the critic's mean):

  L(phi) = -mean_i sum_k p_k(s_i, pi(s_i; phi); theta) z_k

Actions are in [-1, 1] units throughout (building_blocks/actor_critic.py
scales them to the environment's bounds).
"""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import rlax

from building_blocks import actor_critic
from building_blocks import types


def projected_target(reward: chex.Array, discount: chex.Array,
                     atoms: chex.Array, next_probs: chex.Array) -> chex.Array:
  """Y [B, N]: the distribution R + Gamma z with probabilities next_probs
  [B, N], projected onto the atoms z [N]."""
  chex.assert_rank([reward, discount, atoms], 1)
  chex.assert_rank(next_probs, 2)
  shifted = reward[:, None] + discount[:, None] * atoms[None, :]
  return jax.vmap(rlax.categorical_l2_project, in_axes=(0, 0, None))(
      shifted, next_probs, atoms)


def critic_loss(networks: actor_critic.ActorCriticNetworks,
                atoms: chex.Array, critic_params: types.Params,
                target_policy_params: types.Params,
                target_critic_params: types.Params,
                transitions: types.Transition, weights: chex.Array
                ) -> tuple[chex.Array, dict[str, chex.Array]]:
  """Returns (L(theta), extras): the new priorities (each item's
  cross-entropy) and the mean Q."""
  chex.assert_rank([transitions.reward, transitions.discount, weights], 1)
  chex.assert_rank(transitions.action, 2)
  next_action = networks.policy_apply(target_policy_params,
                                      transitions.next_observation)
  next_logits = networks.critic_apply(target_critic_params,
                                      transitions.next_observation,
                                      next_action)
  target = jax.lax.stop_gradient(projected_target(
      transitions.reward, transitions.discount, atoms,
      jax.nn.softmax(next_logits)))
  logits = networks.critic_apply(critic_params, transitions.observation,
                                 transitions.action)
  chex.assert_equal_shape([logits, next_logits, target])
  cross_entropy = -jnp.sum(target * jax.nn.log_softmax(logits), axis=-1)
  loss = jnp.mean(weights * cross_entropy)
  q = jnp.sum(jax.nn.softmax(logits) * atoms, axis=-1)
  return loss, {"priority": cross_entropy, "q_mean": jnp.mean(q)}


def policy_loss(networks: actor_critic.ActorCriticNetworks,
                atoms: chex.Array, policy_params: types.Params,
                critic_params: types.Params, transitions: types.Transition
                ) -> tuple[chex.Array, dict[str, chex.Array]]:
  """Returns (L(phi), {}): minus the critic's mean return at pi(s)."""
  action = networks.policy_apply(policy_params, transitions.observation)
  chex.assert_rank(action, 2)
  logits = networks.critic_apply(critic_params, transitions.observation,
                                 action)
  chex.assert_rank(logits, 2)
  return -jnp.mean(jnp.sum(jax.nn.softmax(logits) * atoms, axis=-1)), {}
