"""The jitted n-step maths of the all-on-accelerator runner against the
windowed definition computed with replay.nstep.nstep_return."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from replay import nstep


def reference(reward, terminated, truncated, final_obs, n, gamma):
  steps, envs = reward.shape
  ret = np.zeros((steps, envs), np.float32)
  disc = np.zeros((steps, envs), np.float32)
  nxt = np.zeros_like(final_obs)
  for e in range(envs):
    for t in range(steps):
      rewards, discounts = [], []
      k = t
      while True:
        rewards.append(reward[k, e])
        discounts.append(0.0 if terminated[k, e] else 1.0)
        ended = terminated[k, e] or truncated[k, e]
        if ended or len(rewards) == n or k + 1 == steps:
          break
        k += 1
      ret[t, e], disc[t, e] = nstep.nstep_return(rewards, discounts, gamma)
      nxt[t, e] = final_obs[k, e]
  return ret, disc, nxt


@pytest.mark.parametrize("n", [1, 3, 5])
def test_matches_windowed_definition(n):
  rng = np.random.default_rng(n)
  steps, envs = 20, 4
  reward = rng.normal(size=(steps, envs)).astype(np.float32)
  terminated = rng.random((steps, envs)) < 0.1
  truncated = (rng.random((steps, envs)) < 0.1) & ~terminated
  final_obs = rng.normal(size=(steps, envs, 2)).astype(np.float32)
  got = jax.jit(nstep.nstep_transitions_in_rollout, static_argnums=(4, 5))(
      reward, terminated, truncated, final_obs, n, 0.9)
  want = reference(reward, terminated, truncated, final_obs, n, 0.9)
  for g, w in zip(got, want):
    np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5, atol=1e-6)


def test_terminal_step_has_zero_discount_and_truncated_keeps_bootstrap():
  reward = np.ones((3, 1), np.float32)
  terminated = np.array([[False], [True], [False]])
  truncated = np.array([[False], [False], [True]])
  obs = np.arange(3, dtype=np.float32).reshape(3, 1, 1)
  ret, disc, nxt = nstep.nstep_transitions_in_rollout(
      reward, terminated, truncated, obs, 3, 0.5)
  np.testing.assert_allclose(np.asarray(ret)[:, 0], [1.5, 1.0, 1.0])
  np.testing.assert_allclose(np.asarray(disc)[:, 0], [0.0, 0.0, 0.5])
  np.testing.assert_allclose(np.asarray(nxt)[:, 0, 0], [1.0, 1.0, 2.0])
