"""D4PG's projected distributional target and losses against hand-computed
numbers and an independent numpy projection; the atoms' validation."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from agents.d4pg import config as config_lib
from agents.d4pg import losses
from agents.d4pg import networks
from building_blocks import errors
from tests.agents import continuous_helpers as helpers
from building_blocks import types


def _softmax(x):
  e = np.exp(x - x.max(axis=-1, keepdims=True))
  return e / e.sum(axis=-1, keepdims=True)


def _numpy_projection(reward, discount, atoms, probs):
  """Bellemare et al. (2017), Algorithm 1: each target atom
  Tz = clip(r + gamma z_j) splits its mass between its two neighbours."""
  v_min, v_max = atoms[0], atoms[-1]
  dz = (v_max - v_min) / (len(atoms) - 1)
  out = np.zeros_like(probs, dtype=np.float64)
  for i in range(len(reward)):
    for j, z in enumerate(atoms):
      tz = np.clip(reward[i] + discount[i] * z, v_min, v_max)
      b = (tz - v_min) / dz
      lower, upper = int(np.floor(b)), int(np.ceil(b))
      if lower == upper:
        out[i, lower] += probs[i, j]
      else:
        out[i, lower] += probs[i, j] * (upper - b)
        out[i, upper] += probs[i, j] * (b - lower)
  return out


def test_projected_target_by_hand():
  atoms = np.array([-2.0, -1.0, 0.0, 1.0, 2.0], np.float32)
  probs = np.array([[0, 0, 1, 0, 0],        # all mass on 0
                    [0, 0, 1, 0, 0],
                    [0.5, 0, 0, 0, 0.5],
                    [0, 0, 0, 0, 1]], np.float32)
  reward = np.array([0.5, -5.0, 0.0, 1.0], np.float32)
  discount = np.array([1.0, 1.0, 0.5, 0.0], np.float32)
  target = np.asarray(losses.projected_target(reward, discount, atoms, probs))
  np.testing.assert_allclose(target, [
      [0, 0, 0.5, 0.5, 0],   # 0.5 lies halfway between atoms 0 and 1
      [1, 0, 0, 0, 0],       # -5 is clipped to v_min
      [0, 0.5, 0, 0.5, 0],   # 0.5 * -2 = -1 and 0.5 * 2 = 1
      [0, 0, 0, 1, 0],       # terminal: all mass on the reward
  ], atol=1e-6)


def test_projected_target_matches_numpy_projection():
  rng = np.random.default_rng(0)
  atoms = np.linspace(-10, 0, 11).astype(np.float32)
  probs = _softmax(rng.normal(size=(8, 11))).astype(np.float32)
  reward = rng.uniform(-3, 1, size=8).astype(np.float32)
  discount = np.array([0.99, 0.0, 0.9, 0.95, 1.0, 0.5, 0.97, 0.3],
                      np.float32)
  target = np.asarray(losses.projected_target(reward, discount, atoms, probs))
  np.testing.assert_allclose(
      target, _numpy_projection(reward, discount, atoms, probs), atol=1e-5)
  np.testing.assert_allclose(target.sum(axis=1), 1.0, rtol=1e-5)


def _setup(batch=6, num_atoms=11):
  config = config_lib.D4PGConfig(policy_hidden_sizes=(8, 8),
                                 critic_hidden_sizes=(8, 8),
                                 num_atoms=num_atoms, v_min=-10.0, v_max=5.0)
  net = networks.make_networks(helpers.spec(), config)
  rng = np.random.default_rng(1)
  obs = rng.normal(size=(batch, 3)).astype(np.float32)
  act = rng.uniform(-1, 1, size=(batch, 2)).astype(np.float32)
  params = {
      "policy": net.policy_init(jax.random.PRNGKey(0), obs),
      "critic": net.critic_init(jax.random.PRNGKey(1), obs, act),
      "target_policy": net.policy_init(jax.random.PRNGKey(2), obs),
      "target_critic": net.critic_init(jax.random.PRNGKey(3), obs, act)}
  transitions = types.Transition(
      observation=obs, action=act,
      reward=rng.uniform(-4, 2, size=batch).astype(np.float32),
      discount=np.array([0.99, 0.0, 0.98, 0.5, 1.0, 0.9], np.float32),
      next_observation=rng.normal(size=(batch, 3)).astype(np.float32))
  return net, np.asarray(networks.atoms(config)), params, transitions


def test_atoms_span_the_support():
  config = config_lib.D4PGConfig(num_atoms=5, v_min=-4.0, v_max=4.0)
  np.testing.assert_allclose(np.asarray(networks.atoms(config)),
                             [-4, -2, 0, 2, 4])


def test_critic_loss_matches_numpy():
  net, atoms, p, t = _setup()
  weights = np.array([1.0, 0.5, 0.25, 0.8, 0.1, 1.0], np.float32)
  loss, extras = losses.critic_loss(net, atoms, p["critic"],
                                    p["target_policy"], p["target_critic"],
                                    t, weights)
  critic = lambda params, obs, act: helpers.mlp(  # pylint: disable=unnecessary-lambda-assignment
      params, "mlp", "linear", np.concatenate([obs, act], axis=-1))
  next_action = np.tanh(helpers.mlp(p["target_policy"], "mlp", "linear",
                             t.next_observation))
  next_probs = _softmax(critic(p["target_critic"], t.next_observation,
                               next_action))
  target = _numpy_projection(t.reward, t.discount, atoms, next_probs)
  logits = critic(p["critic"], t.observation, t.action)
  log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
  cross_entropy = -(target * log_probs).sum(axis=1)
  np.testing.assert_allclose(float(loss), np.mean(weights * cross_entropy),
                             rtol=1e-4)
  np.testing.assert_allclose(np.asarray(extras["priority"]), cross_entropy,
                             rtol=1e-4)


def test_policy_loss_matches_numpy():
  net, atoms, p, t = _setup()
  loss, _ = losses.policy_loss(net, atoms, p["policy"], p["critic"], t)
  action = np.tanh(helpers.mlp(p["policy"], "mlp", "linear", t.observation))
  probs = _softmax(helpers.mlp(p["critic"], "mlp", "linear",
                        np.concatenate([t.observation, action], axis=-1)))
  np.testing.assert_allclose(float(loss), -np.mean(probs @ atoms), rtol=1e-4)


@pytest.mark.parametrize("fields,needle", [
    (dict(v_min=0.0, v_max=0.0), "d4pg.v_min (0.0) must be smaller than d4pg.v_max"),
    (dict(v_min=10.0, v_max=-10.0), "must be smaller than d4pg.v_max"),
    (dict(num_atoms=1), "d4pg.num_atoms must be an integer >= 2"),
    (dict(v_min=10.0, v_max=100.0), "must contain 0"),
    (dict(v_min=-100.0, v_max=-1.0), "must contain 0"),
    (dict(exploration_noise=-0.5), "d4pg.exploration_noise must be >= 0"),
])
def test_inconsistent_atoms_and_bad_fields_are_refused(fields, needle):
  with pytest.raises(errors.ConfigError) as info:
    config_lib.D4PGConfig(**fields).validate()
  assert needle in str(info.value)
