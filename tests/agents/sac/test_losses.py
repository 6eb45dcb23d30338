"""SAC's maths against numpy formulas and hand-computed numbers."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.sac import agent as agent_lib
from agents.sac import config as config_lib
from agents.sac import losses
from agents.sac import networks
from building_blocks import agent as contract
from building_blocks import errors
from tests.agents import continuous_helpers as helpers
from building_blocks import specs
from building_blocks import types


def _critics(params, obs, action):
  x = np.concatenate([obs, action], axis=-1)
  return np.concatenate([helpers.mlp(params, "mlp", "linear", x),
                         helpers.mlp(params, "mlp_1", "linear_1", x)], axis=-1)


def _tanh_gaussian_log_prob(mean, log_std, u):
  """log N(u; mean, std^2) - sum_k log(1 - tanh(u_k)^2), in float64."""
  mean, log_std, u = (np.asarray(x, np.float64) for x in (mean, log_std, u))
  std = np.exp(log_std)
  gaussian = np.sum(-0.5 * ((u - mean) / std) ** 2 - log_std
                    - 0.5 * np.log(2 * np.pi), axis=-1)
  return gaussian - np.sum(np.log(1 - np.tanh(u) ** 2), axis=-1)


def test_tanh_gaussian_log_prob_matches_the_formula():
  mean = np.array([[0.3, -1.0], [0.0, 2.0]], np.float32)
  log_std = np.array([[-0.5, 0.2], [0.0, -1.5]], np.float32)
  u = np.array([[0.1, -0.4], [1.2, 2.5]], np.float32)
  log_prob = losses.tanh_gaussian(mean, log_std).log_prob(np.tanh(u))
  np.testing.assert_allclose(np.asarray(log_prob),
                             _tanh_gaussian_log_prob(mean, log_std, u),
                             rtol=1e-4)


def test_sample_and_log_prob_are_consistent():
  mean = np.zeros((1000, 1), np.float32) + 0.5
  log_std = np.full((1000, 1), -1.0, np.float32)
  action, log_prob = losses.sample_and_log_prob(mean, log_std,
                                                jax.random.PRNGKey(0))
  action = np.asarray(action, np.float64)
  assert np.all(np.abs(action) < 1)
  u = np.arctanh(action)
  np.testing.assert_allclose(np.asarray(log_prob),
                             _tanh_gaussian_log_prob(mean, log_std, u),
                             rtol=1e-3, atol=1e-3)
  # u = atanh(a) ~ N(0.5, e^-2): its moments, from 1000 samples.
  assert abs(u.mean() - 0.5) < 0.05 and abs(u.std() - np.exp(-1)) < 0.05


def test_log_prob_epsilon_caps_a_saturated_dimension():
  """eps = 1e-6 adds at most -log(1e-6) = 13.8 nats for a saturated
  dimension (u = 12: tanh(u)^2 is 1 in float32) where the exact term is
  -log(1 - tanh(12)^2) = 2 * 12 - 2 log 2 + 2 softplus(-24) = 22.61; an
  unsaturated dimension (u = 0.3) is all but unchanged."""
  mean = np.array([[12.0, 0.3]], np.float32)
  log_std = np.array([[-5.0, -5.0]], np.float32)  # u within ~0.02 of mean
  key = jax.random.PRNGKey(0)
  action, exact = losses.sample_and_log_prob(mean, log_std, key)
  same_action, capped = losses.sample_and_log_prob(mean, log_std, key, 1e-6)
  np.testing.assert_array_equal(np.asarray(action), np.asarray(same_action))
  assert float(action[0, 0]) == 1.0  # saturated in float32
  saturated_exact = 2 * 12 - 2 * np.log(2)
  saturated_capped = -np.log(1e-6 + 4 * np.exp(-24.0))
  np.testing.assert_allclose(float(exact[0] - capped[0]),
                             saturated_exact - saturated_capped, atol=0.1)
  # Both are finite although tanh(u) is exactly 1: they come from u, not
  # from atanh(a).
  assert np.isfinite(float(exact[0])) and np.isfinite(float(capped[0]))


def test_temperature_loss_by_hand():
  log_alpha = jnp.log(jnp.float32(0.5))
  log_prob = np.array([-1.0, 0.5], np.float32)
  loss, extras = losses.temperature_loss(log_alpha, log_prob, -1.0)
  # mean(-0.5 * (log_prob - 1)) = mean(-0.5 * [-2, -0.5]) = mean([1, 0.25])
  np.testing.assert_allclose(float(loss), 0.625, rtol=1e-6)
  np.testing.assert_allclose(float(extras["alpha"]), 0.5, rtol=1e-6)
  # d/d log alpha of -alpha * x is -alpha * x (log pi held fixed): 0.625;
  # the entropy (0.25) is above the target (-1), so alpha falls.
  grad = jax.grad(lambda la: losses.temperature_loss(la, log_prob, -1.0)[0])(
      log_alpha)
  np.testing.assert_allclose(float(grad), 0.625, rtol=1e-6)


def _setup(batch=5):
  config = config_lib.SACConfig(policy_hidden_sizes=(8, 8),
                                critic_hidden_sizes=(8, 8))
  net = networks.make_networks(helpers.spec(), config)
  rng = np.random.default_rng(0)
  obs = rng.normal(size=(batch, 3)).astype(np.float32)
  act = rng.uniform(-1, 1, size=(batch, 2)).astype(np.float32)
  params = {
      "policy": net.policy_init(jax.random.PRNGKey(0), obs),
      "critic": net.critic_init(jax.random.PRNGKey(1), obs, act),
      "target_critic": net.critic_init(jax.random.PRNGKey(2), obs, act)}
  transitions = types.Transition(
      observation=obs, action=act,
      reward=rng.normal(size=batch).astype(np.float32),
      discount=np.array([0.99, 0.0, 0.98, 0.5, 1.0], np.float32),
      next_observation=rng.normal(size=(batch, 3)).astype(np.float32))
  return net, params, transitions


def _policy_head(params, obs):
  mean = helpers.mlp(params, "mlp", "mean", obs)
  log_std = np.clip(helpers.mlp(params, "mlp", "log_std", obs),
                    networks.MIN_LOG_STD, networks.MAX_LOG_STD)
  return mean, log_std


def test_critic_loss_matches_numpy():
  net, p, t = _setup()
  weights = np.array([1.0, 0.5, 0.25, 0.8, 0.1], np.float32)
  key = jax.random.PRNGKey(7)
  log_alpha = jnp.log(jnp.float32(0.2))
  loss, extras = losses.critic_loss(net, p["critic"], p["policy"],
                                    p["target_critic"], log_alpha, t,
                                    weights, key)
  # The next action is the loss's own sample (same key); its log-density
  # and everything else is recomputed here.
  mean, log_std = net.policy_apply(p["policy"], t.next_observation)
  next_action, _ = losses.sample_and_log_prob(mean, log_std, key)
  next_action = np.asarray(next_action, np.float64)
  mean_np, log_std_np = _policy_head(p["policy"], t.next_observation)
  next_log_prob = _tanh_gaussian_log_prob(mean_np, log_std_np,
                                          np.arctanh(next_action))
  q_next = _critics(p["target_critic"], t.next_observation, next_action)
  y = t.reward + t.discount * (q_next.min(axis=1) - 0.2 * next_log_prob)
  q = _critics(p["critic"], t.observation, t.action)
  expected = np.mean(weights * 0.5 * ((q - y[:, None]) ** 2).sum(axis=1))
  np.testing.assert_allclose(float(loss), expected, rtol=1e-3)
  np.testing.assert_allclose(np.asarray(extras["priority"]),
                             np.abs(y - q[:, 0]), rtol=1e-3, atol=1e-4)


def test_policy_loss_matches_numpy():
  net, p, t = _setup()
  key = jax.random.PRNGKey(3)
  log_alpha = jnp.log(jnp.float32(0.3))
  loss, extras = losses.policy_loss(net, p["policy"], p["critic"], log_alpha,
                                    t, key)
  mean, log_std = net.policy_apply(p["policy"], t.observation)
  action, _ = losses.sample_and_log_prob(mean, log_std, key)
  action = np.asarray(action, np.float64)
  mean_np, log_std_np = _policy_head(p["policy"], t.observation)
  log_prob = _tanh_gaussian_log_prob(mean_np, log_std_np, np.arctanh(action))
  q = _critics(p["critic"], t.observation, action).min(axis=1)
  np.testing.assert_allclose(float(loss), np.mean(0.3 * log_prob - q),
                             rtol=1e-3)
  np.testing.assert_allclose(float(extras["entropy"]), -np.mean(log_prob),
                             rtol=1e-3)


def test_evaluation_acts_with_the_mean_and_alpha_starts_at_its_initial_value():
  spec = specs.EnvironmentSpec(
      observations=specs.Array((3,), np.float32),
      actions=specs.BoundedArray((2,), np.float32, -2.0, 2.0),
      rewards=specs.Array((), np.float32),
      discounts=specs.BoundedArray((), np.float32, 0.0, 1.0))
  config = config_lib.SACConfig(policy_hidden_sizes=(8,),
                                critic_hidden_sizes=(8,), warmup_steps=0)
  agent = agent_lib.make_agent(config, spec, contract.RunInfo(1, 8, 1000))
  state = agent.init(jax.random.PRNGKey(0))
  obs = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
  action, _ = agent.policy(state.params, jax.random.PRNGKey(1), obs, 0, True)
  mean, _ = _policy_head(state.params.policy, obs)
  np.testing.assert_allclose(np.asarray(action), 2.0 * np.tanh(mean),
                             rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(float(jnp.exp(state.extra_params)), 1.0)


@pytest.mark.parametrize("field,value,needle", [
    ("initial_temperature", 0.0, "sac.initial_temperature must be > 0"),
    ("temperature_learning_rate", -1.0,
     "sac.temperature_learning_rate must be > 0"),
    ("batch_size", 0, "sac.batch_size must be an integer >= 1"),
    ("log_prob_epsilon", -1e-6, r"sac.log_prob_epsilon must be in \[0, 1\)"),
])
def test_config_validation(field, value, needle):
  with pytest.raises(errors.ConfigError, match=needle):
    config_lib.SACConfig(**{field: value}).validate()
