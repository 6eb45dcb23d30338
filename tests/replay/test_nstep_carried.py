"""n-step transitions carried across rollouts against NStepTransitionAdder.

The all-on-accelerator runner's `nstep_transitions_carried` must give the
single-process runner's adder targets (s_t, a_t, R_t, Gamma_t, s_{t+m})
exactly, only n-1 steps later.
"""
from __future__ import annotations

import dm_env
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from building_blocks import types
from replay import adders
from replay import nstep

TOL = dict(rtol=1e-6, atol=1e-6)


def _stream(seed: int, num_steps: int, num_envs: int) -> nstep.NStepCarry:
  """Random auto-resetting episodes, time-major [num_steps, num_envs].

  observation[t, e] = [t, e, noise], so each transition's start is known;
  an episode's last step reaches final_observation [t + 0.5, e, noise] and
  the next step starts from a fresh reset observation. Episodes end by
  termination, truncation or (rarely) both, which counts as termination.
  """
  rng = np.random.default_rng(seed)
  obs = np.zeros((num_steps, num_envs, 3), np.float32)
  final = np.zeros_like(obs)
  action = rng.integers(0, 100, (num_steps, num_envs)).astype(np.int32)
  reward = rng.normal(size=(num_steps, num_envs)).astype(np.float32)
  terminated = np.zeros((num_steps, num_envs), bool)
  truncated = np.zeros((num_steps, num_envs), bool)
  for e in range(num_envs):
    current = np.array([0.0, e, rng.normal()], np.float32)
    left = rng.integers(1, 9)
    for t in range(num_steps):
      obs[t, e] = current
      left -= 1
      following = np.array([t + 1, e, rng.normal()], np.float32)
      if left == 0:
        end = rng.random()
        terminated[t, e] = end < 0.5 or end > 0.95
        truncated[t, e] = end >= 0.5
        final[t, e] = [t + 0.5, e, rng.normal()]
        left = rng.integers(1, 9)
      else:
        final[t, e] = following
      current = following
  return nstep.NStepCarry(obs, action, reward, terminated, truncated, final)


class _ListSink:

  def __init__(self):
    self.items = []

  def __call__(self, transition, priority):
    del priority
    self.items.append(transition)


def _adder_transitions(stream: nstep.NStepCarry, n: int, gamma: float):
  """{(env, start step): transition} from one adder per environment."""
  num_steps, num_envs = stream.reward.shape
  found = {}
  for e in range(num_envs):
    sink = _ListSink()
    adder = adders.NStepTransitionAdder(sink, n_step=n, discount=gamma)
    for t in range(num_steps):
      if t == 0 or stream.terminated[t - 1, e] or stream.truncated[t - 1, e]:
        adder.add_first(dm_env.restart(stream.observation[t, e]))
      reward = stream.reward[t, e]
      reached = stream.final_observation[t, e]
      if stream.terminated[t, e]:
        step = dm_env.termination(reward, reached)
      elif stream.truncated[t, e]:
        step = dm_env.truncation(reward, reached, np.float32(1.0))
      else:
        step = dm_env.transition(reward, reached, np.float32(1.0))
      adder.add(stream.action[t, e], step)
    for transition in sink.items:
      found[(e, int(transition.observation[0]))] = transition
  return found


def _carried_transitions(stream: nstep.NStepCarry, n: int, gamma: float,
                         rollout_length: int):
  """{(env, start step): transition} from carry_init + carried rollouts."""
  num_steps, num_envs = stream.reward.shape
  carry = nstep.nstep_carry_init(stream, n=n)
  step = jax.jit(nstep.nstep_transitions_carried, static_argnames="n")
  found = {}
  for start in range(n - 1, num_steps, rollout_length):
    rollout = [x[start:start + rollout_length] for x in stream]
    assert rollout[2].shape[0] == rollout_length
    carry, out = step(carry, *rollout, n=n, gamma=gamma)
    out = jax.tree_util.tree_map(np.asarray, out)
    assert out.reward.shape == (rollout_length, num_envs)
    assert out.action.dtype == np.int32
    assert out.reward.dtype == out.discount.dtype == np.float32
    for t in range(rollout_length):
      for e in range(num_envs):
        key = (e, int(out.observation[t, e, 0]))
        assert key not in found, f"{key} emitted twice"
        found[key] = jax.tree_util.tree_map(lambda x: x[t, e], out)
  # The carry is always the stream's last n-1 steps.
  for got, want in zip(carry, stream):
    np.testing.assert_array_equal(np.asarray(got), want[num_steps - (n - 1):])
  return found


@pytest.mark.parametrize("n,rollout_length", [(3, 8), (5, 5), (1, 4), (4, 2)])
def test_matches_adder_on_random_streams(n, rollout_length):
  gamma = 0.9
  num_rollouts, num_envs = 6, 3
  num_steps = (n - 1) + num_rollouts * rollout_length
  stream = _stream(seed=10 * n + rollout_length, num_steps=num_steps,
                   num_envs=num_envs)
  assert stream.terminated.any() and stream.truncated.any()
  want = _adder_transitions(stream, n, gamma)
  got = _carried_transitions(stream, n, gamma, rollout_length)
  # Every step is emitted exactly once, n-1 steps late; the adder emits the
  # last n-1 steps only if their episode ended within the stream.
  emitted = num_steps - (n - 1)
  assert sorted(got) == [(e, t) for e in range(num_envs)
                         for t in range(emitted)]
  assert {k for k in want if k[1] < emitted} == set(got)
  for key in sorted(got):
    g, w = got[key], want[key]
    np.testing.assert_array_equal(g.observation, w.observation)
    assert int(g.action) == int(w.action)
    np.testing.assert_allclose(g.reward, w.reward, **TOL, err_msg=str(key))
    np.testing.assert_allclose(g.discount, w.discount, **TOL,
                               err_msg=str(key))
    np.testing.assert_array_equal(g.next_observation, w.next_observation)


def test_hand_worked_example():
  """n = 3, gamma = 0.9, one environment, rollouts of T = 5.

  step  0  1  2  3     4  5      6  7  8  9  10 11
  r     1  2  3  4     5  6      7  8  9  10 11 12
  end            term     trunc
  Observation t is [t]; the termination reaches [100], the truncation [200].
  Warm-up = steps 0-1 (the carry); rollout 1 = steps 2-6 gives starts 0-4,
  rollout 2 = steps 7-11 gives starts 5-9.
  """
  num_steps = 12
  obs = np.arange(num_steps, dtype=np.float32).reshape(num_steps, 1, 1)
  final = obs + 1.0
  final[3], final[5] = 100.0, 200.0
  reward = obs[..., 0] + 1.0
  terminated = np.zeros((num_steps, 1), bool)
  truncated = np.zeros((num_steps, 1), bool)
  terminated[3], truncated[5] = True, True
  stream = nstep.NStepCarry(obs, np.arange(num_steps, dtype=np.uint8)[:, None],
                            reward, terminated, truncated, final)
  carry = nstep.nstep_carry_init(
      nstep.NStepCarry(*[x[:2] for x in stream]))
  carry, first = nstep.nstep_transitions_carried(
      carry, *[x[2:7] for x in stream], n=3, gamma=0.9)
  carry, second = nstep.nstep_transitions_carried(
      carry, *[x[7:12] for x in stream], n=3, gamma=0.9)
  table = lambda tr: np.stack([np.asarray(tr.observation)[:, 0, 0],
                               np.asarray(tr.reward)[:, 0],
                               np.asarray(tr.discount)[:, 0],
                               np.asarray(tr.next_observation)[:, 0, 0]], -1)
  np.testing.assert_allclose(table(first), [
      # s_t  R_t                    Gamma_t  s'
      [0, 1 + 0.9 * 2 + 0.81 * 3, 0.729, 3],   # carry -> rollout 1
      [1, 2 + 0.9 * 3 + 0.81 * 4, 0.0, 100],   # cut by the termination
      [2, 3 + 0.9 * 4, 0.0, 100],
      [3, 4, 0.0, 100],
      [4, 5 + 0.9 * 6, 0.81, 200],             # cut by the truncation
  ], **TOL)
  np.testing.assert_allclose(table(second), [
      [5, 6, 0.9, 200],                        # the truncated step alone
      [6, 7 + 0.9 * 8 + 0.81 * 9, 0.729, 9],   # carry -> rollout 2
      [7, 8 + 0.9 * 9 + 0.81 * 10, 0.729, 10],
      [8, 9 + 0.9 * 10 + 0.81 * 11, 0.729, 11],
      [9, 10 + 0.9 * 11 + 0.81 * 12, 0.729, 12],
  ], **TOL)
  assert first.action.dtype == jnp.uint8
  np.testing.assert_array_equal(np.asarray(first.action)[:, 0], [0, 1, 2, 3, 4])
  np.testing.assert_array_equal(np.asarray(carry.observation)[:, 0, 0],
                                [10, 11])


def test_one_step_has_empty_carry():
  stream = _stream(seed=0, num_steps=4, num_envs=2)
  carry = nstep.nstep_carry_init(stream, n=1)
  assert carry.reward.shape == (0, 2)
  carry, out = nstep.nstep_transitions_carried(carry, *stream, n=1, gamma=0.5)
  assert carry.observation.shape == (0, 2, 3)
  np.testing.assert_allclose(out.reward, stream.reward)
  np.testing.assert_allclose(out.discount, 0.5 * (1.0 - stream.terminated))
  np.testing.assert_array_equal(out.next_observation, stream.final_observation)


def test_jits_and_vmaps_over_seeds():
  """A batch of seeds equals running each seed alone; tree observations."""
  n, warmup, steps, envs = 3, 2, 6, 2

  def rollout_from(key, length):
    k_obs, k_rew, k_term, k_trunc, k_act = jax.random.split(key, 5)
    obs = {"x": jax.random.normal(k_obs, (length, envs, 2)),
           "y": jnp.zeros((length, envs), jnp.int32)}
    final = jax.tree_util.tree_map(lambda x: x + 1, obs)
    return nstep.NStepCarry(
        obs, jax.random.randint(k_act, (length, envs), 0, 4),
        jax.random.normal(k_rew, (length, envs)),
        jax.random.bernoulli(k_term, 0.2, (length, envs)),
        jax.random.bernoulli(k_trunc, 0.2, (length, envs)), final)

  def run(seed):
    key = jax.random.PRNGKey(seed)
    k_warm, k_roll = jax.random.split(key)
    carry = nstep.nstep_carry_init(rollout_from(k_warm, warmup), n=n)
    return nstep.nstep_transitions_carried(carry, *rollout_from(k_roll, steps),
                                           n=n, gamma=0.99)

  seeds = jnp.arange(4)
  batched = jax.jit(jax.vmap(run))(seeds)
  carry, out = batched
  assert isinstance(out, types.Transition)
  assert out.reward.shape == (4, steps, envs)
  assert out.observation["x"].shape == (4, steps, envs, 2)
  assert out.next_observation["y"].dtype == jnp.int32
  assert carry.reward.shape == (4, n - 1, envs)
  for i in range(4):
    alone = run(int(seeds[i]))
    jax.tree_util.tree_map(
        lambda b, a, i=i: np.testing.assert_allclose(b[i], a, **TOL),
        batched, alone)


def test_mismatched_carry_is_reported():
  stream = _stream(seed=1, num_steps=6, num_envs=2)
  carry = nstep.nstep_carry_init(stream, n=3)
  with pytest.raises(ValueError, match="n-1 = 3"):
    nstep.nstep_transitions_carried(carry, *stream, n=4, gamma=0.9)
  with pytest.raises(ValueError, match="first n-1"):
    nstep.nstep_carry_init(nstep.NStepCarry(*[x[:1] for x in stream]), n=3)
  wrong_dtype = carry._replace(action=carry.action.astype(jnp.float32))
  with pytest.raises(ValueError, match="disagree"):
    nstep.nstep_transitions_carried(wrong_dtype, *stream, n=3, gamma=0.9)
  with pytest.raises(ValueError, match="n must be"):
    nstep.nstep_transitions_carried(carry, *stream, n=0, gamma=0.9)
