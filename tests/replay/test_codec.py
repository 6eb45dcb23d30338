"""FlatCodec round trips nests of mixed dtypes, batched or not."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from building_blocks import types
from replay import codec as codec_lib


def _transition(rng, batch=()):
  return types.Transition(
      observation=rng.normal(size=batch + (2, 3)).astype(np.float32),
      action=rng.integers(0, 5, size=batch).astype(np.int32),
      reward=rng.normal(size=batch).astype(np.float32),
      discount=rng.uniform(size=batch).astype(np.float32),
      next_observation=rng.normal(size=batch + (2, 3)).astype(np.float32))


def test_round_trip_and_batched_decode():
  rng = np.random.default_rng(0)
  codec = codec_lib.FlatCodec(_transition(rng))
  assert codec.column_sizes == {"float32": 14, "int32": 1}
  items = [_transition(rng) for _ in range(4)]
  encoded = [codec.encode(t) for t in items]
  back = codec.decode(encoded[1])
  for got, want in zip(back, items[1]):
    np.testing.assert_array_equal(got, want)
  stacked = {k: np.stack([e[k] for e in encoded]) for k in encoded[0]}
  batch = codec.decode({k: jnp.asarray(v) for k, v in stacked.items()})
  assert batch.observation.shape == (4, 2, 3)
  np.testing.assert_array_equal(np.asarray(batch.action),
                                [t.action for t in items])
  np.testing.assert_array_equal(np.asarray(batch.next_observation[2]),
                                items[2].next_observation)
