"""One learner for the off-policy actor-critic family (continuous actions).

TD3, SAC and D4PG differ in their networks' heads and in three losses;
everything else is written here once, as building_blocks/value_based.py
does for the value-based family:

- the config fields every member shares (`ActorCriticConfig`);
- actions: the networks act in [-1, 1]^D, the environment in its spec's
  bounds [low, high]^D (`scale_action`, `normalize_action`); replay stores
  the environment's actions and the update normalises them again, so every
  loss sees actions in [-1, 1];
- the batched policy: uniform random actions for the first `warmup_steps`
  environment steps (each held for `warmup_action_repeat` steps of its
  environment: temporally correlated exploration, which hard-exploration
  tasks such as MountainCarContinuous need), then the agent's
  `select_action`;
- the update: `num_sgd_steps_per_step` minibatches of one replay sample in
  one `lax.scan`; each critic step is followed, every
  `policy_update_period` critic steps, by a policy step, an optional step
  on the agent's extra parameters (SAC's temperature) and a Polyak update
  of the target networks (Lillicrap et al., 2016):

      theta^- <- tau theta + (1 - tau) theta^-

- the `ReplaySpec`: n-step transitions (the runner's adder computes R and
  Gamma), uniform or prioritized.

An agent supplies its networks (`ActorCriticNetworks`), its losses
(`ActorCriticLosses`) and `select_action(policy_params, key, obs[B],
evaluation) -> action[B, D]` in [-1, 1]. The losses find the policy's
parameters in `state.params.policy`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from building_blocks import agent as agent_lib
from building_blocks import config_checks
from building_blocks import errors
from building_blocks import specs
from building_blocks import types
from building_blocks import value_based


class ActorCriticNetworks(NamedTuple):
  """Pure network functions of an actor-critic agent.

  policy_init(key, obs[B]) -> policy params;
  policy_apply(params, obs[B]) -> the policy head's output (a deterministic
    action, or a distribution's parameters).
  critic_init(key, obs[B], action[B, D]) -> critic params;
  critic_apply(params, obs[B], action[B, D]) -> the critic head's output
    (twin Q-values, logits over atoms, ...).
  extra_init() -> other learnt parameters (SAC: the log temperature); ()
    when there are none.
  """
  policy_init: Callable[..., types.Params]
  policy_apply: Callable[..., Any]
  critic_init: Callable[..., types.Params]
  critic_apply: Callable[..., Any]
  extra_init: Callable[[], types.Params] = lambda: ()


class ActingParams(NamedTuple):
  """What actors act with (the state's `params`): the policy's parameters
  and a key drawn once at initialisation, the seed of the held random
  warm-up actions (a policy call gets a fresh key every step, so actions
  held across steps need a key that stays)."""
  policy: types.Params
  exploration_key: chex.PRNGKey


class ActorCriticState(NamedTuple):
  """Everything the update changes; checkpointed as one pytree.

  `params` (`ActingParams`) hold what actors act with, so only the policy
  travels to actors after each update.
  """
  params: ActingParams
  critic_params: types.Params
  extra_params: types.Params
  target_policy_params: types.Params
  target_critic_params: types.Params
  policy_opt_state: Any
  critic_opt_state: Any
  extra_opt_state: Any
  steps: chex.Array


# critic(critic_params, state, transitions[B], weights[B], key)
#   -> (loss, extras); extras["priority"] [B] >= 0 for prioritized replay.
CriticLossFn = Callable[..., tuple[chex.Array, dict[str, chex.Array]]]
# policy(policy_params, state, transitions[B], key) -> (loss, extras).
PolicyLossFn = Callable[..., tuple[chex.Array, dict[str, chex.Array]]]
# extra(extra_params, state, transitions[B], key) -> (loss, extras); `state`
# holds the policy after this step's policy update.
ExtraLossFn = Callable[..., tuple[chex.Array, dict[str, chex.Array]]]


class ActorCriticLosses(NamedTuple):
  """An agent's losses on a batch whose actions lie in [-1, 1]. `state` is
  the learner's `ActorCriticState` (targets, the other networks). Every
  extra is a scalar metric except "priority"."""
  critic: CriticLossFn
  policy: PolicyLossFn
  extra: Optional[ExtraLossFn] = None


@dataclasses.dataclass
class ActorCriticConfig:
  """Hyperparameters every off-policy actor-critic agent shares (defaults:
  TD3 and SAC on Pendulum-v1)."""

  policy_learning_rate: float = 1e-3
  """Adam step size of the policy."""
  critic_learning_rate: float = 1e-3
  """Adam step size of the critic."""
  policy_hidden_sizes: tuple[int, ...] = (128, 128)
  """Widths of the policy MLP's hidden layers."""
  critic_hidden_sizes: tuple[int, ...] = (128, 128)
  """Widths of the critic MLP's hidden layers (each critic of a twin)."""
  discount: float = 0.99
  """Per-step discount gamma."""
  n_step: int = 3
  """Steps of real reward before bootstrapping."""
  batch_size: int = 128
  """Transitions per gradient step."""
  samples_per_insert: float = 128.0
  """Replayed transitions per inserted one (rate-limiter target); equal to batch_size: one gradient step per environment step."""
  num_sgd_steps_per_step: int = 8
  """Gradient steps per replay sample: one sample of this many batches feeds a jitted scan of updates."""
  min_replay_size: int = 500
  """Transitions in replay before learning starts."""
  max_replay_size: int = 100_000
  """Replay capacity; the oldest transitions are removed first."""
  prioritized: bool = False
  """Prioritized (True) or uniform (False) replay."""
  priority_exponent: float = 0.6
  """alpha in P(i) = p_i^alpha / sum_j p_j^alpha (prioritized replay)."""
  importance_sampling_exponent: float = 0.4
  """beta in the importance weights w_i = (N P(i))^-beta / max_j w_j."""
  tau: float = 0.005
  """Polyak step of the target networks: theta^- <- tau theta + (1 - tau) theta^-."""
  warmup_steps: int = 500
  """Environment steps of uniform random actions before the policy acts."""
  warmup_action_repeat: int = 1
  """Each random warm-up action is held for this many steps of its environment (1: a new one every step)."""

  # Fields that set shapes or Python control flow: they cannot be vmapped.
  STATIC_FIELDS = ("policy_hidden_sizes", "critic_hidden_sizes", "n_step",
                   "batch_size", "num_sgd_steps_per_step", "min_replay_size",
                   "max_replay_size", "prioritized", "samples_per_insert")

  def validate(self, prefix: str = "") -> None:
    """Raises ConfigError naming the first out-of-range field."""
    config_checks.require_positive_ints(
        self, ("n_step", "batch_size", "num_sgd_steps_per_step",
               "min_replay_size", "max_replay_size", "warmup_action_repeat"),
        prefix)
    if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
      raise errors.ConfigError(
          f"{prefix}warmup_steps must be an integer >= 0, got "
          f"{self.warmup_steps!r}.")
    config_checks.require(self, [
        ("policy_learning_rate", self.policy_learning_rate > 0, "> 0"),
        ("critic_learning_rate", self.critic_learning_rate > 0, "> 0"),
        ("samples_per_insert", self.samples_per_insert > 0, "> 0"),
        ("discount", 0 <= self.discount <= 1, "in [0, 1]"),
        ("tau", 0 < self.tau <= 1, "in (0, 1]"),
        ("priority_exponent", self.priority_exponent >= 0, ">= 0"),
        ("importance_sampling_exponent",
         0 <= self.importance_sampling_exponent <= 1, "in [0, 1]"),
        ("policy_hidden_sizes", _valid_sizes(self.policy_hidden_sizes),
         "non-empty and positive"),
        ("critic_hidden_sizes", _valid_sizes(self.critic_hidden_sizes),
         "non-empty and positive"),
    ], prefix)
    if self.min_replay_size > self.max_replay_size:
      raise errors.ConfigError(
          f"{prefix}min_replay_size ({self.min_replay_size}) must not exceed "
          f"{prefix}max_replay_size ({self.max_replay_size}).")


# Settings for gymnasium's MuJoCo locomotion tasks (HalfCheetah-v5 and the
# like), the values CleanRL's SAC and TD3 use there: wider networks, larger
# batches (still one gradient step per environment step), 5,000 random
# warm-up steps, one-step returns and a replay of one million transitions.
MUJOCO_LOCOMOTION: dict[str, Any] = dict(
    policy_hidden_sizes=(256, 256), critic_hidden_sizes=(256, 256),
    policy_learning_rate=3e-4, critic_learning_rate=1e-3, n_step=1,
    batch_size=256, samples_per_insert=256.0, warmup_steps=5_000,
    min_replay_size=5_000, max_replay_size=1_000_000)


def _valid_sizes(sizes: Any) -> bool:
  return (isinstance(sizes, (tuple, list)) and len(sizes) > 0 and
          all(isinstance(h, int) and h > 0 for h in sizes))


def require_continuous_actions(spec: specs.EnvironmentSpec, agent: str,
                               env_id: str = "") -> None:
  """Actor-critic agents need one bounded real-valued action vector (a
  gymnasium Box with finite bounds); a clear error otherwise."""
  actions = spec.actions
  where = env_id or "this environment"
  if (specs.is_discrete(actions) or
      not isinstance(actions, specs.BoundedArray) or
      not np.issubdtype(actions.dtype, np.floating)):
    raise errors.IncompatibleEnvironmentError(
        f"{agent} needs a continuous action space (a Box of real numbers), "
        f"but {where} has actions {actions!r}. Pick an environment with "
        "continuous actions (e.g. Pendulum-v1, MountainCarContinuous-v0) or "
        "an agent for discrete actions (e.g. dqn).")
  low, high = action_bounds(actions)
  if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and
          np.all(low < high)):
    raise errors.IncompatibleEnvironmentError(
        f"{agent} scales its actions to the action space's bounds, but "
        f"{where} has actions {actions!r} with bounds that are infinite or "
        "empty. Wrap the environment so that its actions have finite bounds "
        "(e.g. gymnasium.wrappers.RescaleAction).")


def action_bounds(actions: specs.BoundedArray) -> tuple[np.ndarray, np.ndarray]:
  """(low, high) of a bounded action spec, broadcast to its shape."""
  low = np.broadcast_to(np.asarray(actions.minimum, np.float32), actions.shape)
  high = np.broadcast_to(np.asarray(actions.maximum, np.float32), actions.shape)
  return low, high


def scale_action(action: chex.Array, low: chex.Array,
                 high: chex.Array) -> chex.Array:
  """Maps x in [-1, 1] to low + (x + 1) (high - low) / 2 in [low, high]."""
  return low + (action + 1.0) * 0.5 * (high - low)


def normalize_action(action: chex.Array, low: chex.Array,
                     high: chex.Array) -> chex.Array:
  """The inverse of `scale_action`: 2 (a - low) / (high - low) - 1."""
  return 2.0 * (action - low) / (high - low) - 1.0


def polyak_update(online: types.Params, target: types.Params,
                  tau: float) -> types.Params:
  """theta^- <- tau theta + (1 - tau) theta^- for every leaf."""
  return optax.incremental_update(online, target, tau)


def gaussian_exploration(action: chex.Array, key: chex.PRNGKey,
                         stddev: float) -> chex.Array:
  """a + N(0, stddev^2) per dimension, clipped to [-1, 1]: the exploration
  of the deterministic-policy agents (TD3, D4PG), in [-1, 1] units."""
  noise = stddev * jax.random.normal(key, action.shape, action.dtype)
  return jnp.clip(action + noise, -1.0, 1.0)


def flat_observation(observation: chex.Array) -> chex.Array:
  """[B, ...] -> [B, prod(...)] float32 (the MLPs' input)."""
  return jnp.reshape(observation, (observation.shape[0], -1)).astype(
      jnp.float32)


def make_actor_critic_agent(
    config: ActorCriticConfig, spec: specs.EnvironmentSpec,
    networks: ActorCriticNetworks, losses: ActorCriticLosses,
    select_action: Callable[..., chex.Array], *, num_envs: int = 1,
    policy_update_period: int = 1, uses_target_policy: bool = True,
    extra_learning_rate: float | None = None) -> agent_lib.Agent:
  """The `Agent` of an actor-critic method (see the module docstring).

  num_envs: environments per policy call (`RunInfo.num_envs`); `step`
    advances by this much per call, so a warm-up action is held for
    warmup_action_repeat calls.
  policy_update_period: critic steps per policy (and target) update (TD3's
    delay d); must divide num_sgd_steps_per_step.
  uses_target_policy: whether the losses read `target_policy_params`
    (TD3, D4PG); without it (SAC) that copy is not updated.
  extra_learning_rate: Adam step size of the extra parameters.
  """
  num_sgd = config.num_sgd_steps_per_step
  period = policy_update_period
  if num_sgd % period:
    raise errors.ConfigError(
        f"num_sgd_steps_per_step ({num_sgd}) must be a multiple of the "
        f"policy update period ({period}): each replay sample ends with a "
        "policy update.")
  low, high = action_bounds(spec.actions)
  action_size = int(np.prod(spec.actions.shape))
  policy_optimizer = optax.adam(config.policy_learning_rate)
  critic_optimizer = optax.adam(config.critic_learning_rate)
  extra_optimizer = optax.adam(
      config.policy_learning_rate if extra_learning_rate is None
      else extra_learning_rate)
  observation = np.zeros((1,) + spec.observations.shape,
                         spec.observations.dtype)
  example_action = np.zeros((1,) + spec.actions.shape, np.float32)

  def init(key: chex.PRNGKey) -> ActorCriticState:
    policy_key, critic_key, exploration_key = jax.random.split(key, 3)
    policy_params = networks.policy_init(policy_key, observation)
    critic_params = networks.critic_init(critic_key, observation,
                                         example_action)
    extra_params = networks.extra_init()
    return ActorCriticState(
        params=ActingParams(policy_params, exploration_key),
        critic_params=critic_params,
        extra_params=extra_params, target_policy_params=policy_params,
        target_critic_params=critic_params,
        policy_opt_state=policy_optimizer.init(policy_params),
        critic_opt_state=critic_optimizer.init(critic_params),
        extra_opt_state=extra_optimizer.init(extra_params),
        steps=jnp.zeros((), jnp.int32))

  def warmup_action(params: ActingParams, step: chex.Array,
                    shape: tuple[int, ...]) -> chex.Array:
    """Uniform in [-1, 1]^D, a new draw for each environment (row) every
    warmup_action_repeat of its steps."""
    block = jnp.asarray(step) // (config.warmup_action_repeat * num_envs)
    key = jax.random.fold_in(params.exploration_key, block)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(
        jnp.arange(shape[0]))
    return jax.vmap(lambda k: jax.random.uniform(
        k, shape[1:], jnp.float32, -1.0, 1.0))(keys)

  def policy(params: ActingParams, key: chex.PRNGKey,
             observations: chex.Array, step: chex.Array,
             evaluation: bool = False):
    """The agent's action scaled to the bounds; while training, random
    actions for the first warmup_steps environment steps."""
    action = select_action(params.policy, key, observations, evaluation)
    chex.assert_shape(action, (observations.shape[0], action_size))
    if not evaluation:  # (no Python test of warmup_steps: it may be traced)
      action = jnp.where(step < config.warmup_steps,
                         warmup_action(params, step, action.shape), action)
    action = jnp.reshape(action, (-1,) + spec.actions.shape)
    return scale_action(action, low, high).astype(spec.actions.dtype), {}

  def critic_step(state: ActorCriticState, inputs):
    minibatch, key = inputs
    if config.prioritized:
      weights = value_based.importance_weights(
          minibatch.probabilities, minibatch.table_size,
          config.importance_sampling_exponent)
    else:
      weights = jnp.ones_like(minibatch.data.reward)
    (loss, extras), grads = jax.value_and_grad(losses.critic, has_aux=True)(
        state.critic_params, state, minibatch.data, weights, key)
    updates, opt_state = critic_optimizer.update(grads, state.critic_opt_state)
    critic_params = optax.apply_updates(state.critic_params, updates)
    priority = extras.pop("priority", jnp.zeros_like(weights))
    metrics = {"critic_loss": loss, **extras}
    return (state._replace(critic_params=critic_params,
                           critic_opt_state=opt_state,
                           steps=state.steps + 1), (metrics, priority))

  def policy_step(state: ActorCriticState, transitions, key):
    policy_key, extra_key = jax.random.split(key)
    (loss, extras), grads = jax.value_and_grad(losses.policy, has_aux=True)(
        state.params.policy, state, transitions, policy_key)
    updates, opt_state = policy_optimizer.update(grads, state.policy_opt_state)
    state = state._replace(
        params=state.params._replace(
            policy=optax.apply_updates(state.params.policy, updates)),
        policy_opt_state=opt_state)
    metrics = {"policy_loss": loss, **extras}
    if losses.extra is not None:
      (loss, extras), grads = jax.value_and_grad(losses.extra, has_aux=True)(
          state.extra_params, state, transitions, extra_key)
      updates, opt_state = extra_optimizer.update(grads,
                                                  state.extra_opt_state)
      state = state._replace(
          extra_params=optax.apply_updates(state.extra_params, updates),
          extra_opt_state=opt_state)
      metrics.update(extras)
    target_policy = state.target_policy_params
    if uses_target_policy:
      target_policy = polyak_update(state.params.policy, target_policy,
                                    config.tau)
    return state._replace(
        target_policy_params=target_policy,
        target_critic_params=polyak_update(
            state.critic_params, state.target_critic_params, config.tau)
    ), metrics

  def group_step(state: ActorCriticState, inputs):
    """`period` critic steps, then one policy step on the last minibatch."""
    minibatches, keys = inputs
    state, (critic_metrics, priorities) = jax.lax.scan(
        critic_step, state, (minibatches, keys[:period]))
    last = jax.tree_util.tree_map(lambda x: x[-1], minibatches.data)
    state, policy_metrics = policy_step(state, last, keys[period])
    metrics = {**jax.tree_util.tree_map(lambda m: m[-1], critic_metrics),
               **policy_metrics}
    return state, (metrics, priorities)

  def update(state: ActorCriticState, batch, key: chex.PRNGKey):
    """num_sgd_steps_per_step SGD steps on the batch's consecutive slices
    of batch_size items; the last step's metrics ("loss" is the critic's
    plus the policy's, the runners' divergence check), and the new priority
    of every item in sampling order (None for uniform replay)."""
    chex.assert_rank(batch.data.reward, 1)
    data = batch.data._replace(action=normalize_action(
        jnp.asarray(batch.data.action, jnp.float32), low, high))
    batch = batch._replace(
        keys=None, data=data,
        table_size=jnp.broadcast_to(jnp.asarray(batch.table_size),
                                    batch.data.reward.shape))
    groups = num_sgd // period
    minibatches = jax.tree_util.tree_map(
        lambda x: jnp.reshape(jnp.asarray(x),
                              (groups, period, -1) + jnp.shape(x)[1:]), batch)
    keys = jax.random.split(key, (groups, period + 1))
    state, (metrics, priorities) = jax.lax.scan(group_step, state,
                                                (minibatches, keys))
    last = jax.tree_util.tree_map(lambda m: m[-1], metrics)
    last["loss"] = last["critic_loss"] + last["policy_loss"]
    if not config.prioritized:
      return state, last, None  # nothing to send back to uniform replay
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
