"""n-step return maths, as pure functions.

For a transition starting at s_t with action a_t, rewards r_{t+k} and
environment discounts d_{t+k} (d = 0 after a termination, 1 otherwise) for
k = 0..m-1, where m <= n is the number of steps before the horizon or the
episode's end:

  R_t^{(m)} = sum_{k=0}^{m-1} ( prod_{j=0}^{k-1} gamma * d_{t+j} ) * r_{t+k}
  Gamma_t^{(m)} = prod_{k=0}^{m-1} gamma * d_{t+k}

so that the n-step target is R_t^{(m)} + Gamma_t^{(m)} * V(s_{t+m})
(Sutton & Barto, 2018, eq. 7.1; Hessel et al., 2018, "Rainbow").
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def nstep_return(rewards: Sequence[float], discounts: Sequence[float],
                 gamma: float) -> tuple[np.float32, np.float32]:
  """Returns (R_t^{(m)}, Gamma_t^{(m)}) for m = len(rewards) steps."""
  if len(rewards) != len(discounts) or not rewards:
    raise ValueError("rewards and discounts must be equally long and non-empty, "
                     f"got {len(rewards)} and {len(discounts)}.")
  total = 0.0
  scale = 1.0
  for reward, discount in zip(rewards, discounts):
    total += scale * float(reward)
    scale *= gamma * float(discount)
  return np.float32(total), np.float32(scale)
