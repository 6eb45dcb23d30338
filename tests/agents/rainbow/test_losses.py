"""The Rainbow loss: C51's categorical loss when distributional (hand
numbers), DQN's double-Q Huber loss otherwise (against numpy), and noise
drawn from the key in every network output of a noisy network."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from agents.c51 import networks as c51_networks
from agents.rainbow import config as config_lib
from agents.rainbow import losses
from agents.rainbow import networks
from building_blocks import specs
from building_blocks import types
from building_blocks import value_based

SPEC = specs.EnvironmentSpec(
    observations=specs.Array((4,), np.float32),
    actions=specs.DiscreteArray(3, dtype=np.int32),
    rewards=specs.Array((), np.float32),
    discounts=specs.BoundedArray((), np.float32, 0.0, 1.0))


def _batch():
  rng = np.random.default_rng(0)
  return types.Transition(
      observation=rng.normal(size=(5, 4)).astype(np.float32),
      action=np.array([0, 2, 1, 1, 0], np.int32),
      reward=np.array([1.0, 0.5, -2.0, 3.0, 0.0], np.float32),
      discount=np.array([0.99, 0.0, 0.9801, 0.5, 1.0], np.float32),
      next_observation=rng.normal(size=(5, 4)).astype(np.float32) * 3)


WEIGHTS = np.array([1.0, 0.5, 0.25, 0.8, 0.1], np.float32)


def test_distributional_loss_by_hand():
  """Table network (logits chosen by hand): the categorical double-Q
  target of C51; see tests/agents/c51/test_losses.py for the derivation."""
  atoms = c51_networks.make_atoms(3, -1.0, 1.0)
  net = value_based.ValueNetwork(
      init=None, apply=lambda params, obs: params[obs],
      q_values=lambda logits: c51_networks.expected_q_values(logits, atoms))
  log = lambda *p: np.log(np.array(p, np.float32))  # pylint: disable=unnecessary-lambda-assignment
  online = np.stack([log([0.5, 0.25, 0.25], [0.25, 0.25, 0.5]),
                     log([0.2, 0.3, 0.5], [0.6, 0.2, 0.2])])
  target = np.stack([log([1 / 3] * 3, [1 / 3] * 3),
                     log([0.1, 0.1, 0.8], [0.05, 0.05, 0.9])])
  batch = types.Transition(np.array([0], np.int32), np.array([1], np.int32),
                           np.array([0.5], np.float32),
                           np.array([0.5], np.float32), np.array([1], np.int32))
  loss, extras = losses.rainbow_loss(net, online, target, batch,
                                     np.ones(1, np.float32), atoms=atoms,
                                     huber_delta=1.0)
  ce = -(0.15 * np.log(0.25) + 0.85 * np.log(0.5))
  np.testing.assert_allclose(np.asarray(extras["priority"]), [ce], rtol=1e-5)
  np.testing.assert_allclose(float(loss), ce, rtol=1e-5)


def _numpy_huber(x, delta):
  a = np.abs(x)
  return np.where(a <= delta, 0.5 * x ** 2, delta * (a - 0.5 * delta))


@pytest.mark.parametrize("dueling", [False, True])
def test_non_distributional_loss_matches_numpy(dueling):
  config = config_lib.RainbowConfig(hidden_sizes=(8, 8), noisy=False,
                                    distributional=False, dueling=dueling)
  net = networks.make_network(SPEC, config)
  batch = _batch()
  params = net.init(jax.random.PRNGKey(0), batch.observation)
  target_params = net.init(jax.random.PRNGKey(1), batch.observation)

  loss, extras = losses.rainbow_loss(net, params, target_params, batch,
                                     WEIGHTS, atoms=None, huber_delta=1.0)

  q = np.asarray(net.apply(params, batch.observation))
  q_next_online = np.asarray(net.apply(params, batch.next_observation))
  q_next_target = np.asarray(net.apply(target_params, batch.next_observation))
  best = np.argmax(q_next_online, axis=1)
  td = (batch.reward + batch.discount * q_next_target[np.arange(5), best]
        - q[np.arange(5), batch.action])
  np.testing.assert_allclose(np.asarray(extras["priority"]), np.abs(td),
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(float(loss),
                             np.mean(WEIGHTS * _numpy_huber(td, 1.0)),
                             rtol=1e-5)


@pytest.mark.parametrize("distributional", [True, False])
def test_noisy_loss_draws_its_noise_from_the_key(distributional):
  """key None gives the mean networks' loss; a key gives noisy outputs,
  the same for the same key; the target network's noise is drawn apart
  from the online network's (not one draw reused)."""
  config = config_lib.RainbowConfig(hidden_sizes=(8, 8),
                                    distributional=distributional,
                                    num_atoms=11, v_min=-10.0, v_max=10.0)
  net = networks.make_network(SPEC, config)
  batch = _batch()
  params = net.init(jax.random.PRNGKey(0), batch.observation)
  atoms = (c51_networks.make_atoms(11, -10.0, 10.0) if distributional
           else None)

  def loss(network, key=None):
    return float(losses.rainbow_loss(network, params, params, batch, WEIGHTS,
                                     key, atoms=atoms, huber_delta=1.0)[0])

  mean_net = net._replace(stochastic=False,
                          apply=lambda p, obs: net.apply(p, obs, None))
  assert loss(net) == pytest.approx(loss(mean_net), rel=1e-6)
  key = jax.random.PRNGKey(1)
  assert loss(net, key) == loss(net, key)
  assert loss(net, key) != pytest.approx(loss(net), rel=1e-4)
  assert loss(net, key) != pytest.approx(loss(net, jax.random.PRNGKey(2)),
                                         rel=1e-4)
  reused = net._replace(stochastic=False,
                        apply=lambda p, obs: net.apply(p, obs, key))
  assert loss(net, key) != pytest.approx(loss(reused), rel=1e-4)


def test_one_noise_draw_for_the_online_network_at_s_and_s_next():
  """apply_network_to_pair: one forward pass over s and s', the same noise
  for both (the online network of NoisyNet-DQN), the same outputs as two
  passes with that key."""
  net = networks.make_network(SPEC, config_lib.RainbowConfig(
      hidden_sizes=(8, 8), num_atoms=11, v_min=-10.0, v_max=10.0))
  batch = _batch()
  params = net.init(jax.random.PRNGKey(0), batch.observation)
  key = jax.random.PRNGKey(3)
  out_s, out_next = value_based.apply_network_to_pair(
      net, params, batch.observation, batch.next_observation, key)
  np.testing.assert_allclose(np.asarray(out_s),
                             np.asarray(net.apply(params, batch.observation,
                                                  key)), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(
      np.asarray(out_next),
      np.asarray(net.apply(params, batch.next_observation, key)),
      rtol=1e-5, atol=1e-5)
