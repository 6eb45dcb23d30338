"""PQN's update: Q(lambda) targets for a rollout, then epochs x minibatches
of gradient steps on 1/2 (G - Q(s, a))^2, all one pure function (one
`lax.scan`)."""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from agents.pqn import config as config_lib
from agents.pqn import losses
from building_blocks import agent as agent_lib
from building_blocks import networks as networks_lib


class PQNState(NamedTuple):
  """Everything PQN's update changes (no target parameters)."""
  params: Any
  opt_state: Any


def make_batch(network: networks_lib.FeedForwardNetwork,
               config: config_lib.PQNConfig, params,
               rollout: agent_lib.Rollout) -> losses.PQNBatch:
  """Flattens a time-major rollout [T, N] into (s, a, G) with Q(lambda)
  targets from the current parameters."""
  reward, terminated, truncated = (rollout.reward, rollout.terminated,
                                   rollout.truncated)
  chex.assert_rank([reward, terminated, truncated], 2)
  num_steps, num_envs = reward.shape
  flatten = lambda x: jnp.reshape(x, (num_steps * num_envs,) + x.shape[2:])
  # max_a Q of the state every step reached, before any auto-reset: the
  # next observation, or the final one where the episode ended.
  final_q = network.apply(
      params, jax.tree_util.tree_map(flatten, rollout.final_observation))
  next_value = jnp.reshape(jnp.max(final_q, axis=-1), (num_steps, num_envs))
  target = losses.q_lambda_returns(
      reward * config.reward_scale, terminated, truncated, next_value,
      config.discount, config.q_lambda)
  return jax.tree_util.tree_map(flatten, losses.PQNBatch(
      observation=rollout.observation, action=rollout.action, target=target))


def make_update_fn(network: networks_lib.FeedForwardNetwork,
                   optimizer: optax.GradientTransformation,
                   config: config_lib.PQNConfig) -> Callable:
  """update(state, rollout, key) -> (state, metrics, None): Q(lambda)
  targets for the rollout, then num_epochs passes over the batch, each
  shuffled and split into num_minibatches gradient steps; metrics are means
  over the steps."""
  grad_fn = jax.value_and_grad(
      lambda params, batch: losses.pqn_loss(network.apply, params, batch),
      has_aux=True)

  def minibatch_step(state: PQNState, minibatch: losses.PQNBatch):
    (loss, extras), grads = grad_fn(state.params, minibatch)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return PQNState(params, opt_state), dict(
        extras, loss=loss, grad_norm=optax.tree.norm(grads))

  num_steps = config.num_epochs * config.num_minibatches

  def update(state: PQNState, rollout: agent_lib.Rollout, key: chex.PRNGKey):
    batch = make_batch(network, config, state.params, rollout)
    size = batch.target.shape[0]
    # One shuffle of the batch per epoch (argsort of uniforms: one sort),
    # split into minibatches: [num_epochs * num_minibatches, size / M]
    # indices, all gradient steps in one scan (fewer loops to compile than
    # a scan of epochs around a scan of minibatches).
    order = jnp.argsort(jax.random.uniform(key, (config.num_epochs, size)),
                        axis=-1)
    indices = jnp.reshape(order, (num_steps, size // config.num_minibatches))

    def step(state: PQNState, index: chex.Array):
      minibatch = jax.tree_util.tree_map(lambda x: jnp.take(x, index, axis=0),
                                         batch)
      return minibatch_step(state, minibatch)

    state, metrics = jax.lax.scan(step, state, indices)
    return state, jax.tree_util.tree_map(jnp.mean, metrics), None

  return update
