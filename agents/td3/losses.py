"""TD3's losses on a batch (Fujimoto et al., 2018, "Addressing Function
Approximation Error in Actor-Critic Methods", Algorithm 1).

Critic, with the clipped double-Q target and target policy smoothing:

  eps_i ~ clip(N(0, sigma~^2), -c, c)
  a'_i = clip(pi(s'_i; phi^-) + eps_i, -1, 1)
  y_i = R_i + Gamma_i * min_{j=1,2} Q_j(s'_i, a'_i; theta_j^-)
  L(theta) = mean_i w_i * sum_{j=1,2} (y_i - Q_j(s_i, a_i; theta_j))^2

with R_i, Gamma_i the n-step return and discount stored by the adder (one
step in the paper: R = r, Gamma = gamma (1 - done)), y held fixed and w_i
the importance weights of prioritized replay (1 for uniform replay).

Policy (deterministic policy gradient through the first critic):

  L(phi) = -mean_i Q_1(s_i, pi(s_i; phi); theta_1)

updated once every d critic updates, together with the targets. Actions
are in [-1, 1] units throughout (building_blocks/actor_critic.py scales
them to the environment's bounds).
"""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from building_blocks import actor_critic
from building_blocks import types


def smoothed_target_action(target_action: chex.Array, noise: chex.Array,
                           noise_clip: float) -> chex.Array:
  """a' = clip(a + clip(noise, -c, c), -1, 1): target policy smoothing."""
  chex.assert_equal_shape([target_action, noise])
  return jnp.clip(target_action + jnp.clip(noise, -noise_clip, noise_clip),
                  -1.0, 1.0)


def clipped_double_q_target(reward: chex.Array, discount: chex.Array,
                            q_next: chex.Array) -> chex.Array:
  """y = R + Gamma * min_j Q_j(s', a') for q_next [B, 2]."""
  chex.assert_rank([reward, discount], 1)
  chex.assert_rank(q_next, 2)
  return reward + discount * jnp.min(q_next, axis=-1)


def critic_loss(networks: actor_critic.ActorCriticNetworks,
                critic_params: types.Params,
                target_policy_params: types.Params,
                target_critic_params: types.Params,
                transitions: types.Transition, weights: chex.Array,
                key: chex.PRNGKey, target_noise: float,
                target_noise_clip: float
                ) -> tuple[chex.Array, dict[str, chex.Array]]:
  """Returns (L(theta), extras); the smoothing noise is
  target_noise * N(0, 1) drawn with `key`. extras: the new priorities
  |y - Q_1| and the mean Q."""
  chex.assert_rank([transitions.reward, transitions.discount, weights], 1)
  chex.assert_rank(transitions.action, 2)
  next_action = networks.policy_apply(target_policy_params,
                                      transitions.next_observation)
  noise = target_noise * jax.random.normal(key, next_action.shape,
                                           next_action.dtype)
  next_action = smoothed_target_action(next_action, noise, target_noise_clip)
  q_next = networks.critic_apply(target_critic_params,
                                 transitions.next_observation, next_action)
  target = jax.lax.stop_gradient(clipped_double_q_target(
      transitions.reward, transitions.discount, q_next))
  q = networks.critic_apply(critic_params, transitions.observation,
                            transitions.action)
  chex.assert_equal_shape([q, q_next])
  td_error = target[:, None] - q
  loss = jnp.mean(weights * jnp.sum(jnp.square(td_error), axis=-1))
  return loss, {"priority": jnp.abs(td_error[:, 0]), "q_mean": jnp.mean(q)}


def policy_loss(networks: actor_critic.ActorCriticNetworks,
                policy_params: types.Params, critic_params: types.Params,
                transitions: types.Transition
                ) -> tuple[chex.Array, dict[str, chex.Array]]:
  """Returns (L(phi), {}): minus the first critic's value of pi(s)."""
  action = networks.policy_apply(policy_params, transitions.observation)
  chex.assert_rank(action, 2)
  q = networks.critic_apply(critic_params, transitions.observation, action)
  return -jnp.mean(q[:, 0]), {}
