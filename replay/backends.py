"""The one place that picks a replay class for a runner.

`make_replay(spec, example_item, backend, ...)` returns an object with the
`ReplayBackend` protocol (building_blocks/agent.py), whichever of the four
it is, so a runner never asks which one it holds:

  backend   spec.kind       class
  "reverb"  "transitions"   reverb_replay.ReverbReplay
  "reverb"  "rollouts"      reverb_replay.ReverbRolloutQueue
  "device"  "transitions"   device_replay.DeviceReplay
  "device"  "rollouts"      device_replay.DeviceRolloutQueue

Reverb is imported only when a Reverb backend is built, so this module
works in the core install.

An adder that hands `(transition, priority)` to a sink (replay/adders.py's
`NStepTransitionAdder`) writes into a backend through `sink(backend)`: new
items then get the backend's `max_priority`, as prioritized replay gives
them (Schaul et al., 2016).
"""
from __future__ import annotations

from typing import Any

import jax

from building_blocks import agent as agent_lib
from building_blocks import errors
from replay import device_buffer
from replay import device_replay

BACKENDS = ("reverb", "device")


def make_replay(spec: agent_lib.ReplaySpec, example_item: Any, backend: str,
                *, checkpoint_dir: str | None, key: jax.Array,
                port: int = 0, add_chunk: int | None = None
                ) -> agent_lib.ReplayBackend:
  """The replay for `spec` on `backend` ("reverb" or "device").

  Args:
    spec: what the agent learns from (`spec.kind` "transitions" or
      "rollouts"; for transitions also capacity, min_size, batch_size,
      samples_per_insert, prioritized, priority_exponent).
    example_item: ONE item without batch axis: a `types.Transition` for
      transitions, an `agent.Rollout` for rollouts (fixes shapes/dtypes).
    backend: "reverb" (an in-process Reverb server; needs dm-reverb) or
      "device" (device memory; any install).
    checkpoint_dir: where `checkpoint()` writes; a checkpoint already there
      is restored (`restored` is then True). None: no checkpoints.
    key: PRNG key of the device buffer's sampler (Reverb samples with its
      own generator).
    port: the Reverb server's port (0: any free one); ignored by "device".
    add_chunk: items per jitted add of the device buffer (None: its
      default); ignored by "reverb".

  Raises:
    ConfigError: an unknown backend or replay kind.
    MissingDependencyError: "reverb" without dm-reverb installed.
  """
  if backend not in BACKENDS:
    raise errors.ConfigError(
        f"replay backend must be one of {', '.join(BACKENDS)}, got "
        f"{backend!r}.")
  if spec.kind not in ("transitions", "rollouts"):
    raise errors.ConfigError(
        f"replay kind must be 'transitions' or 'rollouts', got {spec.kind!r}.")
  if backend == "reverb":
    # Imported here: it needs Reverb's (lazily imported) server and tables.
    from replay import reverb_replay  # pylint: disable=g-import-not-at-top
    if spec.kind == "transitions":
      return reverb_replay.ReverbReplay(spec, example_item,
                                        checkpoint_dir=checkpoint_dir,
                                        port=port)
    return reverb_replay.ReverbRolloutQueue(
        example_item, checkpoint_dir=checkpoint_dir, port=port)
  if spec.kind == "transitions":
    buffer = device_buffer.make_transition_buffer(
        capacity=spec.capacity, min_size=spec.min_size,
        sample_batch_size=spec.batch_size, add_batch_size=1,
        prioritized=spec.prioritized,
        priority_exponent=spec.priority_exponent)
    return device_replay.DeviceReplay(
        buffer, example_item, samples_per_insert=spec.samples_per_insert,
        error_buffer=spec.error_buffer, key=key,
        checkpoint_dir=checkpoint_dir, add_chunk=add_chunk)
  return device_replay.DeviceRolloutQueue(example_item,
                                          checkpoint_dir=checkpoint_dir)


class BackendSink:
  """A `TransitionSink` (replay/adders.py) writing into a backend.

  The adder's priority is dropped: `backend.insert(transition, None)` gives
  each new item the backend's `max_priority`. `flush()` makes the items
  visible to sampling (the adder's own `flush()` calls it).
  """

  def __init__(self, backend: agent_lib.ReplayBackend):
    self._backend = backend

  def __call__(self, transition: Any, priority: float) -> None:
    del priority
    self._backend.insert(transition, None)

  def flush(self) -> None:
    self._backend.flush()


def sink(backend: agent_lib.ReplayBackend) -> BackendSink:
  """`NStepTransitionAdder(sink(backend), n_step, discount)` fills
  `backend` with n-step transitions."""
  return BackendSink(backend)
