"""Numpy references shared by the continuous agents' loss tests (SAC, TD3,
D4PG)."""
from __future__ import annotations

import numpy as np

from building_blocks import specs


def spec(action_dim=2, obs_dim=3) -> specs.EnvironmentSpec:
  """A continuous-action spec: obs [obs_dim], actions in [-1, 1]^action_dim."""
  return specs.EnvironmentSpec(
      observations=specs.Array((obs_dim,), np.float32),
      actions=specs.BoundedArray((action_dim,), np.float32, -1.0, 1.0),
      rewards=specs.Array((), np.float32),
      discounts=specs.BoundedArray((), np.float32, 0.0, 1.0))


def mlp(params, torso, head, x):
  """A Haiku MLP torso (ReLU) and linear head in numpy (float64)."""
  layers = sorted(k for k in params if k.split("/")[0] == torso)
  h = np.asarray(x, np.float64)
  for name in layers:
    h = np.maximum(h @ np.asarray(params[name]["w"]) + params[name]["b"], 0)
  return h @ np.asarray(params[head]["w"]) + np.asarray(params[head]["b"])
