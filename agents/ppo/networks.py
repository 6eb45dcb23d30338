"""PPO's networks: separate actor and critic MLPs (as in PureJaxRL and
CleanRL), orthogonally initialised (Engstrom et al., 2020; Andrychowicz et
al., 2021, "What matters in on-policy RL").

Discrete actions: the actor outputs logits of a categorical policy.
Continuous actions: the actor outputs the mean of a diagonal Gaussian whose
log standard deviation is a state-independent parameter.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import chex
import distrax
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from agents.ppo import config as config_lib
from building_blocks import specs


class ActorCriticNetwork(NamedTuple):
  """Pure functions of the actor-critic.

  init(key, obs[B, ...]) -> params
  apply(params, obs[B, ...]) -> (policy_params, value[B]); policy_params is
    logits[B, A] (discrete) or (mean[B, D], log_std[D]) (continuous).
  distribution(policy_params) -> a distrax distribution over actions.
  """
  init: Callable
  apply: Callable
  distribution: Callable[[chex.ArrayTree], distrax.Distribution]
  discrete: bool


def _mlp(hidden_sizes, activation, x):
  x = jnp.reshape(x, (x.shape[0], -1)).astype(jnp.float32)
  for size in hidden_sizes:
    x = activation(hk.Linear(size, w_init=hk.initializers.Orthogonal(np.sqrt(2)))(x))
  return x


def make_networks(spec: specs.EnvironmentSpec,
                  config: config_lib.PPOConfig) -> ActorCriticNetwork:
  """The actor-critic for `spec`'s action space."""
  activation = {"tanh": jnp.tanh, "relu": jax.nn.relu}[config.activation]
  discrete = specs.is_discrete(spec.actions)
  if discrete:
    num_outputs = spec.actions.num_values
  else:
    num_outputs = int(np.prod(spec.actions.shape))

  def forward(obs):
    with hk.experimental.name_scope("actor"):
      out = hk.Linear(num_outputs, w_init=hk.initializers.Orthogonal(0.01))(
          _mlp(config.hidden_sizes, activation, obs))
    with hk.experimental.name_scope("critic"):
      value = hk.Linear(1, w_init=hk.initializers.Orthogonal(1.0))(
          _mlp(config.hidden_sizes, activation, obs))[:, 0]
    if discrete:
      return out, value
    log_std = hk.get_parameter("log_std", (num_outputs,), jnp.float32,
                               hk.initializers.Constant(config.initial_log_std))
    return (out, log_std), value

  transformed = hk.without_apply_rng(hk.transform(forward))

  def distribution(policy_params):
    if discrete:
      return distrax.Categorical(logits=policy_params)
    mean, log_std = policy_params
    return distrax.MultivariateNormalDiag(mean, jnp.exp(log_std) * jnp.ones_like(mean))

  return ActorCriticNetwork(transformed.init, transformed.apply, distribution,
                            discrete)
