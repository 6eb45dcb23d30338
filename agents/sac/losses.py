"""SAC's maths on a batch (Haarnoja et al., 2018, "Soft Actor-Critic
Algorithms and Applications", sections 4-5 and Algorithm 1).

The policy is a tanh-squashed Gaussian: u ~ N(mu(s), diag sigma(s)^2),
a = tanh(u), whose log-density follows from the change of variables
(the paper's appendix C, eq. 21):

  log pi(a|s) = log N(u; mu, sigma^2) - sum_k log(1 - tanh(u_k)^2 + eps)

with eps = 0 the exact density. eps > 0 (CleanRL and stable-baselines3 use
1e-6) caps what a saturated action dimension adds to log pi at -log eps
(13.8 nats for 1e-6), where the exact term grows as 2|u_k|: the entropy
bonus then no longer holds the policy back from the bang-bang actions
that locomotion tasks favour.

Critic (soft Bellman residual, eq. 5, with twin critics and the minimum of
the two target critics, as the paper's section 5 does):

  a' ~ pi(.|s'_i),
  y_i = R_i + Gamma_i * (min_{j=1,2} Q_j(s'_i, a'; theta_j^-)
                         - alpha * log pi(a'|s'_i))
  L(theta) = mean_i w_i * sum_{j=1,2} (Q_j(s_i, a_i; theta_j) - y_i)^2 / 2

Policy (eq. 7 with the reparameterised a = tanh(mu + sigma * xi)):

  L(phi) = mean_i alpha * log pi(a_i|s_i) - min_j Q_j(s_i, a_i; theta_j)

Temperature (eq. 18; the target entropy H is -|A| by default):

  L(alpha) = mean_i -alpha * (log pi(a_i|s_i) + H)

learnt as log alpha (so alpha stays positive). R_i, Gamma_i are the n-step
return and discount stored by the adder (with n = 1 the paper's
r + gamma (1 - done); with n > 1 the entropy terms of the intermediate
steps are left out of the target, a common shortcut); w_i are the
importance weights of prioritized replay (1 for uniform replay); y, and
log pi in L(alpha), are held fixed. Actions are in [-1, 1] units throughout
(building_blocks/actor_critic.py scales them to the environment's bounds).
"""
from __future__ import annotations

import chex
import distrax
import jax
import jax.numpy as jnp

from building_blocks import actor_critic
from building_blocks import types


def tanh_gaussian(mean: chex.Array, log_std: chex.Array
                  ) -> distrax.Distribution:
  """The distribution of a = tanh(u), u ~ N(mean, diag exp(log_std)^2), over
  action vectors [B, D]."""
  chex.assert_equal_shape([mean, log_std])
  return distrax.Transformed(
      distrax.MultivariateNormalDiag(mean, jnp.exp(log_std)),
      distrax.Block(distrax.Tanh(), ndims=1))


def sample_and_log_prob(mean: chex.Array, log_std: chex.Array,
                        key: chex.PRNGKey, epsilon: float = 0.0
                        ) -> tuple[chex.Array, chex.Array]:
  """(a [B, D], log pi(a|s) [B]): a reparameterised sample and its
  log-density with the module docstring's eps (computed from u, never from
  atanh(a))."""
  chex.assert_equal_shape([mean, log_std])
  u, log_normal = distrax.MultivariateNormalDiag(
      mean, jnp.exp(log_std)).sample_and_log_prob(seed=key)
  # log(1 - tanh(u)^2) = 2 (log 2 - |u| - softplus(-2|u|)), exact without
  # the cancellation of 1 - tanh(u)^2 in float32; log(x + eps) as
  # logaddexp(log x, log eps), which is log x itself for eps = 0.
  abs_u = jnp.abs(u)
  log_sech2 = 2.0 * (jnp.log(2.0) - abs_u - jax.nn.softplus(-2.0 * abs_u))
  correction = jnp.logaddexp(log_sech2, jnp.log(jnp.asarray(epsilon,
                                                            u.dtype)))
  return jnp.tanh(u), log_normal - jnp.sum(correction, axis=-1)


def critic_loss(networks: actor_critic.ActorCriticNetworks,
                critic_params: types.Params, policy_params: types.Params,
                target_critic_params: types.Params, log_alpha: chex.Array,
                transitions: types.Transition, weights: chex.Array,
                key: chex.PRNGKey, log_prob_epsilon: float = 0.0
                ) -> tuple[chex.Array, dict[str, chex.Array]]:
  """Returns (L(theta), extras): the new priorities |y - Q_1| and the mean
  Q."""
  chex.assert_rank([transitions.reward, transitions.discount, weights], 1)
  chex.assert_rank(transitions.action, 2)
  chex.assert_rank(log_alpha, 0)
  mean, log_std = networks.policy_apply(policy_params,
                                        transitions.next_observation)
  next_action, next_log_prob = sample_and_log_prob(mean, log_std, key,
                                                   log_prob_epsilon)
  q_next = networks.critic_apply(target_critic_params,
                                 transitions.next_observation, next_action)
  chex.assert_rank(q_next, 2)
  soft_value = jnp.min(q_next, axis=-1) - jnp.exp(log_alpha) * next_log_prob
  target = jax.lax.stop_gradient(
      transitions.reward + transitions.discount * soft_value)
  q = networks.critic_apply(critic_params, transitions.observation,
                            transitions.action)
  chex.assert_equal_shape([q, q_next])
  td_error = target[:, None] - q
  loss = jnp.mean(weights * 0.5 * jnp.sum(jnp.square(td_error), axis=-1))
  return loss, {"priority": jnp.abs(td_error[:, 0]), "q_mean": jnp.mean(q)}


def policy_loss(networks: actor_critic.ActorCriticNetworks,
                policy_params: types.Params, critic_params: types.Params,
                log_alpha: chex.Array, transitions: types.Transition,
                key: chex.PRNGKey, log_prob_epsilon: float = 0.0
                ) -> tuple[chex.Array, dict[str, chex.Array]]:
  """Returns (L(phi), extras): the policy's entropy estimate
  -mean log pi(a|s)."""
  chex.assert_rank(log_alpha, 0)
  mean, log_std = networks.policy_apply(policy_params,
                                        transitions.observation)
  action, log_prob = sample_and_log_prob(mean, log_std, key, log_prob_epsilon)
  q = networks.critic_apply(critic_params, transitions.observation, action)
  chex.assert_rank(q, 2)
  alpha = jax.lax.stop_gradient(jnp.exp(log_alpha))
  loss = jnp.mean(alpha * log_prob - jnp.min(q, axis=-1))
  return loss, {"entropy": -jnp.mean(log_prob)}


def temperature_loss(log_alpha: chex.Array, log_prob: chex.Array,
                     target_entropy: float
                     ) -> tuple[chex.Array, dict[str, chex.Array]]:
  """Returns (L(alpha), {"alpha": alpha}) for log pi(a|s) [B] of fresh
  samples of the current policy."""
  chex.assert_rank(log_alpha, 0)
  chex.assert_rank(log_prob, 1)
  alpha = jnp.exp(log_alpha)
  loss = jnp.mean(-alpha * jax.lax.stop_gradient(log_prob + target_entropy))
  return loss, {"alpha": alpha}
