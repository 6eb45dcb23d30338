"""Haiku networks shared by agents: MLP torso and a Q-value head."""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import haiku as hk
import jax
import jax.numpy as jnp


class FeedForwardNetwork(NamedTuple):
  """A pure network: `init(rng, obs) -> params`, `apply(params, obs) -> out`."""
  init: Callable
  apply: Callable


class MLP(hk.Module):
  """Flattens the observation and applies Linear+activation layers."""

  def __init__(self, hidden_sizes: Sequence[int],
               activation: Callable[[jax.Array], jax.Array] = jax.nn.relu,
               name: str | None = None):
    super().__init__(name=name)
    self._hidden_sizes = tuple(hidden_sizes)
    self._activation = activation

  def __call__(self, x: jax.Array) -> jax.Array:
    x = jnp.reshape(x, (x.shape[0], -1)).astype(jnp.float32)
    for size in self._hidden_sizes:
      x = self._activation(hk.Linear(size)(x))
    return x


class QValueHead(hk.Module):
  """Maps features to one Q-value per discrete action: Q(s, .) in R^A."""

  def __init__(self, num_actions: int, name: str | None = None):
    super().__init__(name=name)
    self._num_actions = num_actions

  def __call__(self, features: jax.Array) -> jax.Array:
    return hk.Linear(self._num_actions)(features)


def make_q_network(num_actions: int,
                   hidden_sizes: Sequence[int]) -> FeedForwardNetwork:
  """MLP torso + Q head as a pure (init, apply) pair on batched inputs."""

  def forward(obs: jax.Array) -> jax.Array:
    return QValueHead(num_actions)(MLP(hidden_sizes)(obs))

  transformed = hk.without_apply_rng(hk.transform(forward))
  return FeedForwardNetwork(init=transformed.init, apply=transformed.apply)
