"""PPO's maths against plain numpy written from the papers' equations."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import distrax

from agents.ppo import losses


def numpy_gae(reward, terminated, truncated, value, final_value, last_value,
              gamma, lam):
  """Backward recursion, one env at a time, straight from the definition:
  delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t), where
  s_{t+1} is the state step t reached (final obs when the episode ended);
  the trace is cut wherever the episode ended."""
  steps, envs = reward.shape
  adv = np.zeros((steps, envs))
  for n in range(envs):
    next_adv = 0.0
    for t in reversed(range(steps)):
      done = terminated[t, n] or truncated[t, n]
      if done:
        bootstrap = 0.0 if terminated[t, n] else final_value[t, n]
      else:
        bootstrap = value[t + 1, n] if t + 1 < steps else last_value[n]
      delta = reward[t, n] + gamma * bootstrap - value[t, n]
      next_adv = delta + (0.0 if done else gamma * lam * next_adv)
      adv[t, n] = next_adv
  return adv


def test_gae_matches_definition_with_terminations_and_truncations():
  rng = np.random.default_rng(0)
  steps, envs = 12, 3
  reward = rng.normal(size=(steps, envs)).astype(np.float32)
  value = rng.normal(size=(steps, envs)).astype(np.float32)
  final_value = rng.normal(size=(steps, envs)).astype(np.float32)
  last_value = rng.normal(size=(envs,)).astype(np.float32)
  terminated = np.zeros((steps, envs), bool)
  truncated = np.zeros((steps, envs), bool)
  terminated[3, 0] = terminated[9, 1] = True
  truncated[5, 0] = truncated[11, 2] = truncated[0, 1] = True
  got = losses.gae_advantages(reward, terminated, truncated, value,
                              final_value, last_value, 0.97, 0.9)
  want = numpy_gae(reward, terminated, truncated, value, final_value,
                   last_value, 0.97, 0.9)
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


def test_gae_lambda_one_is_discounted_return_minus_value():
  reward = np.ones((4, 1), np.float32)
  no = np.zeros((4, 1), bool)
  value = np.zeros((4, 1), np.float32)
  adv = losses.gae_advantages(reward, no, no, value, value,
                              np.array([10.0], np.float32), 0.5, 1.0)
  # G_0 = 1 + .5 + .25 + .125 + .0625 * 10
  np.testing.assert_allclose(np.asarray(adv)[0, 0], 1.875 + 0.625, rtol=1e-6)


def _linear_apply(params, obs):
  """A tiny actor-critic: logits = obs @ W, value = obs @ v."""
  return obs @ params["w"], obs @ params["v"]


def _categorical(logits):
  return distrax.Categorical(logits=logits)


@pytest.mark.parametrize("clip_value", [False, True])
def test_ppo_loss_matches_numpy(clip_value):
  rng = np.random.default_rng(1)
  batch_size, obs_dim, actions = 16, 3, 4
  params = {"w": rng.normal(size=(obs_dim, actions)).astype(np.float32),
            "v": rng.normal(size=(obs_dim,)).astype(np.float32)}
  obs = rng.normal(size=(batch_size, obs_dim)).astype(np.float32)
  action = rng.integers(0, actions, size=batch_size).astype(np.int32)
  old_log_prob = rng.normal(-1.4, 0.3, size=batch_size).astype(np.float32)
  old_value = rng.normal(size=batch_size).astype(np.float32)
  advantage = rng.normal(size=batch_size).astype(np.float32)
  target = rng.normal(size=batch_size).astype(np.float32)
  batch = losses.PPOBatch(obs, action, old_log_prob, old_value, advantage,
                          target)
  eps, c_v, c_h = 0.2, 0.5, 0.01
  loss, extras = losses.ppo_loss(_linear_apply, _categorical, params, batch,
                                 eps, clip_value, c_v, c_h, True)

  logits = obs @ params["w"]
  log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  log_prob = log_softmax[np.arange(batch_size), action]
  ratio = np.exp(log_prob - old_log_prob)
  adv = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
  policy_loss = -np.mean(np.minimum(ratio * adv,
                                    np.clip(ratio, 1 - eps, 1 + eps) * adv))
  value = obs @ params["v"]
  value_loss = 0.5 * (value - target) ** 2
  if clip_value:
    clipped = old_value + np.clip(value - old_value, -eps, eps)
    value_loss = np.maximum(value_loss, 0.5 * (clipped - target) ** 2)
  probs = np.exp(log_softmax)
  entropy = -np.sum(probs * log_softmax, axis=-1).mean()
  want = policy_loss + c_v * value_loss.mean() - c_h * entropy
  np.testing.assert_allclose(float(extras["policy_loss"]), policy_loss, rtol=1e-5)
  np.testing.assert_allclose(float(extras["value_loss"]), value_loss.mean(), rtol=1e-5)
  np.testing.assert_allclose(float(extras["entropy"]), entropy, rtol=1e-5)
  np.testing.assert_allclose(float(loss), want, rtol=1e-5, atol=1e-6)


def test_ppo_loss_gradient_is_zero_outside_the_clip_region():
  """With A > 0 and rho > 1 + eps the clipped objective is flat in theta."""
  params = {"w": jnp.array([[3.0, 0.0]]), "v": jnp.zeros((1,))}
  obs = jnp.ones((1, 1))
  batch = losses.PPOBatch(obs, jnp.array([0]), jnp.array([-2.0]),
                          jnp.zeros(1), jnp.array([1.0]), jnp.zeros(1))
  grads = jax.grad(lambda p: losses.ppo_loss(
      _linear_apply, _categorical, p, batch, 0.2, False, 0.0, 0.0, False)[0])(
          params)
  np.testing.assert_allclose(np.asarray(grads["w"]), 0.0, atol=1e-7)
