"""The adder, tables, dataset and server against a real Reverb server."""
from __future__ import annotations

import socket

import dm_env
import numpy as np
import pytest

from building_blocks import errors
from building_blocks import types
from tests.conftest import requires_reverb

pytestmark = requires_reverb


def _example():
  obs = np.zeros(2, np.float32)
  return types.Transition(obs, np.int32(0), np.float32(0), np.float32(0), obs)


def _server(table_factory, **kwargs):
  from replay import codec as codec_lib
  from replay import server as server_lib
  from replay import tables
  codec = codec_lib.FlatCodec(_example())
  table = table_factory("t", 100, rate_limiter=tables.min_size_limiter(1),
                        signature=codec.signature(), **kwargs)
  return server_lib.ReplayServer([table]), codec


def _episode(adder, n):
  adder.add_first(dm_env.restart(np.array([0.0, 0.0], np.float32)))
  for t in range(1, n + 1):
    obs = np.array([float(t), 0.0], np.float32)
    ts = (dm_env.termination(np.float32(1.0), obs) if t == n else
          dm_env.transition(np.float32(1.0), obs, np.float32(1.0)))
    adder.add(np.int32(t % 2), ts)


def test_adder_writes_nstep_items_that_sample_back_decoded():
  from replay import adders
  from replay import dataset
  from replay import tables
  server, codec = _server(tables.uniform_table)
  with server:
    sink = adders.ReverbTransitionSink(server.client, "t", codec)
    adder = adders.NStepTransitionAdder(sink, n_step=2, discount=0.5)
    _episode(adder, 3)
    adder.flush()
    assert server.tables["t"].info.current_size == 3
    batches = dataset.reverb_batches(server.address, "t", 64, codec)
    batch = next(batches)
    rows = {(float(o[0]), float(r), float(d), float(n[0]))
            for o, r, d, n in zip(batch.data.observation, batch.data.reward,
                                  batch.data.discount,
                                  batch.data.next_observation)}
    # s_0: r=1+0.5*1, Gamma=0.25; s_1: 1+0.5*1, terminated; s_2: 1, terminated.
    assert rows == {(0.0, 1.5, 0.25, 2.0), (1.0, 1.5, 0.0, 3.0),
                    (2.0, 1.0, 0.0, 3.0)}
    assert batch.keys.dtype == np.uint64


def test_priority_updates_reach_the_right_items():
  from replay import adders
  from replay import dataset
  from replay import tables
  server, codec = _server(tables.prioritized_table, priority_exponent=1.0)
  with server:
    sink = adders.ReverbTransitionSink(server.client, "t", codec)
    adder = adders.NStepTransitionAdder(sink, n_step=1, discount=1.0)
    _episode(adder, 3)
    adder.flush()
    batch = next(dataset.reverb_batches(server.address, "t", 32, codec))
    key_of = {float(o[0]): k for o, k in zip(batch.data.observation,
                                             batch.keys)}
    assert len(key_of) == 3
    keep = key_of[1.0]
    server.client.mutate_priorities("t", updates={
        int(k): (1.0 if k == keep else 0.0) for k in key_of.values()})
    batch = next(dataset.reverb_batches(server.address, "t", 32, codec))
    assert set(batch.keys.tolist()) == {int(keep)}
    np.testing.assert_allclose(batch.probabilities, 1.0)
    np.testing.assert_array_equal(batch.data.observation[:, 0], 1.0)


def test_occupied_port_is_refused_clearly():
  from replay import server as server_lib
  from replay import tables
  holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
  holder.bind(("127.0.0.1", 0))
  holder.listen(1)
  port = holder.getsockname()[1]
  try:
    with pytest.raises(errors.PortInUseError, match=f"{port}.*--replay-port 0"):
      server_lib.ReplayServer([tables.uniform_table(
          "t", 10, tables.min_size_limiter(1))], port=port)
  finally:
    holder.close()


def test_stop_frees_the_port_and_is_idempotent():
  from replay import server as server_lib
  from replay import tables
  server = server_lib.ReplayServer([tables.uniform_table(
      "t", 10, tables.min_size_limiter(1))])
  port = server.port
  with pytest.raises(errors.PortInUseError):
    server_lib.check_port_free(port)
  server.stop()
  server.stop()
  server_lib.check_port_free(port)


def test_rate_limiter_holds_samples_per_insert():
  from replay import tables
  limiter = tables.sample_to_insert_ratio_limiter(
      samples_per_insert=4.0, min_size_to_sample=10, error_buffer=8.0,
      block_inserts=False)
  table = tables.uniform_table("t", 1000, limiter)
  # Before min size nothing may be sampled.
  assert not table.can_sample(1)
  info = table.info.rate_limiter_info
  assert info.samples_per_insert == 4.0
  assert info.min_size_to_sample == 10
  assert info.max_diff > 1e300  # inserts never block in a single process
