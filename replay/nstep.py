"""n-step return maths, as pure functions.

For a transition starting at s_t with action a_t, rewards r_{t+k} and
environment discounts d_{t+k} (d = 0 after a termination, 1 otherwise) for
k = 0..m-1, where m <= n is the number of steps before the horizon or the
episode's end:

  R_t^{(m)} = sum_{k=0}^{m-1} ( prod_{j=0}^{k-1} gamma * d_{t+j} ) * r_{t+k}
  Gamma_t^{(m)} = prod_{k=0}^{m-1} gamma * d_{t+k}

so that the n-step target is R_t^{(m)} + Gamma_t^{(m)} * V(s_{t+m})
(Sutton & Barto, 2018, eq. 7.1; Hessel et al., 2018, "Rainbow").

`nstep_return` is the host maths of `replay.adders.NStepTransitionAdder`;
`nstep_transitions_carried` gives the same transitions in jittable form for
the all-on-accelerator runner by carrying each environment's last n-1 steps
from one rollout to the next, so a window is never cut at a rollout's end
(tests/replay/test_nstep_carried.py checks the two agree).
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional, Sequence

import numpy as np

from building_blocks import types


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


class NStepCarry(NamedTuple):
  """The last n-1 steps of each environment, time-major [n-1, N, ...].

  Carried from one rollout to the next by `nstep_transitions_carried`, so
  the transitions that start in them get their full window of
  min(n, steps to the episode's end) steps once the next rollout arrives.
  Same fields and meaning as a rollout's: final_observation[t] is the
  state step t reached before any auto-reset.
  """
  observation: Any
  action: Any
  reward: Any
  terminated: Any
  truncated: Any
  final_observation: Any


def _check_n(n: int) -> None:
  if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
    raise ValueError(f"n must be a Python int >= 1, got {n!r}.")


def _check_steps(observation, action, reward, terminated, truncated,
                 final_observation, what: str) -> None:
  """Asserts time-major [T, N, ...] leaves with the same T and N."""
  import chex  # pylint: disable=g-import-not-at-top

  chex.assert_rank([reward, terminated, truncated], 2)
  chex.assert_equal_shape([reward, terminated, truncated])
  prefix = tuple(reward.shape)
  try:
    chex.assert_tree_shape_prefix(observation, prefix)
    chex.assert_tree_shape_prefix(final_observation, prefix)
    chex.assert_tree_shape_prefix(action, prefix)
    chex.assert_trees_all_equal_structs(observation, final_observation)
  except AssertionError as error:
    raise ValueError(f"{what}: every leaf must be time-major [T, N, ...] with "
                     f"[T, N] = {list(prefix)} as in `reward`, and "
                     f"final_observation must have observation's structure: "
                     f"{error}") from error


def nstep_carry_init(steps: Any, n: Optional[int] = None) -> NStepCarry:
  """The carry for `nstep_transitions_carried`, from a run's first steps.

  `steps` is rollout-like: any object with time-major [T, N, ...] fields
  observation, action, reward, terminated, truncated and final_observation
  (e.g. `building_blocks.anakin.Rollout`). The runner plays n-1 warm-up
  environment steps before its first rollout and passes them here; with
  `n` given, only the first n-1 of `steps` are kept (T >= n-1 required),
  without it all T steps become the carry (so T must be n-1). For n = 1
  the carry is empty ([0, N, ...] leaves) and may come from `steps[:0]` of
  any rollout. Jittable (n static).
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  fields = (steps.observation, steps.action, steps.reward, steps.terminated,
            steps.truncated, steps.final_observation)
  _check_steps(*fields, what="nstep_carry_init")
  if n is not None:
    _check_n(n)
    available = steps.reward.shape[0]
    if available < n - 1:
      raise ValueError(f"nstep_carry_init needs the first n-1 = {n - 1} steps, "
                       f"got only {available}.")
    fields = jax.tree_util.tree_map(lambda x: x[:n - 1], fields)
  return NStepCarry(*jax.tree_util.tree_map(jnp.asarray, fields))


def nstep_transitions_carried(
    carry: NStepCarry, observation: Any, action: Any, reward: Any,
    terminated: Any, truncated: Any, final_observation: Any, n: int,
    gamma: float) -> tuple[NStepCarry, types.Transition]:
  """Full n-step transitions across rollout boundaries: (new_carry, T*N).

  Let x = [carry; rollout] be the last L = T + n - 1 steps of each
  environment (time-major; the carry holds n-1 steps). For every start
  s = 0..T-1 of x the window covers s..s+m-1, where m <= n stops at the
  first step that ends the episode (terminated or truncated), and

    R_s = sum_{k=0}^{m-1} ( prod_{j=0}^{k-1} gamma * d_{s+j} ) * r_{s+k}
    Gamma_s = prod_{k=0}^{m-1} gamma * d_{s+k},  d = 1 - terminated
    s' = final_observation[s + m - 1]

  so Gamma_s = 0 after a termination and keeps gamma^m at a truncation,
  whose s' is the state the truncated step reached (before the reset).
  Since s + n - 1 <= L - 1 every window is complete, exactly as
  `replay.adders.NStepTransitionAdder` writes it: the output is that
  adder's transitions for the steps that start at the carry's n-1 steps
  and the first T-(n-1) of this rollout (a delay of n-1 steps), and the
  new carry is x's last n-1 steps (this rollout's last n-1 when T >= n-1;
  shorter rollouts also work, the carry then keeps older steps).

  Args:
    carry: `NStepCarry` with [n-1, N, ...] leaves (from `nstep_carry_init`
      or the previous call).
    observation, action, reward, terminated, truncated, final_observation:
      this rollout, time-major [T, N, ...]; the observation may be a tree.
    n: the horizon (static Python int >= 1).
    gamma: the discount (float or scalar array).

  Returns:
    (new_carry, transition) with `types.Transition` leaves [T, N, ...]:
    reward and discount float32, action with its dtype. For n = 1 the carry
    stays empty and these are the rollout's own 1-step transitions.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  _check_n(n)
  if isinstance(gamma, (int, float)) and not 0.0 <= gamma <= 1.0:
    raise ValueError(f"gamma must be in [0, 1], got {gamma}.")
  rollout = NStepCarry(*jax.tree_util.tree_map(
      jnp.asarray, (observation, action, reward, terminated, truncated,
                    final_observation)))
  _check_steps(*rollout, what="nstep_transitions_carried (rollout)")
  carry = NStepCarry(*jax.tree_util.tree_map(jnp.asarray, tuple(carry)))
  _check_steps(*carry, what="nstep_transitions_carried (carry)")
  num_steps, num_envs = rollout.reward.shape
  if carry.reward.shape != (n - 1, num_envs):
    raise ValueError(f"the carry must hold n-1 = {n - 1} steps of {num_envs} "
                     f"environments ([n-1, N]), got {carry.reward.shape}; "
                     "was it built for another n or batch?")
  try:
    jax.tree_util.tree_map(_check_leaf_matches, carry, rollout)
  except ValueError as error:
    raise ValueError(f"carry and rollout disagree: {error}") from error

  # x = [carry; rollout], L = T + n - 1 steps.
  joined = jax.tree_util.tree_map(
      lambda c, x: jnp.concatenate([c, x], axis=0), carry, rollout)
  window = lambda x, k: x[k:k + num_steps]  # x[s + k] for s = 0..T-1
  rewards = joined.reward.astype(jnp.float32)
  ended = jnp.logical_or(joined.terminated, joined.truncated)
  continues = 1.0 - joined.terminated.astype(jnp.float32)
  gamma = jnp.asarray(gamma, jnp.float32)

  total = jnp.zeros((num_steps, num_envs), jnp.float32)
  scale = jnp.ones((num_steps, num_envs), jnp.float32)
  in_window = jnp.ones((num_steps, num_envs), jnp.bool_)  # step s+k counts
  next_observation = jax.tree_util.tree_map(lambda x: window(x, 0),
                                            joined.final_observation)
  for k in range(n):
    if k > 0:  # step s+k counts if no step s..s+k-1 ended the episode
      in_window = in_window & ~window(ended, k - 1)
      next_observation = jax.tree_util.tree_map(
          lambda nxt, obs: jnp.where(
              jnp.reshape(in_window, in_window.shape + (1,) * (obs.ndim - 2)),
              window(obs, k), nxt),
          next_observation, joined.final_observation)
    total = total + jnp.where(in_window, scale * window(rewards, k), 0.0)
    scale = jnp.where(in_window, scale * gamma * window(continues, k), scale)

  transition = types.Transition(
      observation=jax.tree_util.tree_map(lambda x: window(x, 0),
                                         joined.observation),
      action=window(joined.action, 0), reward=total, discount=scale,
      next_observation=next_observation)
  new_carry = jax.tree_util.tree_map(lambda x: x[num_steps:], joined)
  return NStepCarry(*new_carry), transition


def _check_leaf_matches(carry_leaf, rollout_leaf) -> None:
  """Carry and rollout leaves must agree on dtype and on all axes but T."""
  if (np.shape(carry_leaf)[1:] != np.shape(rollout_leaf)[1:]
      or carry_leaf.dtype != rollout_leaf.dtype):
    raise ValueError(
        f"carry leaf {carry_leaf.dtype}{list(np.shape(carry_leaf))} vs rollout "
        f"leaf {rollout_leaf.dtype}{list(np.shape(rollout_leaf))} (only the "
        "leading time axis may differ).")
