"""The Munchausen DQN loss on a batch of n-step transitions.

Munchausen DQN (Vieillard, Pietquin and Geist, 2020, "Munchausen
Reinforcement Learning", NeurIPS; section 3, eq. (2) with the clipping of
section 3 "M-DQN"): with the target network's Q-values q^- and its softmax
policy pi^- = softmax(q^- / tau),

  y_i = r_i + alpha * clip(tau * log pi^-(a_i|s_i), l0, 0)
        + gamma * sum_a' pi^-(a'|s'_i) (q^-(s'_i, a') - tau * log pi^-(a'|s'_i))
  delta_i = y_i - Q(s_i, a_i; theta)
  L(theta) = mean_i  w_i * huber(delta_i)

The first term after r is the Munchausen bonus: the agent's own scaled
log-policy of the action it took, added to the reward (alpha = 0 gives
soft-DQN; alpha = 0 and tau -> 0 plain DQN). The clip bounds it below
(log pi -> -inf for actions far from greedy); as in the paper (and Acme's
MunchausenQLearning) it applies to tau * log pi, the term that is added,
with l0 = -1 in the paper. The bootstrap is the soft value
V(s') = sum_a' pi (q - tau log pi) = tau * logsumexp(q(s', .) / tau) of the
target network. Importance weights w_i undo prioritized sampling (Schaul et
al., 2016); new priorities are |delta_i|. The installed rlax releases (0.1.7,
0.1.9) have no Munchausen loss, so the target is written here from
jax.nn.log_softmax; the Huber loss and indexing are rlax's.

n-step transitions. The adder stores (s_t, a_t, R, Gamma, s_{t+m}) with
R = sum_{k<m} gamma^k r_{t+k} and Gamma = gamma^m (0 after a termination;
m <= n, fewer where the episode ended). Here

  y = R + alpha * clip(tau log pi^-(a_t|s_t), l0, 0) + Gamma * V(s_{t+m}):

the bonus of the first action, and the soft value at the bootstrap state.
Unrolling the regularised Bellman equation along the stored steps would
also add, for every intermediate step k = 1..m-1,
gamma^k (alpha clip(tau log pi(a_{t+k}|s_{t+k}), l0, 0)
         - tau log pi(a_{t+k}|s_{t+k}))
(that step's bonus and the entropy term of its soft value with the taken
action), which needs the intermediate states and actions: the transition
does not hold them (R is a sum of environment rewards only). These terms
are ~0 wherever the behaviour took the target policy's (near-)greedy action
(tau log pi ~ 0) and are otherwise of the same kind as n-step DQN's
uncorrected off-policy bias. This is what Acme's MunchausenQLearning
computes from its n-step adder. It is exact at n = 1, the paper's setting
(--mdqn.n-step 1). The default here is DQN's n = 3, which learned faster:
on CartPole-v1 all on the accelerator (4 seeds, 100k steps, 10-episode
mean logged every 10k steps) n = 3 first reached 475 at 20k-30k steps and
ended at 436-500; n = 1 at 30k-60k and ended at 256-500.
"""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import rlax

from building_blocks import types
from building_blocks import value_based


def munchausen_bonus(q_target_tm1: chex.Array, a_tm1: chex.Array,
                     tau: float, alpha: float, l0: float) -> chex.Array:
  """alpha * clip(tau * log pi^-(a_i|s_i), l0, 0) for a batch: q_target_tm1
  [B, A] the target network's Q-values at s_i, a_tm1 [B] the actions."""
  chex.assert_rank([q_target_tm1, a_tm1], [2, 1])
  log_pi = jax.nn.log_softmax(q_target_tm1 / tau, axis=-1)
  log_pi_a = rlax.batched_index(log_pi, a_tm1.astype(jnp.int32))
  return alpha * jnp.clip(tau * log_pi_a, l0, 0.0)


def munchausen_targets(q_target_tm1: chex.Array, a_tm1: chex.Array,
                       r_t: chex.Array, discount_t: chex.Array,
                       q_target_t: chex.Array, tau: float, alpha: float,
                       l0: float) -> chex.Array:
  """y_i for a batch (see the module docstring): q_target_tm1 [B, A] the
  target network at s_i, q_target_t [B, A] at the bootstrap state s'_i,
  a_tm1 [B] the actions taken, r_t [B] and discount_t [B] the (n-step)
  return and discount. Returns y [B], without gradient."""
  chex.assert_rank([q_target_tm1, a_tm1, r_t, discount_t, q_target_t],
                   [2, 1, 1, 1, 2])
  chex.assert_equal_shape([q_target_tm1, q_target_t])
  chex.assert_equal_shape([a_tm1, r_t, discount_t])
  bonus = munchausen_bonus(q_target_tm1, a_tm1, tau, alpha, l0)
  log_pi_t = jax.nn.log_softmax(q_target_t / tau, axis=-1)
  pi_t = jnp.exp(log_pi_t)
  soft_value_t = jnp.sum(pi_t * (q_target_t - tau * log_pi_t), axis=-1)
  return jax.lax.stop_gradient(r_t + bonus + discount_t * soft_value_t)


def munchausen_loss(network: value_based.ValueNetwork, params: types.Params,
                    target_params: types.Params,
                    transitions: types.Transition, weights: chex.Array,
                    tau: float, alpha: float, l0: float, huber_delta: float
                    ) -> tuple[chex.Array, dict[str, chex.Array]]:
  """Returns (loss, extras) for a batch of n-step transitions; extras hold
  the new priorities |delta_i|, the mean Q-value and the mean Munchausen
  bonus."""
  chex.assert_rank([transitions.action, transitions.reward,
                    transitions.discount, weights], 1)
  q_tm1 = network.q_values(network.apply(params, transitions.observation))
  q_target_tm1 = network.q_values(
      network.apply(target_params, transitions.observation))
  q_target_t = network.q_values(
      network.apply(target_params, transitions.next_observation))
  chex.assert_equal_shape([q_tm1, q_target_tm1, q_target_t])
  action = transitions.action.astype(jnp.int32)
  target = munchausen_targets(q_target_tm1, action, transitions.reward,
                              transitions.discount, q_target_t, tau, alpha, l0)
  td_error = target - rlax.batched_index(q_tm1, action)
  loss = jnp.mean(weights * rlax.huber_loss(td_error, huber_delta))
  bonus = munchausen_bonus(q_target_tm1, action, tau, alpha, l0)
  return loss, {"priority": jnp.abs(td_error), "q_mean": jnp.mean(q_tm1),
                "munchausen_bonus": jnp.mean(bonus)}
