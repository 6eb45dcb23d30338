"""PQN's Q(lambda) returns and loss against numbers worked out by hand and a
numpy reference written from the definition, with terminations and
truncations inside the rollout."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.pqn import config as config_lib
from agents.pqn import learning
from agents.pqn import losses
from agents.pqn import networks
from building_blocks import agent as agent_lib
from building_blocks import errors
from building_blocks import specs


def _returns(reward, terminated, truncated, next_value, gamma=0.9, lam=0.5):
  col = lambda x, dtype=np.float32: np.asarray(x, dtype)[:, None]
  return np.asarray(losses.q_lambda_returns(
      col(reward), col(terminated, bool), col(truncated, bool),
      col(next_value), gamma, lam))[:, 0]


def test_q_lambda_returns_by_hand():
  # One environment, 3 steps, gamma 0.9, lambda 0.5, rewards 1.
  # max_a Q of the states reached: s1 -> 2, s2 -> 4, s3 (after the rollout,
  # the bootstrap) -> 10.
  # No episode end:
  #   G2 = 1 + 0.9 * 10 = 10
  #   G1 = 1 + 0.9 * (0.5 * 4 + 0.5 * 10) = 7.3
  #   G0 = 1 + 0.9 * (0.5 * 2 + 0.5 * 7.3) = 5.185
  np.testing.assert_allclose(
      _returns([1, 1, 1], [0, 0, 0], [0, 0, 0], [2, 4, 10]),
      [5.185, 7.3, 10.0], rtol=1e-6)
  # Termination at step 1 (its next value, whatever it is, is not used):
  #   G1 = 1;  G0 = 1 + 0.9 * (0.5 * 2 + 0.5 * 1) = 2.35;  G2 = 10
  np.testing.assert_allclose(
      _returns([1, 1, 1], [0, 1, 0], [0, 0, 0], [2, 99, 10]),
      [2.35, 1.0, 10.0], rtol=1e-6)
  # Truncation at step 1, whose final state has max Q 6 (the step after
  # it starts a new episode):
  #   G1 = 1 + 0.9 * 6 = 6.4;  G0 = 1 + 0.9 * (0.5 * 2 + 0.5 * 6.4) = 4.78
  np.testing.assert_allclose(
      _returns([1, 1, 1], [0, 0, 0], [0, 1, 0], [2, 6, 10]),
      [4.78, 6.4, 10.0], rtol=1e-6)
  # Termination at the last step: no bootstrap from the rollout's end.
  #   G2 = 1; G1 = 1 + 0.9 * (0.5 * 4 + 0.5 * 1) = 3.25;
  #   G0 = 1 + 0.9 * (0.5 * 2 + 0.5 * 3.25) = 3.3625
  np.testing.assert_allclose(
      _returns([1, 1, 1], [0, 0, 1], [0, 0, 0], [2, 4, 10]),
      [3.3625, 3.25, 1.0], rtol=1e-6)


def test_lambda_zero_and_one():
  # lambda 0: one-step Q-learning targets r + gamma max Q(s', .);
  # lambda 1: discounted rewards to the end of the rollout + bootstrap.
  np.testing.assert_allclose(
      _returns([1, 2, 3], [0, 0, 0], [0, 0, 0], [5, 6, 7], lam=0.0),
      [1 + 0.9 * 5, 2 + 0.9 * 6, 3 + 0.9 * 7], rtol=1e-6)
  np.testing.assert_allclose(
      _returns([1, 2, 3], [0, 0, 0], [0, 0, 0], [5, 6, 7], lam=1.0),
      [1 + 0.9 * 2 + 0.81 * 3 + 0.729 * 7, 2 + 0.9 * 3 + 0.81 * 7,
       3 + 0.9 * 7], rtol=1e-6)


def numpy_q_lambda(reward, terminated, truncated, q_obs, q_final, q_last,
                   gamma, lam):
  """Forward view, one environment at a time, from the definition: the
  lambda-weighted mix of k-step returns r_t + ... + gamma^k max Q(s_{t+k}),
  each stopping at the episode's end (termination: no bootstrap;
  truncation: bootstrap from the final observation) and at the rollout's
  end (bootstrap from the observation after it). q_obs [T, N, A]: Q of the
  observations the actor saw; q_final [T, N, A] of the states reached
  before auto-reset; q_last [N, A] after the rollout."""
  steps, envs = reward.shape
  out = np.zeros((steps, envs))
  for n in range(envs):
    for t in range(steps):
      # k-step returns for k = 1, 2, ... until the episode or rollout ends.
      partial, discount, k_returns = 0.0, 1.0, []
      for j in range(t, steps):
        partial += discount * reward[j, n]
        discount *= gamma
        if terminated[j, n]:
          k_returns.append(partial)
          break
        if truncated[j, n]:
          k_returns.append(partial + discount * q_final[j, n].max())
          break
        nxt = q_obs[j + 1, n] if j + 1 < steps else q_last[n]
        k_returns.append(partial + discount * nxt.max())
      # (1 - lam) sum_k lam^(k-1) G^(k), the last return taking the rest.
      weights = [(1 - lam) * lam ** i for i in range(len(k_returns) - 1)]
      weights.append(lam ** (len(k_returns) - 1))
      out[t, n] = np.dot(weights, k_returns)
  return out


def _spec(num_actions=3, obs_dim=4):
  return specs.EnvironmentSpec(
      observations=specs.Array((obs_dim,), np.float32),
      actions=specs.DiscreteArray(num_actions, dtype=np.int32),
      rewards=specs.Array((), np.float32),
      discounts=specs.BoundedArray((), np.float32, 0.0, 1.0))


def test_targets_of_a_rollout_match_the_forward_view():
  """make_batch on a rollout with terminations and truncations (its
  final_observation differs from the next observation only there) against
  the forward-view definition computed from the observations."""
  rng = np.random.default_rng(0)
  steps, envs, gamma, lam = 10, 3, 0.97, 0.8
  config = config_lib.PQNConfig(hidden_sizes=(16,), discount=gamma,
                                q_lambda=lam)
  network = networks.make_network(_spec(), config.hidden_sizes)
  states = rng.normal(size=(steps + 1, envs, 4)).astype(np.float32)
  terminated = np.zeros((steps, envs), bool)
  truncated = np.zeros((steps, envs), bool)
  terminated[2, 0] = terminated[9, 1] = terminated[4, 2] = True
  truncated[6, 0] = truncated[0, 1] = truncated[9, 2] = True
  done = terminated | truncated
  # Where an episode ended, the state reached differs from the next
  # observation (the first of a new episode).
  final = states[1:].copy()
  final[done] = rng.normal(size=(done.sum(), 4)).astype(np.float32) * 2
  reward = rng.normal(size=(steps, envs)).astype(np.float32)
  rollout = agent_lib.Rollout(
      observation=states[:-1], action=rng.integers(0, 3, (steps, envs)),
      reward=reward, terminated=terminated, truncated=truncated,
      final_observation=final, extras={}, last_observation=states[-1])
  params = network.init(jax.random.PRNGKey(0), states[0])
  batch = learning.make_batch(network, config, params, rollout)

  q = lambda x: np.asarray(network.apply(params, x.reshape(-1, 4))).reshape(
      x.shape[:-1] + (3,))
  want = numpy_q_lambda(reward, terminated, truncated, q(states[:-1]),
                        q(final), q(states[-1]), gamma, lam)
  np.testing.assert_allclose(np.asarray(batch.target).reshape(steps, envs),
                             want, rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(np.asarray(batch.action).reshape(steps, envs),
                                rollout.action)


def test_loss_is_half_squared_td_error():
  def apply(params, obs):
    return obs @ params
  params = jnp.array([[1.0, 0.0], [0.0, 2.0]])
  batch = losses.PQNBatch(observation=jnp.array([[1.0, 1.0], [2.0, 0.0]]),
                          action=jnp.array([1, 0]),
                          target=jnp.array([3.0, 1.0]))
  # Q(s0, 1) = 2, Q(s1, 0) = 2: TD errors 1 and -1; loss mean(0.5 * 1) = 0.5.
  loss, extras = losses.pqn_loss(apply, params, batch)
  np.testing.assert_allclose(float(loss), 0.5)
  np.testing.assert_allclose(float(extras["q_mean"]), 2.0)
  grads = jax.grad(lambda p: losses.pqn_loss(apply, p, batch)[0])(params)
  # dL/dW = mean_i -(G_i - Q_i) s_i e_{a_i}^T: item 0 adds -(1)(1, 1) to
  # column 1, item 1 adds -(-1)(2, 0) to column 0; halved by the mean.
  np.testing.assert_allclose(np.asarray(grads), [[1.0, -0.5], [0.0, -0.5]])


def test_network_has_layer_norm():
  config = config_lib.PQNConfig(hidden_sizes=(8, 8))
  net = networks.make_network(_spec(), config.hidden_sizes, config.layer_norm)
  params = net.init(jax.random.PRNGKey(0), np.zeros((1, 4), np.float32))
  assert sum("layer_norm" in name for name in params) == 2
  plain = networks.make_network(_spec(), (8, 8), layer_norm=False)
  assert not any("layer_norm" in name for name in plain.init(
      jax.random.PRNGKey(0), np.zeros((1, 4), np.float32)))


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_config_refuses_lambda_outside_unit_interval(value):
  with pytest.raises(errors.ConfigError,
                     match=r"pqn.q_lambda must be in \[0, 1\]"):
    config_lib.PQNConfig(q_lambda=value).validate()
