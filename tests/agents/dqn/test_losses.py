"""The DQN loss against a numpy reference, and its importance weights."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from agents.dqn import config as config_lib
from agents.dqn import losses
from agents.dqn import networks
from building_blocks import specs
from building_blocks import types
from building_blocks import value_based


def _spec(num_actions=3, obs_dim=4):
  return specs.EnvironmentSpec(
      observations=specs.Array((obs_dim,), np.float32),
      actions=specs.DiscreteArray(num_actions, dtype=np.int32),
      rewards=specs.Array((), np.float32),
      discounts=specs.BoundedArray((), np.float32, 0.0, 1.0))


def _numpy_mlp(params, x):
  """Forward pass of the Haiku MLP + Q head in plain numpy."""
  layers = sorted(params)  # mlp/~/linear_0, mlp/~/linear_1, q_value_head/~/linear
  h = x
  for i, name in enumerate(layers):
    h = h @ np.asarray(params[name]["w"]) + np.asarray(params[name]["b"])
    if i < len(layers) - 1:
      h = np.maximum(h, 0.0)
  return h


def _numpy_huber(x, delta):
  a = np.abs(x)
  return np.where(a <= delta, 0.5 * x ** 2, delta * (a - 0.5 * delta))


@pytest.mark.parametrize("huber_delta", [1.0, 100.0])
def test_double_q_loss_matches_numpy(huber_delta):
  config = config_lib.DQNConfig(hidden_sizes=(8, 8))
  net = networks.make_network(_spec(), config)
  rng = np.random.default_rng(0)
  obs = rng.normal(size=(5, 4)).astype(np.float32)
  params = net.init(jax.random.PRNGKey(0), obs)
  target_params = net.init(jax.random.PRNGKey(1), obs)
  batch = types.Transition(
      observation=obs, action=np.array([0, 2, 1, 1, 0], np.int32),
      reward=np.array([1.0, 0.5, -2.0, 3.0, 0.0], np.float32),
      discount=np.array([0.99, 0.0, 0.9801, 0.5, 1.0], np.float32),
      next_observation=rng.normal(size=(5, 4)).astype(np.float32) * 3)
  weights = np.array([1.0, 0.5, 0.25, 0.8, 0.1], np.float32)

  loss, extras = losses.double_q_loss(net, params, target_params, batch,
                                      weights, huber_delta)

  q = _numpy_mlp(params, batch.observation)
  q_next_online = _numpy_mlp(params, batch.next_observation)
  q_next_target = _numpy_mlp(target_params, batch.next_observation)
  best = np.argmax(q_next_online, axis=1)
  target = batch.reward + batch.discount * q_next_target[np.arange(5), best]
  td = target - q[np.arange(5), batch.action]
  expected = np.mean(weights * _numpy_huber(td, huber_delta))
  np.testing.assert_allclose(np.asarray(extras["priority"]), np.abs(td), rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_allclose(float(loss), expected, rtol=1e-5)


def test_importance_weights():
  probs = np.array([0.1, 0.2, 0.4], np.float32)
  w = np.asarray(value_based.importance_weights(probs, np.int64(10), 0.5))
  raw = (10 * probs) ** -0.5
  np.testing.assert_allclose(w, raw / raw.max(), rtol=1e-6)
  assert w.max() == pytest.approx(1.0)


def test_gradient_does_not_flow_into_targets():
  config = config_lib.DQNConfig(hidden_sizes=(4,))
  net = networks.make_network(_spec(2, 1), config)
  obs = np.ones((1, 1), np.float32)
  params = net.init(jax.random.PRNGKey(0), obs)
  batch = types.Transition(obs, np.array([0], np.int32),
                           np.array([1.0], np.float32),
                           np.array([0.9], np.float32), obs)
  grads = jax.grad(lambda p: losses.double_q_loss(
      net, p, p, batch, np.ones(1, np.float32), 10.0)[0])(params)
  q = _numpy_mlp(params, obs)[0]
  td = 1.0 + 0.9 * q[np.argmax(q)] - q[0]
  head = sorted(params)[-1]
  # d/db_0 of 0.5 td^2 with the target held fixed is -td (semi-gradient).
  np.testing.assert_allclose(np.asarray(grads[head]["b"])[0], -td, rtol=1e-5)
