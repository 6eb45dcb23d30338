"""FlatCodec round trips nests of mixed dtypes, batched or not."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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
  assert codec.num_bytes == 4 * 15
  items = [_transition(rng) for _ in range(4)]
  encoded = [codec.encode(t) for t in items]
  back = codec.decode(encoded[1])
  for got, want in zip(back, items[1]):
    np.testing.assert_array_equal(got, want)
  stacked = {k: np.stack([e[k] for e in encoded]) for k in encoded[0]}
  for batch in (codec.decode(stacked),
                codec.decode({k: jnp.asarray(v) for k, v in stacked.items()}),
                jax.jit(codec.decode)(stacked)):
    assert batch.observation.shape == (4, 2, 3)
    assert batch.action.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(batch.action),
                                  [t.action for t in items])
    np.testing.assert_array_equal(np.asarray(batch.next_observation[2]),
                                  items[2].next_observation)


def test_encode_batch_gives_each_items_bytes_and_unstack_its_items():
  rng = np.random.default_rng(1)
  items = [_transition(rng) for _ in range(3)]
  codec = codec_lib.FlatCodec(items[0])
  stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *items)
  rows = codec.encode_batch(stacked, 3)
  assert rows.shape == (3, codec.num_bytes) and rows.dtype == np.uint8
  for row, item, back in zip(rows, items, codec_lib.unstack(stacked, 3)):
    np.testing.assert_array_equal(row, codec.encode(item)[codec_lib.COLUMN])
    for got, want in zip(back, item):
      np.testing.assert_array_equal(got, want)
  with pytest.raises(ValueError, match="expected 2 items"):
    codec.encode_batch(stacked, 2)


def test_exact_for_every_dtype():
  example = {"u8": np.zeros((3,), np.uint8), "f64": np.zeros((), np.float64),
             "i64": np.zeros((2,), np.int64), "b": np.zeros((), np.bool_)}
  codec = codec_lib.FlatCodec(example)
  value = {"u8": np.array([1, 2, 255], np.uint8), "f64": np.float64(np.pi),
           "i64": np.array([2**62 + 1, -7], np.int64), "b": np.bool_(True)}
  back = codec.decode({k: v[None] for k, v in codec.encode(value).items()})
  for key, want in value.items():
    assert back[key].dtype == np.asarray(want).dtype
    np.testing.assert_array_equal(back[key][0], want)
