"""C51's network: an MLP torso and a categorical head, logits [B, A, K]
over K atoms z_1 < ... < z_K evenly spaced in [v_min, v_max];
Q(s, a) = sum_k z_k softmax(logits[s, a])_k."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from agents.c51 import config as config_lib
from building_blocks import networks as networks_lib
from building_blocks import specs
from building_blocks import value_based


def make_atoms(num_atoms: int, v_min: float, v_max: float) -> chex.Array:
  """The support z [K], float32."""
  return jnp.linspace(v_min, v_max, num_atoms, dtype=jnp.float32)


def expected_q_values(logits: chex.Array, atoms: chex.Array) -> chex.Array:
  """Q [B, A] = sum_k z_k p_k from logits [B, A, K]."""
  chex.assert_rank(logits, 3)
  chex.assert_axis_dimension(logits, 2, atoms.shape[0])
  return jnp.sum(jax.nn.softmax(logits, axis=-1) * atoms, axis=-1)


def make_network(spec: specs.EnvironmentSpec,
                 config: config_lib.C51Config) -> value_based.ValueNetwork:
  """The categorical Q-network for `spec`'s actions; its head output is
  the logits [B, A, num_atoms]."""
  value_based.require_discrete_actions(spec, "C51")
  network = networks_lib.make_value_network(
      spec.actions.num_values, config.hidden_sizes,
      num_outputs=config.num_atoms)
  atoms = make_atoms(config.num_atoms, config.v_min, config.v_max)
  return value_based.ValueNetwork(
      init=network.init, apply=network.apply,
      q_values=lambda logits: expected_q_values(logits, atoms))
