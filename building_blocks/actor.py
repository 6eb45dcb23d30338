"""The actor every host-side runner uses: any `Agent`'s batched policy,
jitted once, with its own RNG key.

On an accelerator the policy runs on the host CPU (as Acme's actors do):
one environment step's batch is tiny, and a round trip to the accelerator
costs more than the computation. Parameters are copied to the CPU once per
new version, not once per step.
"""
from __future__ import annotations

from typing import Any, Callable

import chex
import jax
import numpy as np


class Actor:
  """select(params, observations[B], step) -> (actions[B], extras)."""

  def __init__(self, policy: Callable, key: chex.PRNGKey,
               evaluation: bool = False, device: Any = None):
    def act(params, key, observations, step):
      key, policy_key = jax.random.split(key)
      actions, extras = policy(params, policy_key, observations, step,
                               evaluation)
      return actions, extras, key

    # Computation follows its committed inputs: parameters and key placed on
    # the CPU device make the policy run there.
    self._device = device if device is not None else _host_cpu()
    self._act = jax.jit(act)
    self._key = jax.device_put(key, self._device) if self._device else key
    self._source_params: Any = None
    self._params: Any = None

  def select(self, params: Any, observations: np.ndarray, step: int
             ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if params is not self._source_params:
      self._source_params = params
      self._params = (jax.device_put(params, self._device) if self._device
                      else params)
    actions, extras, self._key = self._act(self._params, self._key,
                                           observations, step)
    return np.asarray(actions), jax.tree_util.tree_map(np.asarray, extras)

  @property
  def rng_key(self) -> chex.PRNGKey:
    return self._key

  @rng_key.setter
  def rng_key(self, key: chex.PRNGKey) -> None:
    self._key = key


def _host_cpu() -> Any:
  """The CPU device when the default backend is an accelerator, else None
  (the default device is the CPU already)."""
  if jax.default_backend() == "cpu":
    return None
  try:
    return jax.devices("cpu")[0]
  except RuntimeError:
    return None
