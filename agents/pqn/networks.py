"""PQN's Q-network: an MLP whose hidden layers are Linear -> LayerNorm ->
ReLU, and a linear Q head, Q(s, .) in R^A.

Layer normalisation is what lets PQN drop the target network: Gallici et
al. (2024) show that normalising the features (with a small L2
regularisation) keeps TD learning with function approximation stable, even
off-policy, and find empirically that layer normalisation alone is enough
in practice.
"""
from __future__ import annotations

from typing import Sequence

import haiku as hk
import jax
import jax.numpy as jnp

from building_blocks import networks as networks_lib
from building_blocks import specs
from building_blocks import value_based


def make_network(spec: specs.EnvironmentSpec, hidden_sizes: Sequence[int],
                 layer_norm: bool = True) -> networks_lib.FeedForwardNetwork:
  """init(key, obs[B, ...]) -> params; apply(params, obs[B, ...]) -> Q
  [B, A]. Raises IncompatibleEnvironmentError for continuous actions."""
  value_based.require_discrete_actions(spec, "PQN")
  num_actions = spec.actions.num_values

  def forward(obs: jax.Array) -> jax.Array:
    x = jnp.reshape(obs, (obs.shape[0], -1)).astype(jnp.float32)
    for size in hidden_sizes:
      x = hk.Linear(size)(x)
      if layer_norm:
        x = hk.LayerNorm(axis=-1, create_scale=True, create_offset=True)(x)
      x = jax.nn.relu(x)
    return hk.Linear(num_actions, name="q_head")(x)

  transformed = hk.without_apply_rng(hk.transform(forward))
  return networks_lib.FeedForwardNetwork(init=transformed.init,
                                         apply=transformed.apply)
