"""DQN as an `AnakinSystem`: the same network, loss and update as the
single-process runner, with replay in device memory (flashbax, through
`replay.device_buffer`).

Each iteration the runner steps `num_envs` environments for
`rollout_length` steps with the epsilon-greedy policy; the rollout's n-step
transitions go into the buffer, and once it holds `min_replay_size` items
the learner makes `samples_per_insert * inserted / batch_size` gradient
steps, writing back |TD error| priorities.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import rlax

from agents.dqn import config as config_lib
from agents.dqn import learning
from agents.dqn import networks as networks_lib
from building_blocks import anakin
from building_blocks import errors
from building_blocks import specs
from building_blocks import types
from replay import device_buffer
from replay import nstep


class DQNAnakinState(NamedTuple):
  learner: learning.TrainingState
  buffer: Any
  actor_steps: chex.Array


def updates_per_iteration(config: config_lib.DQNConfig) -> int:
  """Gradient steps per rollout that keep `samples_per_insert`."""
  inserted = config.num_envs * config.rollout_length
  exact = config.samples_per_insert * inserted / config.batch_size
  if exact < 1 or abs(exact - round(exact)) > 1e-6:
    raise errors.ConfigError(
        f"dqn.samples_per_insert x num_envs x rollout_length / batch_size = "
        f"{config.samples_per_insert} x {inserted} / {config.batch_size} = "
        f"{exact:g} gradient steps per rollout; it must be a whole number "
        ">= 1. Change one of those fields.")
  return int(round(exact))


def make_system(config: config_lib.DQNConfig, spec: specs.EnvironmentSpec,
                num_iterations: int) -> anakin.AnakinSystem:
  """DQN for `spec` (discrete actions only)."""
  del num_iterations  # DQN's schedules count environment steps.
  networks_lib.check_environment(spec)
  network = networks_lib.make_networks(spec, config)
  optimizer = learning.make_optimizer(config)
  update = learning.make_update_fn(network, optimizer, config)
  num_updates = updates_per_iteration(config)
  inserted = config.num_envs * config.rollout_length
  buffer = device_buffer.make_transition_buffer(
      capacity=config.max_replay_size, min_size=config.min_replay_size,
      sample_batch_size=config.batch_size, add_batch_size=inserted,
      prioritized=config.prioritized,
      priority_exponent=config.priority_exponent)
  epsilon = optax.linear_schedule(config.epsilon_start, config.epsilon_end,
                                  config.epsilon_decay_steps)
  observation = np.zeros(spec.observations.shape, spec.observations.dtype)
  example = types.Transition(observation=observation, action=np.int32(0),
                             reward=np.float32(0), discount=np.float32(0),
                             next_observation=observation)

  def init(key):
    params = network.init(key, observation[None])
    learner = learning.TrainingState(
        params=params, target_params=params, opt_state=optimizer.init(params),
        steps=jnp.zeros((), jnp.int32), rng_key=jax.random.fold_in(key, 1))
    return DQNAnakinState(learner, buffer.init(example),
                          jnp.zeros((), jnp.int32))

  def _epsilon_greedy(params, key, observation, eps):
    q_values = network.apply(params, observation)
    keys = jax.random.split(key, q_values.shape[0])
    return jax.vmap(lambda k, q: rlax.epsilon_greedy(eps).sample(k, q))(
        keys, q_values).astype(jnp.int32)

  def act(state, key, observation):
    eps = epsilon(state.actor_steps)
    return _epsilon_greedy(state.learner.params, key, observation, eps), {}

  def evaluation_act(state, key, observation):
    return _epsilon_greedy(state.learner.params, key, observation,
                           config.evaluation_epsilon)

  def learn(state: DQNAnakinState, rollout: anakin.Rollout, key):
    ret, disc, next_obs = nstep.nstep_transitions_in_rollout(
        rollout.reward, rollout.terminated, rollout.truncated,
        rollout.final_observation, config.n_step, config.discount)
    flat = lambda x: jnp.reshape(x, (inserted,) + x.shape[2:])
    transitions = jax.tree_util.tree_map(flat, types.Transition(
        observation=rollout.observation,
        action=rollout.action.astype(jnp.int32), reward=ret, discount=disc,
        next_observation=next_obs))
    buffer_state = buffer.add(state.buffer, transitions)

    def sgd_step(carry, step_key):
      learner, buffer_state = carry
      batch = buffer.sample(buffer_state, step_key)
      learner, metrics, priorities = update(learner, batch)
      buffer_state = buffer.set_priorities(buffer_state, batch.keys,
                                           priorities)
      return (learner, buffer_state), metrics

    def train(operand):
      learner, buffer_state = operand
      (learner, buffer_state), metrics = jax.lax.scan(
          sgd_step, (learner, buffer_state),
          jax.random.split(key, num_updates))
      return learner, buffer_state, jax.tree_util.tree_map(
          lambda m: m[-1], metrics)

    def wait(operand):
      learner, buffer_state = operand
      zero = jnp.zeros((), jnp.float32)  # no update yet: replay is filling
      return learner, buffer_state, {"loss": zero, "q_mean": zero,
                                     "grad_norm": zero}

    learner, buffer_state, metrics = jax.lax.cond(
        buffer.can_sample(buffer_state), train, wait,
        (state.learner, buffer_state))
    return DQNAnakinState(learner, buffer_state,
                          state.actor_steps + inserted), metrics

  return anakin.AnakinSystem(init=init, act=act, learn=learn,
                             evaluation_act=evaluation_act,
                             num_envs=config.num_envs,
                             rollout_length=config.rollout_length)
