"""One learner for the value-based family, with a pluggable loss and head.

DQN, C51, QR-DQN, M-DQN and Rainbow differ only in what the network's head
outputs and in the loss on a batch (Acme's SGDLearner with a LossFn).
Everything else is written here once: the epsilon-greedy policy,
importance weights for prioritized replay, the optimiser, the periodic
target copy, several SGD steps per replay sample in one `lax.scan`, and the
agent's `ReplaySpec`. An agent supplies

  network: ValueNetwork(init, apply, q_values, stochastic=False)
    apply(params, obs[B]) -> head output (Q-values, logits over atoms, ...)
    q_values(head output) -> Q(s, .) [B, A], what acting maximises
  loss: LossFn(network, params, target_params, transitions[B], weights[B])
    -> (loss, extras) with extras["priority"] [B] >= 0 (new priorities)

and a config with the fields of `ValueBasedConfig`.

A stochastic network (stochastic=True, e.g. noisy layers) draws randomness
from a key: apply(params, obs[B], key) with key None meaning its
deterministic (mean) output. The policy then passes it a fresh key when
acting and None when evaluating, and the learner passes the loss a fresh
`key=` each SGD step (so a loss for such a network takes a `key` keyword;
`apply_network`, `apply_network_to_pair` and `split_key` let one loss
serve both kinds). A network that is not stochastic is called exactly as
before, without a key, and its updates ignore the key.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import rlax

from building_blocks import agent as agent_lib
from building_blocks import config_checks
from building_blocks import errors
from building_blocks import optimizers
from building_blocks import specs
from building_blocks import types


class ValueNetwork(NamedTuple):
  """Pure network functions of a value-based agent (see module docstring).

  stochastic: apply takes a third argument, a key (None: the mean output).
  """
  init: Callable
  apply: Callable
  q_values: Callable[[chex.Array], chex.Array]
  stochastic: bool = False


def apply_network(network: ValueNetwork, params: types.Params,
                  observations: chex.ArrayTree,
                  key: chex.PRNGKey | None = None) -> chex.Array:
  """The head output; a stochastic network draws its noise from `key`
  (None: its mean output), any other network ignores `key`."""
  if network.stochastic:
    return network.apply(params, observations, key)
  return network.apply(params, observations)


def apply_network_to_pair(network: ValueNetwork, params: types.Params,
                          observations: chex.ArrayTree,
                          next_observations: chex.ArrayTree,
                          key: chex.PRNGKey | None = None
                          ) -> tuple[chex.Array, chex.Array]:
  """The head outputs at s and s' [B] from one forward pass over both
  (stacked): faster than two, and a stochastic network draws one noise for
  both, as the online network of NoisyNet-DQN does (Fortunato et al.,
  2018, algorithm 1)."""
  batch = jax.tree_util.tree_leaves(observations)[0].shape[0]
  both = jax.tree_util.tree_map(
      lambda x, y: jnp.concatenate([x, y], axis=0), observations,
      next_observations)
  out = apply_network(network, params, both, key)
  return out[:batch], out[batch:]


def split_key(key: chex.PRNGKey | None, num: int
              ) -> tuple[chex.PRNGKey | None, ...]:
  """`num` independent keys from `key`, or `num` Nones for None."""
  if key is None:
    return (None,) * num
  return tuple(jax.random.split(key, num))


LossFn = Callable[..., tuple[chex.Array, dict[str, chex.Array]]]


class ValueState(NamedTuple):
  """Everything the update changes; checkpointed as one pytree."""
  params: types.Params
  target_params: types.Params
  opt_state: Any
  steps: chex.Array


@dataclasses.dataclass
class ValueBasedConfig:
  """Hyperparameters every value-based agent shares (defaults: DQN on
  CartPole-v1)."""

  learning_rate: float = 1e-3
  """Adam step size."""
  adam_eps: float = 1e-8
  """Adam epsilon."""
  hidden_sizes: tuple[int, ...] = (128, 128)
  """Widths of the MLP torso's hidden layers."""
  discount: float = 0.995
  """Per-step discount gamma."""
  n_step: int = 3
  """Steps of real reward before bootstrapping."""
  batch_size: int = 32
  """Transitions per gradient step."""
  samples_per_insert: float = 32.0
  """Replayed transitions per inserted one (rate-limiter target). 32 with batch 32: one gradient step per environment step."""
  num_sgd_steps_per_step: int = 8
  """Gradient steps per replay sample: one sample of this many batches feeds a jitted scan of updates (fewer Python and replay round trips)."""
  min_replay_size: int = 1_000
  """Transitions in replay before learning starts."""
  max_replay_size: int = 50_000
  """Replay capacity; the oldest transitions are removed first."""
  prioritized: bool = True
  """Prioritized (True) or uniform (False) replay."""
  priority_exponent: float = 0.6
  """alpha in P(i) = p_i^alpha / sum_j p_j^alpha."""
  importance_sampling_exponent: float = 0.4
  """beta in the importance weights w_i = (N P(i))^-beta / max_j w_j."""
  target_update_period: int = 100
  """Gradient steps between copies of the online to the target network."""
  max_gradient_norm: float = 10.0
  """Global gradient-norm clip."""
  epsilon_start: float = 1.0
  """Exploration rate at the first step."""
  epsilon_end: float = 0.01
  """Exploration rate after the decay."""
  epsilon_decay_steps: int = 5_000
  """Environment steps over which epsilon decays linearly."""
  evaluation_epsilon: float = 0.0
  """Exploration rate of evaluation episodes."""

  # Fields that set shapes or Python control flow: they cannot be vmapped.
  STATIC_FIELDS = ("hidden_sizes", "n_step", "batch_size",
                   "num_sgd_steps_per_step", "min_replay_size",
                   "max_replay_size", "prioritized", "samples_per_insert",
                   "target_update_period", "epsilon_decay_steps")

  def validate(self, prefix: str = "") -> None:
    """Raises ConfigError naming the first out-of-range field."""
    config_checks.require_positive_ints(
        self, ("n_step", "batch_size", "num_sgd_steps_per_step",
               "min_replay_size", "max_replay_size", "target_update_period"),
        prefix)
    config_checks.require(self, [
        ("learning_rate", self.learning_rate > 0, "> 0"),
        ("samples_per_insert", self.samples_per_insert > 0, "> 0"),
        ("discount", 0 <= self.discount <= 1, "in [0, 1]"),
        ("priority_exponent", self.priority_exponent >= 0, ">= 0"),
        ("importance_sampling_exponent",
         0 <= self.importance_sampling_exponent <= 1, "in [0, 1]"),
        ("epsilon_start", 0 <= self.epsilon_start <= 1, "in [0, 1]"),
        ("epsilon_end", 0 <= self.epsilon_end <= 1, "in [0, 1]"),
        ("evaluation_epsilon", 0 <= self.evaluation_epsilon <= 1, "in [0, 1]"),
        ("epsilon_decay_steps", self.epsilon_decay_steps >= 0, ">= 0"),
        ("max_gradient_norm", self.max_gradient_norm > 0, "> 0"),
        ("hidden_sizes", len(self.hidden_sizes) > 0 and
         all(h > 0 for h in self.hidden_sizes), "non-empty and positive"),
    ], prefix)
    if self.min_replay_size > self.max_replay_size:
      raise errors.ConfigError(
          f"{prefix}min_replay_size ({self.min_replay_size}) must not exceed "
          f"{prefix}max_replay_size ({self.max_replay_size}).")


def require_discrete_actions(spec: specs.EnvironmentSpec, agent: str,
                             env_id: str = "") -> None:
  """Value-based agents need one discrete action; a clear error otherwise."""
  if not specs.is_discrete(spec.actions):
    raise errors.IncompatibleEnvironmentError(
        f"{agent} needs a discrete action space, but "
        f"{env_id or 'this environment'} has actions {spec.actions!r}. Pick "
        "an environment with discrete actions (e.g. CartPole-v1, Acrobot-v1) "
        "or an agent for continuous control (ppo).")


def importance_weights(probabilities: chex.Array, table_size: chex.Array,
                       exponent: float) -> chex.Array:
  """w_i = (N P(i))^-beta, normalised by the batch maximum (Schaul et al.,
  2016, "Prioritized Experience Replay", section 3.4)."""
  chex.assert_rank(probabilities, 1)
  weights = (jnp.asarray(table_size).astype(jnp.float32) *
             probabilities.astype(jnp.float32)) ** (-exponent)
  return weights / jnp.max(weights)


def make_optimizer(config: ValueBasedConfig) -> optax.GradientTransformation:
  """Global-norm clipping followed by Adam."""
  return optimizers.clipped_adam(config.learning_rate,
                                 config.max_gradient_norm, config.adam_eps)


def epsilon_schedule(config: ValueBasedConfig) -> optax.Schedule:
  """epsilon(t): linear from epsilon_start to epsilon_end over
  epsilon_decay_steps environment steps, then constant."""
  return optax.linear_schedule(config.epsilon_start, config.epsilon_end,
                               config.epsilon_decay_steps)


def make_value_based_agent(config: ValueBasedConfig,
                           spec: specs.EnvironmentSpec,
                           network: ValueNetwork,
                           loss: LossFn) -> agent_lib.Agent:
  """The `Agent` of a value-based method: `loss` and `network` plugged into
  the shared policy, update and replay description."""
  optimizer = make_optimizer(config)
  epsilon = epsilon_schedule(config)
  num_sgd = config.num_sgd_steps_per_step
  observation = np.zeros((1,) + spec.observations.shape,
                         spec.observations.dtype)

  def init(key: chex.PRNGKey) -> ValueState:
    params = network.init(key, observation)
    return ValueState(params=params, target_params=params,
                      opt_state=optimizer.init(params),
                      steps=jnp.zeros((), jnp.int32))

  def policy(params, key: chex.PRNGKey, observations: chex.Array,
             step: chex.Array, evaluation: bool = False):
    """Epsilon-greedy over q_values(apply(params, obs)), batched; a
    stochastic network acts with fresh noise, and evaluates with its mean."""
    if network.stochastic:
      noise_key, key = jax.random.split(key)
      out = network.apply(params, observations,
                          None if evaluation else noise_key)
    else:
      out = network.apply(params, observations)
    q_values = network.q_values(out)
    chex.assert_rank(q_values, 2)
    eps = config.evaluation_epsilon if evaluation else epsilon(step)
    keys = jax.random.split(key, q_values.shape[0])
    actions = jax.vmap(lambda k, q: rlax.epsilon_greedy(eps).sample(k, q))(
        keys, q_values)
    return actions.astype(jnp.int32), {}

  def sgd_step(state: ValueState, inputs) -> tuple[ValueState, Any]:
    minibatch, key = inputs
    # Only a stochastic network's loss takes a key (see module docstring).
    loss_kwargs = {"key": key} if network.stochastic else {}
    if config.prioritized:
      weights = importance_weights(minibatch.probabilities,
                                   minibatch.table_size,
                                   config.importance_sampling_exponent)
    else:
      weights = jnp.ones_like(minibatch.data.reward)
    (value, extras), grads = jax.value_and_grad(loss, argnums=1, has_aux=True)(
        network, state.params, state.target_params, minibatch.data, weights,
        **loss_kwargs)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    steps = state.steps + 1
    target_params = optax.periodic_update(params, state.target_params, steps,
                                          config.target_update_period)
    metrics = {"loss": value, "grad_norm": optax.global_norm(grads),
               **{k: v for k, v in extras.items() if k != "priority"}}
    return (ValueState(params, target_params, opt_state, steps),
            (metrics, extras["priority"]))

  def update(state: ValueState, batch, key: chex.PRNGKey):
    """num_sgd_steps_per_step consecutive SGD steps on the batch's
    consecutive slices of batch_size items; the last step's metrics, and
    the new priority of every item in sampling order. `key` feeds a
    stochastic network's noise (one key per SGD step); the updates of any
    other network are deterministic given the batch."""
    chex.assert_rank(batch.data.reward, 1)
    minibatches = jax.tree_util.tree_map(
        lambda x: jnp.reshape(jnp.asarray(x), (num_sgd, -1) + jnp.shape(x)[1:]),
        batch._replace(keys=None,
                       table_size=jnp.broadcast_to(
                           jnp.asarray(batch.table_size),
                           batch.data.reward.shape)))
    state, (metrics, priorities) = jax.lax.scan(
        sgd_step, state, (minibatches, jax.random.split(key, num_sgd)))
    last = jax.tree_util.tree_map(lambda m: m[-1], metrics)
    return state, last, jnp.reshape(priorities, (-1,))

  replay = agent_lib.ReplaySpec(
      kind="transitions", n_step=config.n_step, discount=config.discount,
      capacity=config.max_replay_size, min_size=config.min_replay_size,
      batch_size=config.batch_size * num_sgd,
      samples_per_insert=config.samples_per_insert,
      prioritized=config.prioritized,
      priority_exponent=config.priority_exponent)
  return agent_lib.Agent(init=init, policy=policy, update=update,
                         replay=replay)
