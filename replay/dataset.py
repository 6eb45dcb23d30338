"""Batches sampled from a Reverb table, decoded and ready for the learner
(`replay.reverb_replay.ReverbReplay` drives it).

On an accelerator, wrap the iterator in building_blocks.prefetch.DevicePrefetcher
with jax.device_put to overlap host-to-device copies with learning; on CPU
the jitted update takes the host arrays directly (measured faster here).
"""
from __future__ import annotations

from typing import Any, Iterator, NamedTuple

import numpy as np

from building_blocks import optional_deps
from replay import codec as codec_lib


class ReplayBatch(NamedTuple):
  """A sampled batch. `keys` stay on the host as uint64: JAX without x64
  would truncate them and priority updates would hit the wrong items."""
  keys: np.ndarray
  probabilities: Any
  table_size: Any
  data: Any


def reverb_batches(server_address: str, table: str, batch_size: int,
                   codec: codec_lib.FlatCodec) -> Iterator[ReplayBatch]:
  """Yields host (numpy) batches of decoded items from `table`.

  One sampling worker keeps at most one batch in flight and tf.data holds
  one more, so at most ~2 batches are sampled ahead of use (their
  priorities can be that stale).
  """
  reverb = optional_deps.import_reverb()
  dataset = reverb.TrajectoryDataset.from_table_signature(
      server_address=server_address, table=table,
      max_in_flight_samples_per_worker=batch_size, num_workers_per_iterator=1)
  dataset = dataset.batch(batch_size, drop_remainder=True).prefetch(1)
  for sample in dataset.as_numpy_iterator():
    yield ReplayBatch(keys=np.asarray(sample.info.key, dtype=np.uint64),
                      probabilities=sample.info.probability,
                      table_size=sample.info.table_size,
                      data=codec.decode(sample.data))
