"""The QR-DQN loss on hand-computed numbers and against a numpy
reference, its priorities, and its config checks."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from agents.qr_dqn import config as config_lib
from agents.qr_dqn import losses
from agents.qr_dqn import networks
from building_blocks import errors
from building_blocks import specs
from building_blocks import types
from building_blocks import value_based

TAUS = np.array([0.25, 0.75], np.float32)  # the midpoints for N = 2


def _table_network() -> value_based.ValueNetwork:
  """Params are a table of quantiles [states, A, N]; observations are
  state indices."""
  return value_based.ValueNetwork(init=None,
                                  apply=lambda params, obs: params[obs],
                                  q_values=networks.mean_q_values)


# State 0 is s, state 1 is s'.
ONLINE = np.array([[[1.0, 2.0], [0.0, 1.0]],     # s
                   [[0.0, 2.0], [0.0, 1.0]]],    # s': Q = 1.0, 0.5
                  np.float32)
TARGET = np.array([[[9.0, 9.0], [9.0, 9.0]],
                   [[1.0, 3.0], [4.0, 6.0]]],    # s': Q = 2.0, 5.0
                  np.float32)
BATCH = types.Transition(
    observation=np.array([0, 0], np.int32), action=np.array([0, 1], np.int32),
    reward=np.array([1.0, -1.0], np.float32),
    discount=np.array([0.5, 0.0], np.float32),
    next_observation=np.array([1, 1], np.int32))
WEIGHTS = np.array([1.0, 0.5], np.float32)


def test_quantile_midpoints():
  np.testing.assert_allclose(np.asarray(networks.quantile_midpoints(2)), TAUS)
  np.testing.assert_allclose(np.asarray(networks.quantile_midpoints(4)),
                             [0.125, 0.375, 0.625, 0.875])


# First item: theta(s, 0) = [1, 2], r = 1, gamma = 0.5.
#   double Q: a* = 0 (online Q 1.0 > 0.5), target quantiles [1, 3], so
#   T theta = [1.5, 2.5]; u_0j = [0.5, 1.5] (tau .25, weight .25 both),
#   u_1j = [-0.5, 0.5] (tau .75: weights .25 and .75).
#   kappa 1: huber(.5) = .125, huber(1.5) = 1.0:
#     QR = mean(.25*.125, .25*1.0) + mean(.25*.125, .75*.125)
#        = .140625 + .0625 = .203125
#   kappa 0: mean(.25*.5, .25*1.5) + mean(.25*.5, .75*.5) = .25 + .25 = .5
#   target selection: a* = 1 (target Q 5 > 2), T theta = [3, 4]; u_0j =
#   [2, 3], u_1j = [1, 2], all positive: kappa 1:
#     mean(.25*1.5, .25*2.5) + mean(.75*.5, .75*1.5) = .5 + .75 = 1.25
# Second item: terminal, r = -1: T theta = [-1, -1]; theta(s, 1) = [0, 1]:
#   u_0j = -1 (weight |.25 - 1| = .75), u_1j = -2 (weight .25).
#   kappa 1: .75*.5 + .25*1.5 = .75;   kappa 0: .75*1 + .25*2 = 1.25
@pytest.mark.parametrize("huber,double_q,first,second", [
    (1.0, True, 0.203125, 0.75),
    (0.0, True, 0.5, 1.25),
    (1.0, False, 1.25, 0.75),
], ids=["huber1_double", "plain_double", "huber1_target_selection"])
def test_quantile_loss_by_hand(huber, double_q, first, second):
  loss, extras = losses.quantile_loss(
      _table_network(), ONLINE, TARGET, BATCH, WEIGHTS, taus=TAUS,
      huber_param=huber, double_q=double_q)
  np.testing.assert_allclose(np.asarray(extras["priority"]), [first, second],
                             rtol=1e-6)
  np.testing.assert_allclose(float(loss), (first + 0.5 * second) / 2,
                             rtol=1e-6)
  # Q(s, .) = [1.5, 0.5]
  np.testing.assert_allclose(float(extras["q_mean"]), 1.0, rtol=1e-6)


def _numpy_quantile_loss(theta, target, taus, kappa):
  u = target[None, :] - theta[:, None]
  weight = np.abs(taus[:, None] - (u < 0))
  a = np.abs(u)
  huber = np.where(a <= kappa, 0.5 * u ** 2, kappa * (a - 0.5 * kappa))
  return np.sum(np.mean(weight * huber, axis=1))


def _numpy_mlp(params, x):
  names = sorted(n for n in params if n.startswith("mlp")) + [
      "value_head/q_hidden", "value_head/q_output"]
  h = x
  for i, name in enumerate(names):
    h = h @ np.asarray(params[name]["w"]) + np.asarray(params[name]["b"])
    if i < len(names) - 1:
      h = np.maximum(h, 0.0)
  return h


def test_quantile_loss_matches_numpy_on_a_network():
  spec = specs.EnvironmentSpec(
      observations=specs.Array((4,), np.float32),
      actions=specs.DiscreteArray(3, dtype=np.int32),
      rewards=specs.Array((), np.float32),
      discounts=specs.BoundedArray((), np.float32, 0.0, 1.0))
  config = config_lib.QRDQNConfig(hidden_sizes=(8, 8), num_quantiles=5)
  net = networks.make_network(spec, config)
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
  taus = (np.arange(5) + 0.5) / 5

  loss, extras = losses.quantile_loss(
      net, params, target_params, batch, weights,
      taus=networks.quantile_midpoints(5), huber_param=1.0)

  dist = lambda p, x: _numpy_mlp(p, x).reshape(len(x), 3, 5)  # pylint: disable=unnecessary-lambda-assignment
  theta = dist(params, batch.observation)
  online_next = dist(params, batch.next_observation)
  target_next = dist(target_params, batch.next_observation)
  expected = []
  for i in range(5):
    best = np.argmax(online_next[i].mean(axis=-1))
    target = batch.reward[i] + batch.discount[i] * target_next[i, best]
    expected.append(_numpy_quantile_loss(theta[i, batch.action[i]], target,
                                         taus, 1.0))
  expected = np.array(expected)
  np.testing.assert_allclose(np.asarray(extras["priority"]), expected,
                             rtol=1e-4)
  np.testing.assert_allclose(float(loss), np.mean(weights * expected),
                             rtol=1e-4)


def test_gradient_does_not_flow_into_the_target():
  """The second item alone, kappa 0.5: u = T theta - theta_i = -1 and -2
  are both beyond kappa, so each term is linear in theta_i and the
  gradient (the target held fixed) is |tau_i - 1| * kappa."""
  batch = jax.tree_util.tree_map(lambda x: x[1:], BATCH)
  grads = jax.grad(lambda p: losses.quantile_loss(
      _table_network(), p, p, batch, np.ones(1, np.float32), taus=TAUS,
      huber_param=0.5)[0])(ONLINE)
  # rho_i(u) = |tau_i - 1| * 0.5 (|u| - 0.25) with |u| = 1 + theta_i:
  # d/d theta_i = |tau_i - 1| * 0.5 = [.375, .125]; nothing reaches s'.
  np.testing.assert_allclose(np.asarray(grads[0, 1]), [0.375, 0.125],
                             atol=1e-6)
  np.testing.assert_allclose(np.asarray(grads[1]), 0.0, atol=1e-7)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(num_quantiles=0), "qr_dqn.num_quantiles must be an integer >= 1"),
    (dict(huber_param=-1.0), "qr_dqn.huber_param must be >= 0"),
])
def test_config_refuses_bad_values(kwargs, needle):
  with pytest.raises(errors.ConfigError) as info:
    config_lib.QRDQNConfig(**kwargs).validate()
  assert needle in str(info.value)
