"""Haiku networks shared by agents: MLP torso, a Q-value head, and the
value-based family's general head (distributional outputs, dueling streams,
noisy layers)."""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import chex
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np


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


class NoisyLinear(hk.Module):
  """A linear layer with factorised Gaussian noise (Fortunato et al., 2018,
  "Noisy Networks for Exploration", section 3.2):

    y = (mu_w + sigma_w * eps_w) x + mu_b + sigma_b * eps_b,
    eps_w[i, j] = f(eps_in[i]) f(eps_out[j]),  eps_b = f(eps_out),
    f(x) = sgn(x) sqrt(|x|),  eps_in ~ N(0, I_p),  eps_out ~ N(0, I_q),

  for p inputs and q outputs. `noise` holds the p + q standard normals
  (eps_in, then eps_out; `noise_size`), one draw for the whole batch; with
  noise None the layer is its mean, mu_w x + mu_b. Initialisation (the
  paper's, for factorised noise): mu ~ U[-1/sqrt(p), 1/sqrt(p)],
  sigma = sigma_0 / sqrt(p).
  """

  def __init__(self, output_size: int, sigma_0: float = 0.5,
               name: str | None = None):
    super().__init__(name=name)
    self._output_size = output_size
    self._sigma_0 = sigma_0

  @staticmethod
  def noise_size(num_inputs: int, output_size: int) -> int:
    """Standard normals one noisy forward pass of the layer takes."""
    return num_inputs + output_size

  def __call__(self, x: jax.Array, noise: jax.Array | None) -> jax.Array:
    num_inputs = x.shape[-1]
    bound = 1.0 / num_inputs ** 0.5
    mu_init = hk.initializers.RandomUniform(-bound, bound)
    sigma_init = hk.initializers.Constant(self._sigma_0 * bound)
    shape = (num_inputs, self._output_size)
    w_mu = hk.get_parameter("w_mu", shape, x.dtype, init=mu_init)
    w_sigma = hk.get_parameter("w_sigma", shape, x.dtype, init=sigma_init)
    b_mu = hk.get_parameter("b_mu", (self._output_size,), x.dtype,
                            init=mu_init)
    b_sigma = hk.get_parameter("b_sigma", (self._output_size,), x.dtype,
                               init=sigma_init)
    if noise is None:
      return x @ w_mu + b_mu
    chex.assert_shape(noise, (self.noise_size(num_inputs, self._output_size),))
    f_in = _signed_sqrt(noise[:num_inputs])
    f_out = _signed_sqrt(noise[num_inputs:])
    # The noise is shared by the whole batch, so forming the p x q noisy
    # weights once costs less than a second matmul with sigma_w (and its
    # gradient is one matmul too).
    w = w_mu + w_sigma * jnp.outer(f_in, f_out)
    return x @ w + b_mu + b_sigma * f_out


def _signed_sqrt(x: jax.Array) -> jax.Array:
  return jnp.sign(x) * jnp.sqrt(jnp.abs(x))


def dueling_combine(value: jax.Array, advantages: jax.Array) -> jax.Array:
  """Q = V + A - mean_a A (Wang et al., 2016, "Dueling Network
  Architectures for Deep Reinforcement Learning", eq. 9), per output of a
  distributional head: value [B, 1, ...], advantages [B, A, ...]."""
  return value + advantages - jnp.mean(advantages, axis=1, keepdims=True)


class ValueHead(hk.Module):
  """From torso features to Q-values [B, A], or to one vector of
  `num_outputs` per action [B, A, K] (logits over atoms, quantiles).

  Each stream is Linear(hidden_size) -> ReLU -> Linear(output) (one
  Linear when hidden_size is None). dueling: a value stream (K outputs)
  and an advantage stream (A x K) combined by `dueling_combine`; otherwise
  one stream of A x K outputs. noisy: every layer of the head is a
  `NoisyLinear`, all their noise drawn from `key` at once (one random
  number call per forward pass); key None: the mean network.
  """

  def __init__(self, num_actions: int, num_outputs: int | None = None,
               hidden_size: int | None = None, dueling: bool = False,
               noisy: bool = False, sigma_0: float = 0.5,
               name: str | None = None):
    super().__init__(name=name)
    self._num_actions = num_actions
    self._num_outputs = num_outputs
    self._hidden_size = hidden_size
    self._dueling = dueling
    self._noisy = noisy
    self._sigma_0 = sigma_0

  def __call__(self, features: jax.Array,
               key: jax.Array | None = None) -> jax.Array:
    per_action = self._num_outputs or 1
    shape = (features.shape[0], self._num_actions, per_action)
    # (name, inputs, outputs) of every layer, in the order of the noise.
    streams = [("advantage" if self._dueling else "q",
                self._num_actions * per_action)]
    if self._dueling:
      streams.append(("value", per_action))
    layers = []
    for name, size in streams:
      inputs = features.shape[-1]
      if self._hidden_size is not None:
        layers.append((f"{name}_hidden", inputs, self._hidden_size))
        inputs = self._hidden_size
      layers.append((f"{name}_output", inputs, size))
    noise = {name: None for name, _, _ in layers}
    if self._noisy and key is not None:
      sizes = [NoisyLinear.noise_size(p, q) for _, p, q in layers]
      draws = jnp.split(jax.random.normal(key, (sum(sizes),), features.dtype),
                        np.cumsum(sizes)[:-1])
      noise = {name: draw for (name, _, _), draw in zip(layers, draws)}

    # Layers are made here (not in helper methods) so that their names are
    # value_head/<stream>_hidden and value_head/<stream>_output.
    def layer(name: str, size: int, x: jax.Array) -> jax.Array:
      if self._noisy:
        return NoisyLinear(size, self._sigma_0, name=name)(x, noise[name])
      return hk.Linear(size, name=name)(x)

    def stream(name: str, size: int) -> jax.Array:
      x = features
      if self._hidden_size is not None:
        x = jax.nn.relu(layer(f"{name}_hidden", self._hidden_size, x))
      return layer(f"{name}_output", size, x)

    out = jnp.reshape(stream(*streams[0]), shape)
    if self._dueling:
      value = jnp.reshape(stream(*streams[1]), (shape[0], 1, per_action))
      out = dueling_combine(value, out)
    return out[..., 0] if self._num_outputs is None else out


def make_value_network(num_actions: int, hidden_sizes: Sequence[int],
                       num_outputs: int | None = None, dueling: bool = False,
                       noisy: bool = False,
                       sigma_0: float = 0.5) -> FeedForwardNetwork:
  """An MLP torso (hidden_sizes[:-1]) and a `ValueHead` whose streams have
  a hidden layer of hidden_sizes[-1]: `apply(params, obs, key=None)` gives
  Q [B, A] (num_outputs None) or [B, A, num_outputs]. With dueling and
  noisy off and num_outputs None it is `make_q_network`'s architecture.
  Only the head is noisy (as in Rainbow, whose torso is convolutional and
  whose fully connected layers are noisy); key None: the mean network."""
  hidden_sizes = tuple(hidden_sizes)
  if not hidden_sizes:
    raise ValueError("make_value_network needs at least one hidden size.")

  def forward(obs: jax.Array, key: jax.Array | None = None) -> jax.Array:
    features = MLP(hidden_sizes[:-1])(obs)
    return ValueHead(num_actions, num_outputs, hidden_sizes[-1], dueling,
                     noisy, sigma_0)(features, key)

  transformed = hk.without_apply_rng(hk.transform(forward))
  return FeedForwardNetwork(init=transformed.init, apply=transformed.apply)
