"""Reverb table and rate-limiter factories.

A rate limiter keeps the learner's samples per inserted item near
`samples_per_insert` (SPI): with diff = inserts * SPI - samples, an insert
may proceed while diff + SPI <= max_diff and a sample while
diff - 1 >= min_diff and the table holds min_size_to_sample items.
"""
from __future__ import annotations

import sys
from typing import Any

from building_blocks import optional_deps


def min_size_limiter(min_size_to_sample: int) -> Any:
  """Samples wait until the table holds `min_size_to_sample` items."""
  reverb = optional_deps.import_reverb()
  return reverb.rate_limiters.MinSize(min_size_to_sample)


def sample_to_insert_ratio_limiter(samples_per_insert: float,
                                   min_size_to_sample: int,
                                   error_buffer: float,
                                   block_inserts: bool = True) -> Any:
  """Keeps samples/inserts within `error_buffer` of `samples_per_insert`.

  With `block_inserts=False` inserts never wait (max_diff = +inf). A single
  process needs this: if the actor's insert blocked waiting for the learner
  to sample while the learner runs on the same thread, the run would
  deadlock (Acme's single-process runner lifts the same limit).
  """
  reverb = optional_deps.import_reverb()
  # Reverb's own SampleToInsertRatio demands error_buffer >= 2 * max(1, SPI),
  # so that an insert and a sample can always both fit in the window.
  error_buffer = max(error_buffer, 2 * max(1.0, samples_per_insert))
  offset = samples_per_insert * min_size_to_sample
  min_diff = offset - error_buffer
  max_diff = offset + error_buffer if block_inserts else sys.float_info.max
  return reverb.rate_limiters.RateLimiter(
      samples_per_insert=samples_per_insert,
      min_size_to_sample=min_size_to_sample,
      min_diff=min_diff, max_diff=max_diff)


def uniform_table(name: str, max_size: int, rate_limiter: Any,
                  signature: Any = None) -> Any:
  """Uniform sampling, FIFO removal once `max_size` items are held."""
  reverb = optional_deps.import_reverb()
  return reverb.Table(name=name, sampler=reverb.selectors.Uniform(),
                      remover=reverb.selectors.Fifo(), max_size=max_size,
                      rate_limiter=rate_limiter, signature=signature)


def prioritized_table(name: str, max_size: int, priority_exponent: float,
                      rate_limiter: Any, signature: Any = None) -> Any:
  """Samples item i with probability p_i^alpha / sum_j p_j^alpha
  (Schaul et al., 2016, "Prioritized Experience Replay"); FIFO removal."""
  reverb = optional_deps.import_reverb()
  return reverb.Table(name=name,
                      sampler=reverb.selectors.Prioritized(priority_exponent),
                      remover=reverb.selectors.Fifo(), max_size=max_size,
                      rate_limiter=rate_limiter, signature=signature)
