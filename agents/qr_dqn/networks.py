"""QR-DQN's network: an MLP torso and a quantile head, theta [B, A, N], the
N quantiles of each action's return distribution at the midpoints
tau_i = (2i + 1) / 2N; Q(s, a) = mean_i theta_i(s, a)."""
from __future__ import annotations

import chex
import jax.numpy as jnp

from agents.qr_dqn import config as config_lib
from building_blocks import networks as networks_lib
from building_blocks import specs
from building_blocks import value_based


def quantile_midpoints(num_quantiles: int) -> chex.Array:
  """tau_i = (2i + 1) / 2N, i = 0..N-1, float32."""
  return (jnp.arange(num_quantiles, dtype=jnp.float32) + 0.5) / num_quantiles


def mean_q_values(quantiles: chex.Array) -> chex.Array:
  """Q [B, A] = mean over the quantiles [B, A, N]."""
  chex.assert_rank(quantiles, 3)
  return jnp.mean(quantiles, axis=-1)


def make_network(spec: specs.EnvironmentSpec,
                 config: config_lib.QRDQNConfig) -> value_based.ValueNetwork:
  """The quantile network for `spec`'s actions; its head output is the
  quantiles [B, A, num_quantiles]."""
  value_based.require_discrete_actions(spec, "QR-DQN")
  network = networks_lib.make_value_network(
      spec.actions.num_values, config.hidden_sizes,
      num_outputs=config.num_quantiles)
  return value_based.ValueNetwork(init=network.init, apply=network.apply,
                                  q_values=mean_q_values)
