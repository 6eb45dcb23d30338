"""TD3's losses against hand-computed numbers and a numpy reference."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from agents.td3 import config as config_lib
from agents.td3 import losses
from agents.td3 import networks
from building_blocks import errors
from tests.agents import continuous_helpers as helpers
from building_blocks import types


def _policy(params, obs):
  return np.tanh(helpers.mlp(params, "mlp", "linear", obs))


def _critics(params, obs, action):
  x = np.concatenate([obs, action], axis=-1)
  return np.concatenate([helpers.mlp(params, "mlp", "linear", x),
                         helpers.mlp(params, "mlp_1", "linear_1", x)], axis=-1)


def test_smoothed_target_action_by_hand():
  action = np.array([[0.9, -0.2], [0.0, -0.9]], np.float32)
  noise = np.array([[0.7, -0.1], [-0.3, -0.6]], np.float32)
  smoothed = np.asarray(losses.smoothed_target_action(action, noise, 0.5))
  # noise clipped to +-0.5, then the sum clipped to [-1, 1]
  np.testing.assert_allclose(smoothed, [[1.0, -0.3], [-0.3, -1.0]],
                             rtol=1e-6)


def test_clipped_double_q_target_by_hand():
  target = losses.clipped_double_q_target(
      np.array([1.0, 2.0, -1.0], np.float32),
      np.array([0.9, 0.0, 0.5], np.float32),
      np.array([[3.0, 5.0], [7.0, -1.0], [-4.0, 2.0]], np.float32))
  # 1 + 0.9 * 3;  2 + 0 * -1;  -1 + 0.5 * -4
  np.testing.assert_allclose(np.asarray(target), [3.7, 2.0, -3.0], rtol=1e-6)


def _setup(batch=6):
  config = config_lib.TD3Config(policy_hidden_sizes=(8, 8),
                                critic_hidden_sizes=(8, 8))
  net = networks.make_networks(helpers.spec(), config)
  rng = np.random.default_rng(0)
  obs = rng.normal(size=(batch, 3)).astype(np.float32)
  act = rng.uniform(-1, 1, size=(batch, 2)).astype(np.float32)
  params = {
      "policy": net.policy_init(jax.random.PRNGKey(0), obs),
      "critic": net.critic_init(jax.random.PRNGKey(1), obs, act),
      "target_policy": net.policy_init(jax.random.PRNGKey(2), obs),
      "target_critic": net.critic_init(jax.random.PRNGKey(3), obs, act)}
  transitions = types.Transition(
      observation=obs, action=act,
      reward=rng.normal(size=batch).astype(np.float32),
      discount=np.array([0.99, 0.0, 0.98, 0.5, 1.0, 0.9], np.float32),
      next_observation=rng.normal(size=(batch, 3)).astype(np.float32) * 2)
  return net, params, transitions


def test_critic_loss_matches_numpy_with_fixed_smoothing_noise():
  net, p, t = _setup()
  weights = np.array([1.0, 0.5, 0.25, 0.8, 0.1, 1.0], np.float32)
  key = jax.random.PRNGKey(42)
  loss, extras = losses.critic_loss(net, p["critic"], p["target_policy"],
                                    p["target_critic"], t, weights, key,
                                    target_noise=0.2, target_noise_clip=0.5)
  # The same noise draw as the loss: 0.2 * N(0, 1) from `key`.
  noise = 0.2 * np.asarray(jax.random.normal(key, (6, 2)), np.float64)
  next_action = np.clip(_policy(p["target_policy"], t.next_observation)
                        + np.clip(noise, -0.5, 0.5), -1, 1)
  q_next = _critics(p["target_critic"], t.next_observation, next_action)
  y = t.reward + t.discount * q_next.min(axis=1)
  q = _critics(p["critic"], t.observation, t.action)
  expected = np.mean(weights * ((y[:, None] - q) ** 2).sum(axis=1))
  np.testing.assert_allclose(float(loss), expected, rtol=1e-4)
  np.testing.assert_allclose(np.asarray(extras["priority"]),
                             np.abs(y - q[:, 0]), rtol=1e-4, atol=1e-5)


def test_critic_gradient_treats_the_target_as_fixed():
  net, p, t = _setup()
  weights = np.ones(6, np.float32)
  key = jax.random.PRNGKey(0)
  # With the online critic as the target critic, a full gradient would
  # differ from the semi-gradient: check d/d(bias of Q_1's head).
  grads = jax.grad(lambda c: losses.critic_loss(
      net, c, p["target_policy"], c, t, weights, key, 0.2, 0.5)[0])(
          p["critic"])
  noise = 0.2 * np.asarray(jax.random.normal(key, (6, 2)), np.float64)
  next_action = np.clip(_policy(p["target_policy"], t.next_observation)
                        + np.clip(noise, -0.5, 0.5), -1, 1)
  y = t.reward + t.discount * _critics(p["critic"], t.next_observation,
                                       next_action).min(axis=1)
  q1 = _critics(p["critic"], t.observation, t.action)[:, 0]
  np.testing.assert_allclose(float(np.asarray(grads["linear"]["b"])[0]),
                             np.mean(-2 * (y - q1)), rtol=1e-4)


def test_policy_loss_matches_numpy():
  net, p, t = _setup()
  loss, _ = losses.policy_loss(net, p["policy"], p["critic"], t)
  action = _policy(p["policy"], t.observation)
  expected = -np.mean(_critics(p["critic"], t.observation, action)[:, 0])
  np.testing.assert_allclose(float(loss), expected, rtol=1e-4)


@pytest.mark.parametrize("field,value,needle", [
    ("policy_update_period", 3, "must be a multiple of td3.policy_update_period"),
    ("policy_update_period", 0, "td3.policy_update_period must be an integer"),
    ("target_noise", -0.1, "td3.target_noise must be >= 0"),
    ("exploration_noise", -1.0, "td3.exploration_noise must be >= 0"),
])
def test_config_validation(field, value, needle):
  with pytest.raises(errors.ConfigError, match=needle):
    config_lib.TD3Config(**{field: value}).validate()
