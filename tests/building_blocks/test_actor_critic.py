"""The shared off-policy actor-critic learner: action scaling, Polyak
averaging, the continuous-action check, the warm-up policy, and the update's
schedule (critic steps, delayed policy steps, target averaging) against
numbers computed by hand."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from building_blocks import actor_critic
from building_blocks import errors
from building_blocks import specs
from building_blocks import types
from replay.dataset import ReplayBatch


def _spec(low=(-2.0, 0.0), high=(2.0, 10.0), obs_dim=3):
  return specs.EnvironmentSpec(
      observations=specs.Array((obs_dim,), np.float32),
      actions=specs.BoundedArray((len(low),), np.float32,
                                 np.asarray(low, np.float32),
                                 np.asarray(high, np.float32)),
      rewards=specs.Array((), np.float32),
      discounts=specs.BoundedArray((), np.float32, 0.0, 1.0))


def test_scale_and_normalize_actions():
  low, high = np.array([-2.0, 0.0]), np.array([2.0, 10.0])
  x = np.array([[-1.0, 0.5], [1.0, -1.0], [0.0, 0.0]], np.float32)
  scaled = np.asarray(actor_critic.scale_action(x, low, high))
  np.testing.assert_allclose(scaled, [[-2.0, 7.5], [2.0, 0.0], [0.0, 5.0]])
  np.testing.assert_allclose(
      np.asarray(actor_critic.normalize_action(scaled, low, high)), x,
      atol=1e-6)


def test_action_bounds_broadcast_scalar_limits():
  spec = specs.BoundedArray((2,), np.float32, -3.0, 3.0)
  low, high = actor_critic.action_bounds(spec)
  np.testing.assert_array_equal(low, [-3.0, -3.0])
  np.testing.assert_array_equal(high, [3.0, 3.0])


def test_polyak_update_numbers():
  online = {"w": jnp.array([1.0, 2.0]), "b": jnp.array(10.0)}
  target = {"w": jnp.array([3.0, 4.0]), "b": jnp.array(0.0)}
  new = actor_critic.polyak_update(online, target, 0.1)
  # 0.1 * online + 0.9 * target
  np.testing.assert_allclose(np.asarray(new["w"]), [2.8, 3.8], rtol=1e-6)
  np.testing.assert_allclose(float(new["b"]), 1.0, rtol=1e-6)


def test_gaussian_exploration_is_clipped_to_the_unit_box():
  action = jnp.array([[0.99, -0.99, 0.0]])
  noisy = np.asarray(actor_critic.gaussian_exploration(
      action, jax.random.PRNGKey(0), 10.0))
  assert np.all(noisy <= 1.0) and np.all(noisy >= -1.0)
  assert np.any(np.abs(noisy) == 1.0)  # large noise hits the bounds


def test_discrete_actions_are_refused_with_a_clear_error():
  spec = specs.EnvironmentSpec(
      observations=specs.Array((4,), np.float32),
      actions=specs.DiscreteArray(2, dtype=np.int32),
      rewards=specs.Array((), np.float32),
      discounts=specs.BoundedArray((), np.float32, 0.0, 1.0))
  with pytest.raises(errors.IncompatibleEnvironmentError) as info:
    actor_critic.require_continuous_actions(spec, "SAC", "CartPole-v1")
  message = str(info.value)
  assert "SAC needs a continuous action space" in message
  assert "CartPole-v1" in message and "DiscreteArray" in message
  assert "dqn" in message  # the fix: a discrete agent


def test_unbounded_actions_are_refused():
  spec = _spec(low=(-np.inf,), high=(np.inf,))
  with pytest.raises(errors.IncompatibleEnvironmentError, match="finite"):
    actor_critic.require_continuous_actions(spec, "TD3")


# A fake agent whose losses have constant gradients, so that every Adam step
# moves a parameter by exactly -learning_rate (m_hat = g, v_hat = g^2).


def _fake_agent(config, spec, period, num_envs=1):
  networks = actor_critic.ActorCriticNetworks(
      policy_init=lambda key, obs: {"p": jnp.zeros(())},
      policy_apply=lambda params, obs: jnp.tanh(
          jnp.zeros((obs.shape[0], 2)) + params["p"]),
      critic_init=lambda key, obs, action: {"c": jnp.zeros(())},
      critic_apply=lambda params, obs, action: params["c"])

  def critic(critic_params, state, transitions, weights, key):
    del state, key
    loss = critic_params["c"] * jnp.mean(weights)
    return loss, {"action_min": jnp.min(transitions.action),
                  "action_max": jnp.max(transitions.action)}

  def policy(policy_params, state, transitions, key):
    del state, transitions, key
    return policy_params["p"] * 2.0, {}

  def select_action(params, key, observation, evaluation):
    del key, evaluation
    return networks.policy_apply(params, observation)

  return actor_critic.make_actor_critic_agent(
      config, spec, networks,
      actor_critic.ActorCriticLosses(critic=critic, policy=policy),
      select_action, policy_update_period=period, num_envs=num_envs)


def _batch(spec, size: int, rng) -> Any:
  low, high = actor_critic.action_bounds(spec.actions)
  action = rng.uniform(low, high, size=(size,) + low.shape).astype(np.float32)
  data = types.Transition(
      observation=rng.normal(size=(size, 3)).astype(np.float32),
      action=action, reward=rng.normal(size=size).astype(np.float32),
      discount=np.full(size, 0.99, np.float32),
      next_observation=rng.normal(size=(size, 3)).astype(np.float32))
  return ReplayBatch(keys=None, probabilities=np.full(size, 1 / size,
                                                       np.float32),
                     table_size=np.int32(size), data=data)


def test_update_schedule_matches_hand_computation():
  lr, tau, num_sgd, period = 0.01, 0.5, 8, 2
  config = actor_critic.ActorCriticConfig(
      policy_learning_rate=lr, critic_learning_rate=lr, tau=tau,
      num_sgd_steps_per_step=num_sgd, batch_size=4, samples_per_insert=4.0)
  spec = _spec()
  agent = _fake_agent(config, spec, period)
  assert agent.replay.batch_size == 4 * num_sgd
  assert agent.replay.kind == "transitions"
  state = agent.init(jax.random.PRNGKey(0))
  batch = _batch(spec, 4 * num_sgd, np.random.default_rng(0))
  state, metrics, priorities = jax.jit(agent.update)(
      state, batch, jax.random.PRNGKey(1))

  # 8 critic steps of -lr each; a policy step after every second one.
  assert int(state.steps) == num_sgd
  np.testing.assert_allclose(float(state.critic_params["c"]), -num_sgd * lr,
                             rtol=1e-5)
  np.testing.assert_allclose(float(state.params.policy["p"]),
                             -(num_sgd // period) * lr, rtol=1e-5)
  # Targets average in after every policy step, from the initial zeros.
  target_c = target_p = 0.0
  for group in range(1, num_sgd // period + 1):
    target_c = tau * (-group * period * lr) + (1 - tau) * target_c
    target_p = tau * (-group * lr) + (1 - tau) * target_p
  np.testing.assert_allclose(float(state.target_critic_params["c"]),
                             target_c, rtol=1e-5)
  np.testing.assert_allclose(float(state.target_policy_params["p"]),
                             target_p, rtol=1e-5)
  # The losses see actions normalised to [-1, 1].
  assert -1.0 <= float(metrics["action_min"]) < float(metrics["action_max"]) <= 1.0
  assert set(metrics) >= {"loss", "critic_loss", "policy_loss"}
  assert priorities is None  # uniform replay


def test_prioritized_update_weights_the_loss_and_returns_priorities():
  config = actor_critic.ActorCriticConfig(
      num_sgd_steps_per_step=2, batch_size=4, samples_per_insert=4.0,
      prioritized=True, importance_sampling_exponent=1.0)
  spec = _spec()
  networks = actor_critic.ActorCriticNetworks(
      policy_init=lambda key, obs: {"p": jnp.zeros(())},
      policy_apply=lambda params, obs: jnp.zeros((obs.shape[0], 2)),
      critic_init=lambda key, obs, action: {"c": jnp.zeros(())},
      critic_apply=lambda params, obs, action: params["c"])

  def critic(critic_params, state, transitions, weights, key):
    del state, key
    return critic_params["c"], {"priority": transitions.reward + 10.0,
                                "weights_sum": jnp.sum(weights)}

  def policy(policy_params, state, transitions, key):
    del state, transitions, key
    return policy_params["p"], {}

  agent = actor_critic.make_actor_critic_agent(
      config, spec, networks,
      actor_critic.ActorCriticLosses(critic=critic, policy=policy),
      lambda params, key, obs, evaluation: jnp.zeros((obs.shape[0], 2)))
  assert agent.replay.prioritized
  batch = _batch(spec, 8, np.random.default_rng(0))
  # Item i of the last minibatch sampled with P(i) in 1:2:2:4 ratio from
  # a table of 8: w_i = (8 P(i))^-1 / max_j w_j = [1, 0.5, 0.5, 0.25].
  probabilities = np.array([1, 1, 1, 1, 1, 2, 2, 4], np.float32) / 13
  batch = batch._replace(probabilities=probabilities, table_size=np.int32(8))
  _, metrics, priorities = agent.update(agent.init(jax.random.PRNGKey(0)),
                                        batch, jax.random.PRNGKey(1))
  np.testing.assert_allclose(float(metrics["weights_sum"]), 2.25, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(priorities), batch.data.reward + 10,
                             rtol=1e-6)


def test_policy_warms_up_with_uniform_actions_then_acts():
  config = actor_critic.ActorCriticConfig(warmup_steps=100)
  spec = _spec()
  agent = _fake_agent(config, spec, 1)
  params = agent.init(jax.random.PRNGKey(0)).params
  obs = np.zeros((256, 3), np.float32)
  policy = jax.jit(agent.policy, static_argnums=4)
  # The fake policy's action is tanh(0) = 0: the middle of the bounds.
  middle = np.array([0.0, 5.0])
  warm, extras = policy(params, jax.random.PRNGKey(1), obs, 99, False)
  warm = np.asarray(warm)
  assert extras == {}
  assert warm.shape == (256, 2) and warm.dtype == np.float32
  assert np.all(warm >= [-2.0, 0.0]) and np.all(warm <= [2.0, 10.0])
  assert warm[:, 0].std() > 0.8 and warm[:, 1].std() > 2.0  # uniform
  acting, _ = policy(params, jax.random.PRNGKey(1), obs, 100, False)
  np.testing.assert_allclose(np.asarray(acting), np.broadcast_to(middle,
                                                                 (256, 2)))
  evaluation, _ = policy(params, jax.random.PRNGKey(1), obs, 0, True)
  np.testing.assert_allclose(np.asarray(evaluation),
                             np.broadcast_to(middle, (256, 2)))


def test_warmup_actions_are_held_for_the_repeat_per_environment():
  config = actor_critic.ActorCriticConfig(warmup_steps=1_000,
                                          warmup_action_repeat=4)
  num_envs = 3
  agent = _fake_agent(config, _spec(), 1, num_envs=num_envs)
  params = agent.init(jax.random.PRNGKey(0)).params
  obs = np.zeros((num_envs, 3), np.float32)
  policy = jax.jit(agent.policy, static_argnums=4)
  # `step` counts the steps of all environments: +num_envs per call.
  actions = [np.asarray(policy(params, jax.random.PRNGKey(t), obs,
                               t * num_envs, False)[0]) for t in range(8)]
  for t in range(1, 4):
    np.testing.assert_array_equal(actions[t], actions[0])
    np.testing.assert_array_equal(actions[4 + t], actions[4])
  assert not np.allclose(actions[4], actions[0])
  assert len({tuple(row) for row in actions[0]}) == num_envs  # per env
  # Another seed's initialisation gives other actions.
  other = agent.init(jax.random.PRNGKey(1)).params
  assert not np.allclose(np.asarray(policy(other, jax.random.PRNGKey(0), obs,
                                           0, False)[0]), actions[0])


def test_config_validation_names_the_field():
  with pytest.raises(errors.ConfigError, match=r"x\.tau must be in \(0, 1\]"):
    actor_critic.ActorCriticConfig(tau=0.0).validate("x.")
  with pytest.raises(errors.ConfigError, match="warmup_steps"):
    actor_critic.ActorCriticConfig(warmup_steps=-1).validate()
  with pytest.raises(errors.ConfigError, match="warmup_action_repeat"):
    actor_critic.ActorCriticConfig(warmup_action_repeat=0).validate()
  with pytest.raises(errors.ConfigError, match="min_replay_size"):
    actor_critic.ActorCriticConfig(min_replay_size=10,
                                   max_replay_size=5).validate()
  with pytest.raises(errors.ConfigError, match="critic_hidden_sizes"):
    actor_critic.ActorCriticConfig(critic_hidden_sizes=()).validate()
