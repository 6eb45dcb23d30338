"""The DQN learner: one jitted update per step on replayed n-step batches."""
from __future__ import annotations

import functools
from typing import Any, Callable, Iterator, NamedTuple, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from agents.dqn import config as config_lib
from agents.dqn import losses
from building_blocks import core
from building_blocks import networks as networks_lib
from building_blocks import types
from replay import dataset as dataset_lib


class TrainingState(NamedTuple):
  """Everything the update changes; checkpointed as one pytree."""
  params: types.Params
  target_params: types.Params
  opt_state: Any
  steps: chex.Array
  rng_key: chex.Array


def make_optimizer(config: config_lib.DQNConfig) -> optax.GradientTransformation:
  """Global-norm clipping followed by Adam."""
  return optax.chain(optax.clip_by_global_norm(config.max_gradient_norm),
                     optax.adam(config.learning_rate, eps=config.adam_eps))


def init_state(network: networks_lib.FeedForwardNetwork,
               optimizer: optax.GradientTransformation,
               observation_example: np.ndarray,
               key: chex.PRNGKey) -> TrainingState:
  """Fresh parameters, a matching target copy and optimizer state.

  Compiled as one program: run op by op, initialisation would compile every
  small op separately (about a second on CPU).
  """
  @jax.jit
  def init(key, observation):
    init_key, state_key = jax.random.split(key)
    params = network.init(init_key, observation[None])
    return TrainingState(params=params, target_params=params,
                         opt_state=optimizer.init(params),
                         steps=jnp.zeros((), jnp.int32), rng_key=state_key)
  return init(key, observation_example)


def make_update_fn(network: networks_lib.FeedForwardNetwork,
                   optimizer: optax.GradientTransformation,
                   config: config_lib.DQNConfig) -> Callable:
  """Returns update(state, batch) -> (state, metrics, priorities), pure."""

  def update(state: TrainingState, batch: dataset_lib.ReplayBatch):
    if config.prioritized:
      weights = losses.importance_weights(
          batch.probabilities, batch.table_size,
          config.importance_sampling_exponent)
    else:
      weights = jnp.ones_like(batch.data.reward)
    loss_and_extras = functools.partial(losses.double_q_loss, network.apply)
    (loss, extras), grads = jax.value_and_grad(
        loss_and_extras, has_aux=True)(state.params, state.target_params,
                                       batch.data, weights,
                                       config.huber_loss_parameter)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    steps = state.steps + 1
    target_params = optax.periodic_update(params, state.target_params, steps,
                                          config.target_update_period)
    new_state = TrainingState(params, target_params, opt_state, steps,
                              state.rng_key)
    metrics = {"loss": loss, "q_mean": extras["q_mean"],
               "grad_norm": optax.global_norm(grads)}
    return new_state, metrics, jnp.abs(extras["td_error"])

  return update


def make_multi_update_fn(update: Callable, num_steps: int) -> Callable:
  """Splits a batch of num_steps * B items into num_steps consecutive
  updates of B items (one `lax.scan`); returns the last step's metrics and
  the priorities of all items in sampling order."""
  if num_steps == 1:
    return update

  def multi_update(state: TrainingState, batch: dataset_lib.ReplayBatch):
    def split(x):
      return jnp.reshape(x, (num_steps, -1) + x.shape[1:])
    minibatches = jax.tree_util.tree_map(split, batch._replace(keys=None))

    def body(state, minibatch):
      state, metrics, priorities = update(state, minibatch)
      return state, (metrics, priorities)

    state, (metrics, priorities) = jax.lax.scan(body, state, minibatches)
    last = jax.tree_util.tree_map(lambda m: m[-1], metrics)
    return state, last, jnp.reshape(priorities, (-1,))

  return multi_update


class DQNLearner(core.Learner):
  """Pulls batches, applies the jitted update, sends new priorities back.

  The update is dispatched asynchronously and not waited for: its results
  (new priorities, new parameters) are collected at the start of the next
  step. The computation thus runs on XLA's threads while the actor keeps
  stepping the environment, and actors see parameters one learner step old.
  `priority_updater(keys, priorities)` receives host uint64 keys; it is
  None for uniform replay.
  """

  def __init__(self, network: networks_lib.FeedForwardNetwork,
               config: config_lib.DQNConfig,
               iterator: Iterator[dataset_lib.ReplayBatch],
               observation_example: np.ndarray, key: chex.PRNGKey,
               priority_updater: Callable[[np.ndarray, np.ndarray], None] | None = None):
    optimizer = make_optimizer(config)
    update = make_update_fn(network, optimizer, config)
    self._update = jax.jit(make_multi_update_fn(update,
                                                config.num_sgd_steps_per_step))
    self._iterator = iterator
    self._priority_updater = priority_updater
    self._state = init_state(network, optimizer, observation_example, key)
    self._published_params = self._state.params
    self._pending: tuple[np.ndarray, chex.Array] | None = None
    self.max_priority = 1.0

  def step(self) -> dict[str, chex.Array]:
    batch = next(self._iterator)
    self._complete_previous_step()
    self._state, metrics, priorities = self._update(
        self._state, batch._replace(keys=None))
    self._pending = (batch.keys, priorities)
    return metrics

  def _complete_previous_step(self) -> None:
    """Waits for the last dispatched update, then publishes its parameters
    and sends its priorities to replay."""
    if self._pending is None:
      return
    keys, priorities = self._pending
    self._pending = None
    priorities = np.asarray(priorities)  # blocks until that update is done
    self._published_params = self._state.params
    if self._priority_updater is not None:
      self.max_priority = max(self.max_priority, float(priorities.max()))
      self._priority_updater(keys, priorities)

  def get_variables(self, names: Sequence[str]) -> list[Any]:
    return [self._published_params for _ in names]

  @property
  def state(self) -> TrainingState:
    return self._state

  def save(self) -> TrainingState:
    """The state after every update so far (priorities sent too)."""
    self._complete_previous_step()
    return self._state

  def restore(self, state: TrainingState) -> None:
    self._pending = None
    self._state = jax.tree_util.tree_map(jnp.asarray, state)
    self._published_params = self._state.params
