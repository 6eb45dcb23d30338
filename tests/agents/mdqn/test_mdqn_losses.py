"""The Munchausen DQN target and loss against numbers worked out by hand
and against a numpy reference written from the paper's equation."""
from __future__ import annotations

import math
import re

import jax
import numpy as np
import pytest

from agents.mdqn import config as config_lib
from agents.mdqn import losses
from agents.mdqn import networks
from building_blocks import errors
from building_blocks import specs
from building_blocks import types


def _spec(num_actions=3, obs_dim=4):
  return specs.EnvironmentSpec(
      observations=specs.Array((obs_dim,), np.float32),
      actions=specs.DiscreteArray(num_actions, dtype=np.int32),
      rewards=specs.Array((), np.float32),
      discounts=specs.BoundedArray((), np.float32, 0.0, 1.0))


def test_target_on_a_two_action_example_by_hand():
  # tau = 1, alpha = 0.9, l0 = -1; two actions.
  # s: q^-(s, .) = (1, 0), so log pi(.|s) = (1, 0) - log(e + 1)
  #    = (-0.313262, -1.313262).
  # s': q^-(s', .) = (2, 2), soft value tau * logsumexp = 2 + log 2.
  # Item 0 took action 0:  bonus 0.9 * (-0.313262) = -0.281936,
  #   y = 1 - 0.281936 + 0.5 * (2 + log 2) = 2.064638.
  # Item 1 took action 1:  tau log pi = -1.313262 is clipped to -1,
  #   bonus -0.9, y = 1 - 0.9 + 0.5 * (2 + log 2) = 1.446574.
  # Item 2 ended (discount 0), action 0:  y = 2 - 0.281936 = 1.718064.
  q_s = np.array([[1.0, 0.0]] * 3, np.float32)
  q_next = np.array([[2.0, 2.0]] * 3, np.float32)
  y = losses.munchausen_targets(
      q_s, np.array([0, 1, 0]), np.array([1.0, 1.0, 2.0], np.float32),
      np.array([0.5, 0.5, 0.0], np.float32), q_next, tau=1.0, alpha=0.9,
      l0=-1.0)
  soft = 2 + math.log(2)
  np.testing.assert_allclose(
      np.asarray(y), [1 - 0.9 * 0.3132617 + 0.5 * soft,
                      1 - 0.9 + 0.5 * soft, 2 - 0.9 * 0.3132617],
      rtol=1e-5)
  np.testing.assert_allclose(np.asarray(y), [2.064638, 1.446574, 1.718064],
                             rtol=1e-5)


def test_target_soft_value_with_unequal_q_values():
  # tau = 0.5, alpha = 0: soft-DQN, no bonus. q^-(s', .) = (1, 0, -1):
  # pi = softmax((2, 0, -2)) = (0.866813, 0.117310, 0.015876);
  # sum pi (q - tau log pi) = 0.5 * logsumexp((2, 0, -2))
  #   = 0.5 * (2 + log(1 + e^-2 + e^-4)) = 0.5 * 2.142932 = 1.071466.
  y = losses.munchausen_targets(
      np.zeros((1, 3), np.float32), np.array([2]),
      np.array([0.0], np.float32), np.array([1.0], np.float32),
      np.array([[1.0, 0.0, -1.0]], np.float32), tau=0.5, alpha=0.0, l0=-1.0)
  np.testing.assert_allclose(np.asarray(y), [1.071466], rtol=1e-5)


def test_small_tau_and_no_bonus_is_the_q_learning_target():
  rng = np.random.default_rng(0)
  q_s = rng.normal(size=(6, 4)).astype(np.float32)
  q_next = rng.normal(size=(6, 4)).astype(np.float32)
  r = rng.normal(size=6).astype(np.float32)
  d = np.full(6, 0.9, np.float32)
  y = losses.munchausen_targets(q_s, np.arange(6) % 4, r, d, q_next,
                                tau=1e-4, alpha=0.0, l0=-1.0)
  np.testing.assert_allclose(np.asarray(y), r + d * q_next.max(axis=1),
                             atol=1e-3)


def _numpy_mlp(params, x):
  """Forward pass of the Haiku MLP + Q head in plain numpy."""
  layers = sorted(params)
  h = x
  for i, name in enumerate(layers):
    h = h @ np.asarray(params[name]["w"]) + np.asarray(params[name]["b"])
    if i < len(layers) - 1:
      h = np.maximum(h, 0.0)
  return h


def _numpy_huber(x, delta):
  a = np.abs(x)
  return np.where(a <= delta, 0.5 * x ** 2, delta * (a - 0.5 * delta))


def _numpy_log_softmax(z):
  z = z - z.max(axis=1, keepdims=True)
  return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("tau,alpha,l0", [(0.03, 0.9, -1.0), (1.0, 0.5, -0.2)])
def test_loss_matches_numpy(tau, alpha, l0):
  config = config_lib.MDQNConfig(hidden_sizes=(8, 8))
  net = networks.make_network(_spec(), config)
  rng = np.random.default_rng(1)
  obs = rng.normal(size=(5, 4)).astype(np.float32)
  params = net.init(jax.random.PRNGKey(0), obs)
  target_params = net.init(jax.random.PRNGKey(1), obs)
  # n-step items: R and Gamma as the adder stores them (Gamma = 0: ended).
  batch = types.Transition(
      observation=obs, action=np.array([0, 2, 1, 1, 0], np.int32),
      reward=np.array([1.0, 0.5, -2.0, 2.97, 0.0], np.float32),
      discount=np.array([0.99, 0.0, 0.9801, 0.970299, 1.0], np.float32),
      next_observation=rng.normal(size=(5, 4)).astype(np.float32) * 3)
  weights = np.array([1.0, 0.5, 0.25, 0.8, 0.1], np.float32)

  loss, extras = jax.jit(lambda p, t: losses.munchausen_loss(
      net, p, t, batch, weights, tau=tau, alpha=alpha, l0=l0,
      huber_delta=1.0))(params, target_params)

  idx = np.arange(5)
  q = _numpy_mlp(params, batch.observation)
  q_bar = _numpy_mlp(target_params, batch.observation)
  q_bar_next = _numpy_mlp(target_params, batch.next_observation)
  log_pi = _numpy_log_softmax(q_bar / tau)
  bonus = alpha * np.clip(tau * log_pi[idx, batch.action], l0, 0.0)
  log_pi_next = _numpy_log_softmax(q_bar_next / tau)
  soft_v = (np.exp(log_pi_next) * (q_bar_next - tau * log_pi_next)).sum(1)
  y = batch.reward + bonus + batch.discount * soft_v
  td = y - q[idx, batch.action]
  np.testing.assert_allclose(np.asarray(extras["priority"]), np.abs(td),
                             rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(float(loss),
                             np.mean(weights * _numpy_huber(td, 1.0)),
                             rtol=1e-4)
  np.testing.assert_allclose(float(extras["munchausen_bonus"]), bonus.mean(),
                             rtol=1e-4, atol=1e-6)


def test_gradient_does_not_flow_into_the_target():
  config = config_lib.MDQNConfig(hidden_sizes=(4,))
  net = networks.make_network(_spec(2, 1), config)
  obs = np.ones((1, 1), np.float32)
  params = net.init(jax.random.PRNGKey(0), obs)
  batch = types.Transition(obs, np.array([0], np.int32),
                           np.array([1.0], np.float32),
                           np.array([0.9], np.float32), obs)
  # Online and target parameters are the same object: only Q(s, a) moves.
  grads = jax.jit(jax.grad(lambda p: losses.munchausen_loss(
      net, p, p, batch, np.ones(1, np.float32), tau=1.0, alpha=0.9, l0=-1.0,
      huber_delta=100.0)[0]))(params)
  q = _numpy_mlp(params, obs)[0]
  log_pi = _numpy_log_softmax(q[None])[0]
  y = (1.0 + 0.9 * np.clip(log_pi[0], -1, 0)
       + 0.9 * np.sum(np.exp(log_pi) * (q - log_pi)))
  td = y - q[0]
  head = sorted(params)[-1]
  # d/db_0 of 0.5 td^2 with the target held fixed is -td (semi-gradient).
  np.testing.assert_allclose(np.asarray(grads[head]["b"])[0], -td, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(grads[head]["b"])[1], 0.0, atol=1e-7)


@pytest.mark.parametrize("field,value,rule", [
    ("tau", 0.0, "mdqn.tau must be > 0"),
    ("tau", -0.03, "mdqn.tau must be > 0"),
    ("alpha", 1.5, "mdqn.alpha must be in [0, 1]"),
    ("alpha", -0.1, "mdqn.alpha must be in [0, 1]"),
    ("l0", 0.0, "mdqn.l0 must be < 0"),
])
def test_config_refuses_out_of_range_fields(field, value, rule):
  config = config_lib.MDQNConfig(**{field: value})
  with pytest.raises(errors.ConfigError, match=re.escape(rule)):
    config.validate()
