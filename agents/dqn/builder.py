"""Wires DQN's replay (Reverb tables or the device buffer), adder, dataset,
learner and actors."""
from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np

from agents.dqn import acting
from agents.dqn import config as config_lib
from agents.dqn import learning
from agents.dqn import networks as dqn_networks
from building_blocks import actors
from building_blocks import builders
from building_blocks import core
from building_blocks import specs
from building_blocks import types
from building_blocks import variable_client
from replay import adders
from replay import codec as codec_lib
from replay import dataset as dataset_lib
from replay import device_buffer
from replay import device_replay
from replay import tables


def example_transition(spec: specs.EnvironmentSpec) -> types.Transition:
  """A zero transition with the shapes and dtypes replay stores."""
  obs = np.zeros(spec.observations.shape, spec.observations.dtype)
  return types.Transition(
      observation=obs, action=np.zeros((), spec.actions.dtype),
      reward=np.zeros((), np.float32), discount=np.zeros((), np.float32),
      next_observation=obs)


class DQNBuilder(builders.ActorLearnerBuilder):
  """Double DQN + n-step + prioritized replay on one Reverb table, or on a
  device buffer (`make_device_replay`) where Reverb is not installed.

  The methods that take the replay (`make_dataset_iterator`,
  `make_learner`, `make_adder`) accept either a `replay.server.ReplayServer`
  or a `replay.device_replay.DeviceReplay`.
  """

  def __init__(self, config: config_lib.DQNConfig):
    config.validate()
    self.config = config
    self._codec: codec_lib.FlatCodec | None = None

  @property
  def sample_batch_size(self) -> int:
    """Items per replay sample: one batch per SGD step of a learner step."""
    return self.config.batch_size * self.config.num_sgd_steps_per_step

  def check_environment(self, spec: specs.EnvironmentSpec, env_id: str) -> None:
    dqn_networks.check_environment(spec, env_id)

  def make_networks(self, spec: specs.EnvironmentSpec):
    return dqn_networks.make_networks(spec, self.config)

  def codec(self, spec: specs.EnvironmentSpec) -> codec_lib.FlatCodec:
    if self._codec is None:
      self._codec = codec_lib.FlatCodec(example_transition(spec))
    return self._codec

  def make_replay_tables(self, spec: specs.EnvironmentSpec,
                         block_inserts: bool) -> Sequence[Any]:
    c = self.config
    limiter = tables.sample_to_insert_ratio_limiter(
        samples_per_insert=c.samples_per_insert,
        min_size_to_sample=c.min_replay_size,
        error_buffer=self.error_buffer, block_inserts=block_inserts)
    signature = self.codec(spec).signature()
    if c.prioritized:
      return [tables.prioritized_table(self.table_name, c.max_replay_size,
                                       c.priority_exponent, limiter, signature)]
    return [tables.uniform_table(self.table_name, c.max_replay_size, limiter,
                                 signature)]

  @property
  def error_buffer(self) -> float:
    """Rate-limiter slack: samples may run 4 batches ahead or behind."""
    return 4.0 * self.sample_batch_size

  def make_device_replay(self, spec: specs.EnvironmentSpec, key: Any,
                         checkpoint_dir: str | None = None
                         ) -> device_replay.DeviceReplay:
    """Replay in device memory with the same capacity, sampling, priority
    exponent and rate limit as the Reverb table of `make_replay_tables`;
    restores from `checkpoint_dir` if it holds a checkpoint."""
    c = self.config
    buffer = device_buffer.make_transition_buffer(
        capacity=c.max_replay_size, min_size=c.min_replay_size,
        sample_batch_size=self.sample_batch_size, add_batch_size=1,
        prioritized=c.prioritized, priority_exponent=c.priority_exponent)
    return device_replay.DeviceReplay(
        buffer, example_transition(spec),
        samples_per_insert=c.samples_per_insert,
        error_buffer=self.error_buffer, key=key, checkpoint_dir=checkpoint_dir)

  def make_dataset_iterator(self, server: Any) -> Iterator[Any]:
    if isinstance(server, device_replay.DeviceReplay):
      return server.iterator()
    assert self._codec is not None, "make_replay_tables first"
    return dataset_lib.ReverbIterator(server, self.table_name,
                                      self.sample_batch_size, self._codec)

  def make_learner(self, networks, iterator, server, spec, key) -> core.Learner:
    updater = None
    if self.config.prioritized and isinstance(server,
                                              device_replay.DeviceReplay):
      updater = server.update_priorities
    elif self.config.prioritized:
      def updater(keys: np.ndarray, priorities: np.ndarray) -> None:
        server.client.mutate_priorities(
            self.table_name,
            updates=dict(zip(keys.tolist(), priorities.tolist())))
    obs = np.zeros(spec.observations.shape, spec.observations.dtype)
    return learning.DQNLearner(networks, self.config, iterator, obs, key,
                               priority_updater=updater)

  def make_adder(self, server: Any, learner: core.Learner | None) -> core.Adder:
    if isinstance(server, device_replay.DeviceReplay):
      # New items get the buffer's own running max priority.
      return adders.NStepTransitionAdder(server.sink, self.config.n_step,
                                         self.config.discount)
    assert self._codec is not None, "make_replay_tables first"
    sink = adders.ReverbTransitionSink(server.client, self.table_name,
                                       self._codec)
    priority = 1.0
    if self.config.prioritized and learner is not None:
      priority = lambda: learner.max_priority  # pylint: disable=unnecessary-lambda-assignment
    return adders.NStepTransitionAdder(sink, self.config.n_step,
                                       self.config.discount, priority)

  def make_actor(self, networks, variable_source, key, adder=None,
                 evaluation=False, initial_step=0) -> core.Actor:
    policy = acting.make_policy(networks, self.config, evaluation=evaluation)
    client = variable_client.VariableClient(
        variable_source, ["policy"],
        update_period=self.config.variable_update_period)
    return actors.FeedForwardActor(policy, client, key, adder=adder,
                                   initial_step=initial_step)
