"""Core data types passed between the layers.

`TimeStep` and `StepType` are dm_env's, so Relay environments interoperate
with Acme, bsuite and dm_control. `Transition` is what replay stores for
value-based agents.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import dm_env

TimeStep = dm_env.TimeStep
StepType = dm_env.StepType

NestedArray = Any
PRNGKey = Any
Params = Any


class Transition(NamedTuple):
  """An n-step transition (s_t, a_t, R_t^{(n)}, gamma_t^{(n)}, s_{t+n}).

  `reward` is the discounted n-step return
  R_t^{(n)} = sum_{k=0}^{m-1} (prod_{j<k} gamma * d_{t+j}) r_{t+k}, and
  `discount` is prod_{k<m} gamma * d_{t+k} (zero after a termination),
  where m <= n is how many steps were available before the episode ended.
  """
  observation: NestedArray
  action: NestedArray
  reward: NestedArray
  discount: NestedArray
  next_observation: NestedArray
