"""n-step return maths, as pure functions.

For a transition starting at s_t with action a_t, rewards r_{t+k} and
environment discounts d_{t+k} (d = 0 after a termination, 1 otherwise) for
k = 0..m-1, where m <= n is the number of steps before the horizon or the
episode's end:

  R_t^{(m)} = sum_{k=0}^{m-1} ( prod_{j=0}^{k-1} gamma * d_{t+j} ) * r_{t+k}
  Gamma_t^{(m)} = prod_{k=0}^{m-1} gamma * d_{t+k}

so that the n-step target is R_t^{(m)} + Gamma_t^{(m)} * V(s_{t+m})
(Sutton & Barto, 2018, eq. 7.1; Hessel et al., 2018, "Rainbow").
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def nstep_return(rewards: Sequence[float], discounts: Sequence[float],
                 gamma: float) -> tuple[np.float32, np.float32]:
  """Returns (R_t^{(m)}, Gamma_t^{(m)}) for m = len(rewards) steps."""
  if len(rewards) != len(discounts) or not rewards:
    raise ValueError("rewards and discounts must be equally long and non-empty, "
                     f"got {len(rewards)} and {len(discounts)}.")
  total = 0.0
  scale = 1.0
  for reward, discount in zip(rewards, discounts):
    total += scale * float(reward)
    scale *= gamma * float(discount)
  return np.float32(total), np.float32(scale)


def nstep_transitions_in_rollout(reward, terminated, truncated,
                                 final_observation, n: int, gamma: float):
  """n-step (R, Gamma, s') for every step of a time-major rollout [T, N].

  The jittable counterpart of the adder's maths for the all-on-accelerator
  runner: the window of step t covers steps t..t+m-1 with m <= n, cut at
  the episode's end (termination: Gamma = 0; truncation: bootstrap from the
  state it reached) and at the end of the rollout (a shorter window is a
  valid target: it bootstraps earlier). Returns (R [T, N], Gamma [T, N],
  next_observation [T, N, ...]) where next_observation is s_{t+m}.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  num_steps = reward.shape[0]
  done = jnp.logical_or(terminated, truncated)

  def shifted(x, k):
    """x[t + k], padded with zeros past the rollout's end."""
    if k == 0:
      return x
    pad = jnp.zeros((k,) + x.shape[1:], x.dtype)
    return jnp.concatenate([x[k:], pad], axis=0)

  time_index = jnp.arange(num_steps)[:, None]
  total = jnp.zeros_like(reward, jnp.float32)
  scale = jnp.ones_like(reward, jnp.float32)
  open_window = jnp.ones_like(done)
  next_observation = final_observation
  for k in range(n):
    in_window = open_window & (time_index + k < num_steps)
    total = total + jnp.where(in_window, scale * shifted(reward, k), 0.0)
    scale = jnp.where(
        in_window,
        scale * gamma * (1.0 - shifted(terminated, k).astype(jnp.float32)),
        scale)
    next_observation = jax.tree_util.tree_map(
        lambda nxt, obs: jnp.where(
            jnp.reshape(in_window, in_window.shape + (1,) * (obs.ndim - 2)),
            shifted(obs, k), nxt),
        next_observation, final_observation)
    open_window = in_window & ~shifted(done, k)
  return total, scale, next_observation
