"""PPO's update: advantages for a rollout, then epochs x minibatches of
clipped-surrogate gradient steps, all one pure function (one `lax.scan`)."""
from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from agents.ppo import config as config_lib
from agents.ppo import losses
from agents.ppo import networks as networks_lib
from building_blocks import agent as agent_lib


class PPOState(NamedTuple):
  """Everything PPO's update changes."""
  params: Any
  opt_state: Any


def make_batch(network: networks_lib.ActorCriticNetwork,
               config: config_lib.PPOConfig, params,
               rollout: agent_lib.Rollout) -> losses.PPOBatch:
  """Flattens a time-major rollout [T, N] into a PPOBatch with GAE
  advantages and lambda-return targets."""
  observation, action = rollout.observation, rollout.action
  reward, terminated, truncated = (rollout.reward, rollout.terminated,
                                   rollout.truncated)
  final_observation = rollout.final_observation
  last_observation = rollout.last_observation
  log_prob = rollout.extras["log_prob"]
  chex.assert_rank([reward, terminated, truncated, log_prob], 2)
  num_steps, num_envs = reward.shape
  flatten = lambda x: jnp.reshape(x, (num_steps * num_envs,) + x.shape[2:])
  # V(s_t) from the parameters being updated, not the actor's: with data
  # from older parameters (the distributed runner's actors run up to a few
  # versions behind) an old critic's values would bias every advantage and
  # target. With fresh data the two are equal.
  _, value = network.apply(params, jax.tree_util.tree_map(flatten, observation))
  value = jnp.reshape(value, (num_steps, num_envs))
  _, last_value = network.apply(params, last_observation)
  # V of the states reached before auto-reset; only used where truncated.
  _, final_value = network.apply(
      params, jax.tree_util.tree_map(flatten, final_observation))
  final_value = jnp.reshape(final_value, (num_steps, num_envs))
  advantage = losses.gae_advantages(
      reward * config.reward_scale, terminated, truncated, value,
      final_value, last_value, config.discount, config.gae_lambda)
  target = advantage + value
  return jax.tree_util.tree_map(flatten, losses.PPOBatch(
      observation=observation, action=action, log_prob=log_prob,
      value=value, advantage=advantage, target=target))


def make_update_fn(network: networks_lib.ActorCriticNetwork,
                   optimizer: optax.GradientTransformation,
                   config: config_lib.PPOConfig) -> Callable:
  """update(state, rollout, key) -> (state, metrics, None): GAE on the
  rollout, then num_epochs passes over the shuffled batch, each split into
  num_minibatches gradient steps."""
  loss_fn = functools.partial(
      losses.ppo_loss, network.apply, network.distribution,
      clip_epsilon=config.clip_epsilon, clip_value_loss=config.clip_value_loss,
      value_coef=config.value_coef, entropy_coef=config.entropy_coef,
      normalize_advantages=config.normalize_advantages)
  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

  def minibatch_step(state: PPOState, minibatch: losses.PPOBatch):
    (loss, extras), grads = grad_fn(state.params, minibatch)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return PPOState(params, opt_state), dict(extras, loss=loss)

  def epoch(state: PPOState, key: chex.PRNGKey, batch: losses.PPOBatch):
    permutation = jax.random.permutation(key, batch.advantage.shape[0])
    shuffled = jax.tree_util.tree_map(lambda x: jnp.take(x, permutation, axis=0),
                                      batch)
    minibatches = jax.tree_util.tree_map(
        lambda x: jnp.reshape(x, (config.num_minibatches, -1) + x.shape[1:]),
        shuffled)
    return jax.lax.scan(minibatch_step, state, minibatches)

  def update(state: PPOState, rollout: agent_lib.Rollout, key: chex.PRNGKey):
    batch = make_batch(network, config, state.params, rollout)
    keys = jax.random.split(key, config.num_epochs)
    state, metrics = jax.lax.scan(
        lambda s, k: epoch(s, k, batch), state, keys)
    return state, jax.tree_util.tree_map(jnp.mean, metrics), None

  return update
