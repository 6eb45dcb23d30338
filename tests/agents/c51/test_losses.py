"""The C51 loss on hand-computed numbers and against a numpy reference
(projection written out as in the paper's algorithm 1), its priorities,
the expected Q-values, and its config checks."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from agents.c51 import agent as c51_agent
from agents.c51 import config as config_lib
from agents.c51 import losses
from agents.c51 import networks
from building_blocks import agent as agent_lib
from building_blocks import errors
from building_blocks import specs
from building_blocks import types
from building_blocks import value_based

ATOMS = np.array([-1.0, 0.0, 1.0], np.float32)


def _spec(num_actions=2, obs_dim=4, rewards=None):
  return specs.EnvironmentSpec(
      observations=specs.Array((obs_dim,), np.float32),
      actions=specs.DiscreteArray(num_actions, dtype=np.int32),
      rewards=rewards or specs.Array((), np.float32),
      discounts=specs.BoundedArray((), np.float32, 0.0, 1.0))


def jnp_atoms():
  return networks.make_atoms(3, -1.0, 1.0)


def _table_network() -> value_based.ValueNetwork:
  """A 'network' whose params are a table of logits [states, A, K] and
  whose observations are state indices: outputs chosen by hand."""
  return value_based.ValueNetwork(
      init=None, apply=lambda params, obs: params[obs],
      q_values=lambda logits: networks.expected_q_values(logits,
                                                         jnp_atoms()))


def _logits(*probabilities):
  return np.log(np.array(probabilities, np.float32))


# State 0 is s (both transitions start there), state 1 is s'.
ONLINE = np.stack([
    _logits([0.5, 0.25, 0.25], [0.25, 0.25, 0.5]),   # s: Q = -0.25, 0.25
    _logits([0.2, 0.3, 0.5], [0.6, 0.2, 0.2]),      # s': Q = 0.3, -0.4
])
TARGET = np.stack([
    _logits([1 / 3, 1 / 3, 1 / 3], [1 / 3, 1 / 3, 1 / 3]),
    _logits([0.1, 0.1, 0.8], [0.05, 0.05, 0.9]),    # s': Q = 0.7, 0.85
])
BATCH = types.Transition(
    observation=np.array([0, 0], np.int32), action=np.array([1, 0], np.int32),
    reward=np.array([0.5, -0.3], np.float32),
    discount=np.array([0.5, 0.0], np.float32),
    next_observation=np.array([1, 1], np.int32))
WEIGHTS = np.array([1.0, 0.5], np.float32)


def test_expected_q_values_are_sum_z_p():
  q = networks.expected_q_values(ONLINE, jnp_atoms())
  np.testing.assert_allclose(np.asarray(q), [[-0.25, 0.25], [0.3, -0.4]],
                             atol=1e-6)


@pytest.mark.parametrize("double_q,first_ce", [
    # Double Q: the online network picks a* = 0 at s' (Q 0.3 > -0.4); the
    # target's p(s', 0) = [.1, .1, .8] on T z = 0.5 + 0.5 z = [0, .5, 1]
    # projects to m = [0, .1 + .05, .05 + .8] = [0, .15, .85];
    # CE = -(.15 ln .25 + .85 ln .5) with p(s, 1) = [.25, .25, .5].
    (True, -(0.15 * np.log(0.25) + 0.85 * np.log(0.5))),
    # Target selection (the C51 paper): a* = 1 (Q 0.85 > 0.7),
    # m = [0, .05 + .025, .025 + .9] = [0, .075, .925].
    (False, -(0.075 * np.log(0.25) + 0.925 * np.log(0.5))),
], ids=["double_q", "target_selection"])
def test_categorical_loss_by_hand(double_q, first_ce):
  loss, extras = losses.categorical_loss(
      _table_network(), ONLINE, TARGET, BATCH, WEIGHTS, atoms=jnp_atoms(),
      double_q=double_q)
  # Second item: terminal (discount 0), so the target is the point mass at
  # R = -0.3, split 0.3 / 0.7 between atoms -1 and 0: m = [.3, .7, 0];
  # CE = -(.3 ln .5 + .7 ln .25) with p(s, 0) = [.5, .25, .25].
  second_ce = -(0.3 * np.log(0.5) + 0.7 * np.log(0.25))
  np.testing.assert_allclose(np.asarray(extras["priority"]),
                             [first_ce, second_ce], rtol=1e-5)
  np.testing.assert_allclose(float(loss),
                             (1.0 * first_ce + 0.5 * second_ce) / 2, rtol=1e-5)
  np.testing.assert_allclose(float(extras["q_mean"]), 0.0, atol=1e-6)


def _numpy_mlp(params, x):
  """Forward pass of make_value_network (MLP torso, one-stream head) in
  numpy: layers in the order mlp/..., value_head/q_hidden, q_output."""
  names = sorted(n for n in params if n.startswith("mlp")) + [
      "value_head/q_hidden", "value_head/q_output"]
  h = x
  for i, name in enumerate(names):
    h = h @ np.asarray(params[name]["w"]) + np.asarray(params[name]["b"])
    if i < len(names) - 1:
      h = np.maximum(h, 0.0)
  return h


def _numpy_projection(target_atoms, probs, atoms):
  """Bellemare et al. (2017), algorithm 1, lines 5-10."""
  v_min, v_max = atoms[0], atoms[-1]
  dz = atoms[1] - atoms[0]
  m = np.zeros_like(atoms, dtype=np.float64)
  for tz, p in zip(target_atoms, probs):
    b = (np.clip(tz, v_min, v_max) - v_min) / dz
    lower, upper = int(np.floor(b)), int(np.ceil(b))
    if lower == upper:
      m[lower] += p
    else:
      m[lower] += p * (upper - b)
      m[upper] += p * (b - lower)
  return m


def _softmax(x):
  e = np.exp(x - x.max(axis=-1, keepdims=True))
  return e / e.sum(axis=-1, keepdims=True)


def test_categorical_loss_matches_numpy_on_a_network():
  config = config_lib.C51Config(hidden_sizes=(8, 8), num_atoms=11,
                                v_min=-5.0, v_max=5.0)
  net = networks.make_network(_spec(3), config)
  atoms = np.linspace(-5.0, 5.0, 11).astype(np.float32)
  rng = np.random.default_rng(0)
  obs = rng.normal(size=(5, 4)).astype(np.float32)
  params = net.init(jax.random.PRNGKey(0), obs)
  target_params = net.init(jax.random.PRNGKey(1), obs)
  batch = types.Transition(
      observation=obs, action=np.array([0, 2, 1, 1, 0], np.int32),
      reward=np.array([1.0, 0.5, -2.0, 3.0, 7.0], np.float32),
      discount=np.array([0.99, 0.0, 0.9801, 0.5, 1.0], np.float32),
      next_observation=rng.normal(size=(5, 4)).astype(np.float32) * 3)
  weights = np.array([1.0, 0.5, 0.25, 0.8, 0.1], np.float32)

  loss, extras = losses.categorical_loss(
      net, params, target_params, batch, weights,
      atoms=networks.make_atoms(11, -5.0, 5.0))

  def dist(p, x):
    return _softmax(_numpy_mlp(p, x).reshape(len(x), 3, 11))

  p_tm1 = dist(params, batch.observation)
  p_next_online = dist(params, batch.next_observation)
  p_next_target = dist(target_params, batch.next_observation)
  ce = []
  for i in range(5):
    best = np.argmax(p_next_online[i] @ atoms)
    m = _numpy_projection(batch.reward[i] + batch.discount[i] * atoms,
                          p_next_target[i, best], atoms)
    ce.append(-np.sum(m * np.log(p_tm1[i, batch.action[i]])))
  ce = np.array(ce)
  np.testing.assert_allclose(np.asarray(extras["priority"]), ce, rtol=1e-4)
  np.testing.assert_allclose(float(loss), np.mean(weights * ce), rtol=1e-4)
  np.testing.assert_allclose(float(extras["q_mean"]),
                             np.mean(p_tm1 @ atoms), rtol=1e-4, atol=1e-5)


def test_gradient_does_not_flow_into_the_target():
  """d CE / d logits(s, a) = p - m with the target m held fixed."""
  grads = jax.grad(lambda p: losses.categorical_loss(
      _table_network(), p, p, BATCH, np.ones(2, np.float32),
      atoms=jnp_atoms())[0])(ONLINE)
  p_s_a1 = np.array([0.25, 0.25, 0.5])
  p_s_a0 = np.array([0.5, 0.25, 0.25])
  # Both items start in s; online = target here, so m_1 comes from the
  # online p(s', 0) = [.2, .3, .5]: T z = [0, .5, 1] -> [0, .2 + .15, .15 + .5].
  m_1 = np.array([0.0, 0.35, 0.65])
  m_2 = np.array([0.3, 0.7, 0.0])
  np.testing.assert_allclose(np.asarray(grads[0, 1]), (p_s_a1 - m_1) / 2,
                             atol=1e-6)
  np.testing.assert_allclose(np.asarray(grads[0, 0]), (p_s_a0 - m_2) / 2,
                             atol=1e-6)
  np.testing.assert_allclose(np.asarray(grads[1]), 0.0, atol=1e-7)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(v_min=5.0, v_max=5.0), "c51.v_min (5) must be less than c51.v_max"),
    (dict(num_atoms=1), "c51.num_atoms must be an integer >= 2"),
    (dict(v_min=1.0, v_max=10.0), "does not contain 0"),
    (dict(v_min=-10.0, v_max=-1.0), "raise c51.v_max to 0 or above"),
])
def test_config_refuses_a_bad_support(kwargs, needle):
  with pytest.raises(errors.ConfigError) as info:
    config_lib.C51Config(**kwargs).validate()
  assert needle in str(info.value)


def test_support_must_reach_the_side_of_bounded_rewards():
  """Rewards in [0, 1]: every return but a terminal 0 is positive, so a
  support [-10, 0] represents none of them; [-10, 0.5] is accepted."""
  rewards = specs.BoundedArray((), np.float32, 0.0, 1.0)
  run = agent_lib.RunInfo(1, 8, 1000)
  with pytest.raises(errors.ConfigError) as info:
    c51_agent.make_agent(config_lib.C51Config(v_min=-10.0, v_max=0.0),
                         _spec(rewards=rewards), run)
  assert "nothing above 0" in str(info.value)
  assert "c51.v_max" in str(info.value)
  c51_agent.make_agent(config_lib.C51Config(v_min=-10.0, v_max=0.5),
                       _spec(rewards=rewards), run)
  negative = specs.BoundedArray((), np.float32, -1.0, 0.0)
  with pytest.raises(errors.ConfigError) as info:
    c51_agent.make_agent(config_lib.C51Config(v_min=0.0, v_max=10.0),
                         _spec(rewards=negative), run)
  assert "nothing below 0" in str(info.value)
