"""Environment specs: shapes and dtypes of everything that crosses a layer."""
from __future__ import annotations

import dataclasses

from dm_env import specs

Array = specs.Array
BoundedArray = specs.BoundedArray
DiscreteArray = specs.DiscreteArray


@dataclasses.dataclass(frozen=True)
class EnvironmentSpec:
  """What an agent needs to know about an environment to build itself."""
  observations: specs.Array
  actions: specs.Array
  rewards: specs.Array
  discounts: specs.BoundedArray


def is_discrete(spec: specs.Array) -> bool:
  """True when `spec` describes a single discrete choice among N actions."""
  return isinstance(spec, specs.DiscreteArray)
