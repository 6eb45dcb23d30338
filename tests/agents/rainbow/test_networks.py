"""Rainbow's parts: noisy layers (factorised Gaussian), the dueling head,
the network's key handling, and the shared learner passing keys to a
noisy network (and only to it)."""
from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.dqn import agent as dqn_agent
from agents.dqn import config as dqn_config
from agents.rainbow import agent as rainbow_agent
from agents.rainbow import config as config_lib
from agents.rainbow import networks
from building_blocks import agent as agent_lib
from building_blocks import networks as networks_lib
from building_blocks import specs
from building_blocks import types
from replay import dataset

SPEC = specs.EnvironmentSpec(
    observations=specs.Array((4,), np.float32),
    actions=specs.DiscreteArray(3, dtype=np.int32),
    rewards=specs.Array((), np.float32),
    discounts=specs.BoundedArray((), np.float32, 0.0, 1.0))
RUN = agent_lib.RunInfo(num_envs=1, rollout_length=8, total_env_steps=1000)


def _noisy_layer(output_size=3, sigma_0=0.5):
  return hk.without_apply_rng(hk.transform(
      lambda x, noise: networks_lib.NoisyLinear(output_size, sigma_0)(x,
                                                                      noise)))


def _signed_sqrt(x):
  return np.sign(x) * np.sqrt(np.abs(x))


def test_noisy_linear_init_follows_the_paper():
  layer = _noisy_layer(output_size=3, sigma_0=0.5)
  params = layer.init(jax.random.PRNGKey(0), np.zeros((1, 16), np.float32),
                      None)["noisy_linear"]
  # sigma = sigma_0 / sqrt(p), mu ~ U[-1/sqrt(p), 1/sqrt(p)], p = 16.
  np.testing.assert_allclose(np.asarray(params["w_sigma"]), 0.125)
  np.testing.assert_allclose(np.asarray(params["b_sigma"]), 0.125)
  assert np.abs(np.asarray(params["w_mu"])).max() <= 0.25
  assert np.abs(np.asarray(params["b_mu"])).max() <= 0.25
  assert np.asarray(params["w_mu"]).std() > 0.05  # drawn, not constant


def _layer_params(rng, x):
  params = _noisy_layer().init(jax.random.PRNGKey(0), x, None)
  p = {k: np.asarray(v) for k, v in params["noisy_linear"].items()}
  p["w_sigma"] = rng.uniform(0.1, 1.0, size=p["w_sigma"].shape).astype(np.float32)
  p["b_sigma"] = rng.uniform(0.1, 1.0, size=p["b_sigma"].shape).astype(np.float32)
  return {"noisy_linear": p}


def test_noisy_linear_is_the_factorised_formula():
  """y = (mu_w + sigma_w * f(eps_in) f(eps_out)^T) x + mu_b + sigma_b f(eps_out)
  for noise = (eps_in, eps_out), by hand on a 2 -> 1 layer, then in numpy
  on a 4 -> 3 layer; noise None is the mean layer mu_w x + mu_b."""
  layer = hk.without_apply_rng(hk.transform(
      lambda x, noise: networks_lib.NoisyLinear(1)(x, noise)))
  params = {"noisy_linear": {
      "w_mu": np.array([[1.0], [2.0]], np.float32),
      "w_sigma": np.array([[0.5], [0.25]], np.float32),
      "b_mu": np.array([3.0], np.float32),
      "b_sigma": np.array([0.1], np.float32)}}
  x = np.array([[1.0, 1.0]], np.float32)
  # f(4) = 2, f(-1) = -1, f(9) = 3: w = [1 + .5*2*3, 2 + .25*(-1)*3]
  # = [4, 1.25], b = 3 + .1*3 = 3.3, y = 4 + 1.25 + 3.3 = 8.55.
  y = layer.apply(params, x, np.array([4.0, -1.0, 9.0], np.float32))
  np.testing.assert_allclose(np.asarray(y), [[8.55]], rtol=1e-6)
  np.testing.assert_allclose(np.asarray(layer.apply(params, x, None)),
                             [[6.0]], rtol=1e-6)

  rng = np.random.default_rng(0)
  x = rng.normal(size=(5, 4)).astype(np.float32)
  params = _layer_params(rng, x)
  p = params["noisy_linear"]
  noise = rng.normal(size=(4 + 3,)).astype(np.float32)
  f_in, f_out = _signed_sqrt(noise[:4]), _signed_sqrt(noise[4:])
  w = p["w_mu"] + p["w_sigma"] * np.outer(f_in, f_out)
  b = p["b_mu"] + p["b_sigma"] * f_out
  np.testing.assert_allclose(np.asarray(_noisy_layer().apply(params, x, noise)),
                             x @ w + b, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(np.asarray(_noisy_layer().apply(params, x, None)),
                             x @ p["w_mu"] + p["b_mu"], rtol=1e-5, atol=1e-6)


def test_sigma_zero_is_a_plain_linear_layer():
  layer = _noisy_layer()
  rng = np.random.default_rng(1)
  x = rng.normal(size=(2, 4)).astype(np.float32)
  params = _layer_params(rng, x)
  params["noisy_linear"]["w_sigma"] *= 0.0
  params["noisy_linear"]["b_sigma"] *= 0.0
  p = params["noisy_linear"]
  noisy = layer.apply(params, x, rng.normal(size=(7,)).astype(np.float32))
  np.testing.assert_allclose(np.asarray(noisy), x @ p["w_mu"] + p["b_mu"],
                             rtol=1e-6, atol=1e-6)


def test_network_noise_changes_with_the_key():
  """A noisy network draws its noise from the key: the same key, the same
  output; another key, another; one draw for the whole batch (identical
  inputs, identical outputs); key None: the mean network."""
  net = networks_lib.make_value_network(3, (16, 16), num_outputs=5,
                                        dueling=True, noisy=True)
  x = np.ones((2, 4), np.float32)
  params = net.init(jax.random.PRNGKey(0), x)
  a = np.asarray(net.apply(params, x, jax.random.PRNGKey(1)))
  b = np.asarray(net.apply(params, x, jax.random.PRNGKey(2)))
  again = np.asarray(net.apply(params, x, jax.random.PRNGKey(1)))
  mean = np.asarray(net.apply(params, x))
  assert not np.allclose(a, b) and not np.allclose(a, mean)
  np.testing.assert_array_equal(a, again)
  np.testing.assert_allclose(a[0], a[1])
  zero = {name: dict(layer_params) for name, layer_params in params.items()}
  for layer_params in zero.values():
    for field in ("w_sigma", "b_sigma"):
      if field in layer_params:
        layer_params[field] = jnp.zeros_like(layer_params[field])
  np.testing.assert_allclose(
      np.asarray(net.apply(zero, x, jax.random.PRNGKey(1))), mean, rtol=1e-5,
      atol=1e-6)


def test_dueling_combine_by_hand():
  value = np.array([[[10.0, 1.0]]], np.float32)           # [B=1, 1, K=2]
  advantages = np.array([[[1.0, 0.0], [2.0, 0.0], [6.0, 3.0]]],
                        np.float32)                       # [1, A=3, 2]
  q = np.asarray(networks_lib.dueling_combine(value, advantages))
  # mean_a A = [3, 1]: Q = V + A - [3, 1].
  np.testing.assert_allclose(q, [[[8.0, 0.0], [9.0, 0.0], [13.0, 3.0]]])


@pytest.mark.parametrize("num_outputs", [None, 5])
def test_dueling_head_centres_the_advantages(num_outputs):
  """mean_a Q(s, a) is the value stream's output V(s) (per atom), and
  Q - mean_a Q is the advantage stream's output, mean-centred."""
  net = networks_lib.make_value_network(3, (8, 8), num_outputs=num_outputs,
                                        dueling=True)
  x = np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32)
  params = net.init(jax.random.PRNGKey(0), x)
  q = np.asarray(net.apply(params, x))
  relu = lambda h: np.maximum(h, 0.0)  # pylint: disable=unnecessary-lambda-assignment
  feats = relu(x @ np.asarray(params["mlp/linear"]["w"]) +
               np.asarray(params["mlp/linear"]["b"]))

  def stream(name):
    h = relu(feats @ np.asarray(params[f"value_head/{name}_hidden"]["w"]) +
             np.asarray(params[f"value_head/{name}_hidden"]["b"]))
    return (h @ np.asarray(params[f"value_head/{name}_output"]["w"]) +
            np.asarray(params[f"value_head/{name}_output"]["b"]))

  k = num_outputs or 1
  value = stream("value").reshape(4, 1, k)
  advantages = stream("advantage").reshape(4, 3, k)
  expected = value + advantages - advantages.mean(axis=1, keepdims=True)
  if num_outputs is None:
    expected = expected[..., 0]
    value = value[..., 0]
  np.testing.assert_allclose(q, expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(q.mean(axis=1), value[:, 0], rtol=1e-5,
                             atol=1e-5)


def test_rainbow_network_is_stochastic_only_when_noisy():
  x = np.zeros((2, 4), np.float32)
  noisy = networks.make_network(SPEC, config_lib.RainbowConfig(hidden_sizes=(8, 8)))
  assert noisy.stochastic
  params = noisy.init(jax.random.PRNGKey(0), x)
  out = noisy.apply(params, x, jax.random.PRNGKey(1))
  assert out.shape == (2, 3, 51)
  assert noisy.q_values(out).shape == (2, 3)
  plain = networks.make_network(SPEC, config_lib.RainbowConfig(
      hidden_sizes=(8, 8), noisy=False, distributional=False))
  assert not plain.stochastic
  assert plain.apply(plain.init(jax.random.PRNGKey(0), x), x).shape == (2, 3)


def test_epsilon_defaults_follow_noisy():
  assert config_lib.RainbowConfig().resolved().epsilon_start == 0.0
  assert config_lib.RainbowConfig().resolved().epsilon_end == 0.0
  ablated = config_lib.RainbowConfig(noisy=False).resolved()
  assert (ablated.epsilon_start, ablated.epsilon_end) == (1.0, 0.01)
  chosen = config_lib.RainbowConfig(epsilon_start=0.3).resolved()
  assert (chosen.epsilon_start, chosen.epsilon_end) == (0.3, 0.0)


def _batch(size, seed=0):
  rng = np.random.default_rng(seed)
  data = types.Transition(
      observation=rng.normal(size=(size, 4)).astype(np.float32),
      action=rng.integers(0, 3, size).astype(np.int32),
      reward=rng.normal(size=size).astype(np.float32),
      discount=np.full(size, 0.9, np.float32),
      next_observation=rng.normal(size=(size, 4)).astype(np.float32))
  return dataset.ReplayBatch(np.zeros(size, np.uint64),
                             np.full(size, 1.0 / size, np.float32),
                             np.full(size, size, np.int32), data)


def _update_params(agent, key):
  state = agent.init(jax.random.PRNGKey(0))
  batch = _batch(agent.replay.batch_size)
  state, _, priorities = jax.jit(agent.update)(state, batch, key)
  assert priorities.shape == (agent.replay.batch_size,)
  return jax.tree_util.tree_leaves(state.params)


def test_the_learner_gives_a_noisy_network_fresh_noise():
  agent = rainbow_agent.make_agent(config_lib.RainbowConfig(
      hidden_sizes=(8, 8), batch_size=4, num_sgd_steps_per_step=2), SPEC, RUN)
  a = _update_params(agent, jax.random.PRNGKey(1))
  b = _update_params(agent, jax.random.PRNGKey(2))
  again = _update_params(agent, jax.random.PRNGKey(1))
  assert any(not np.allclose(x, y) for x, y in zip(a, b))
  for x, y in zip(a, again):
    np.testing.assert_array_equal(x, y)


def test_a_deterministic_network_ignores_the_key():
  agent = dqn_agent.make_agent(dqn_config.DQNConfig(
      hidden_sizes=(8,), batch_size=4, num_sgd_steps_per_step=2), SPEC, RUN)
  for x, y in zip(_update_params(agent, jax.random.PRNGKey(1)),
                  _update_params(agent, jax.random.PRNGKey(2))):
    np.testing.assert_array_equal(x, y)


def test_noisy_policy_explores_by_noise_and_evaluates_with_the_mean():
  """epsilon is 0, so the acting noise is the only randomness: actions vary
  with the key while acting, never while evaluating (the mean network)."""
  agent = rainbow_agent.make_agent(config_lib.RainbowConfig(
      hidden_sizes=(8, 8), noisy_sigma_0=5.0), SPEC, RUN)
  params = agent.init(jax.random.PRNGKey(0)).params
  obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
  policy = jax.jit(agent.policy, static_argnums=4)
  acting = [np.asarray(policy(params, jax.random.PRNGKey(i), obs, 0, False)[0])
            for i in range(3)]
  evaluating = [np.asarray(policy(params, jax.random.PRNGKey(i), obs, 0, True)[0])
                for i in range(3)]
  assert not np.array_equal(acting[0], acting[1])
  assert all(np.array_equal(evaluating[0], e) for e in evaluating)


@pytest.mark.parametrize("ablation", [
    dict(noisy=False), dict(dueling=False, distributional=False),
    dict(prioritized=False, n_step=1)], ids=["no_noisy", "no_dueling_no_c51",
                                             "uniform_one_step"])
def test_each_ablation_is_one_switch(ablation):
  """Each component off builds an agent that acts and learns (finite loss,
  a priority per item, the replay settings it asked for)."""
  config = config_lib.RainbowConfig(hidden_sizes=(8, 8), batch_size=4,
                                    num_sgd_steps_per_step=2, **ablation)
  config.validate()
  agent = rainbow_agent.make_agent(config, SPEC, RUN)
  assert agent.replay.prioritized == config.prioritized
  assert agent.replay.n_step == config.n_step
  state = agent.init(jax.random.PRNGKey(0))
  batch = _batch(agent.replay.batch_size)
  state, metrics, priorities = jax.jit(agent.update)(state, batch,
                                                     jax.random.PRNGKey(1))
  assert np.isfinite(float(metrics["loss"]))
  assert priorities.shape == (8,) and np.all(np.asarray(priorities) >= 0)
  actions, _ = agent.policy(state.params, jax.random.PRNGKey(2),
                            batch.data.observation, 0, False)
  assert actions.shape == (8,)
