"""Environment loop, variable client, prefetcher, counter, loggers."""
from __future__ import annotations

import csv
import threading
import time

import numpy as np
import pytest

from building_blocks import core
from building_blocks import counting
from building_blocks import environment_loop
from building_blocks import prefetch
from building_blocks import variable_client
from envs import gymnasium_adapter
from experiments import loggers


class _RecordingActor(core.Actor):
  def __init__(self):
    self.events = []

  def select_action(self, observation):
    return np.int32(0)

  def observe_first(self, timestep):
    self.events.append("first")

  def observe(self, action, next_timestep):
    self.events.append("last" if next_timestep.last() else "mid")

  def update(self, wait=False):
    self.events.append("update")


def test_environment_loop_counts_and_observes_every_step():
  env = gymnasium_adapter.make_environment("CartPole-v1", seed=0)
  actor = _RecordingActor()
  counter = counting.Counter()
  loop = environment_loop.EnvironmentLoop(env, actor, counter)
  results = loop.run(num_episodes=2)
  lengths = [r["episode_length"] for r in results]
  assert counter.get("actor_steps") == sum(lengths)
  assert counter.get("actor_episodes") == 2
  assert actor.events.count("first") == 2 and actor.events.count("last") == 2
  assert actor.events.count("update") == sum(lengths)
  # Always pushing left ends CartPole in a handful of steps.
  assert all(5 <= n <= 20 for n in lengths)


class _Source(core.VariableSource):
  def __init__(self):
    self.version = 0

  def get_variables(self, names):
    return [self.version for _ in names]


def test_variable_client_fetches_every_period():
  source = _Source()
  client = variable_client.VariableClient(source, ["policy"], update_period=3)
  source.version = 1
  client.update()
  client.update()
  assert client.params == 0
  client.update()
  assert client.params == 1
  source.version = 2
  client.update(wait=True)
  assert client.params == 2
  with pytest.raises(ValueError):
    variable_client.VariableClient(source, ["policy"], update_period=0)


def test_prefetcher_transforms_in_order_and_reports_ready():
  pre = prefetch.DevicePrefetcher(iter(range(5)), lambda x: x * 10, size=2)
  deadline = time.time() + 5
  while not pre.ready() and time.time() < deadline:
    time.sleep(0.01)
  assert pre.ready()
  assert list(pre) == [0, 10, 20, 30, 40]
  pre.close()


def test_prefetcher_passes_source_errors_on():
  def broken():
    yield 1
    raise IOError("replay went away")
  pre = prefetch.DevicePrefetcher(broken())
  assert next(pre) == 1
  with pytest.raises(RuntimeError) as info:
    next(pre)
  assert isinstance(info.value.__cause__, IOError)


def test_prefetcher_close_stops_a_blocked_worker():
  pre = prefetch.DevicePrefetcher(iter(range(100)), size=1)
  time.sleep(0.05)
  pre.close(timeout=2.0)
  assert not any(t.name == "device-prefetch" and t.is_alive()
                 for t in threading.enumerate())


def test_counter_is_thread_safe():
  counter = counting.Counter({"x": 5})
  threads = [threading.Thread(target=lambda: [counter.increment(x=1)
                                             for _ in range(1000)])
             for _ in range(4)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert counter.get("x") == 4005


def test_csv_logger_appends_across_reopen(tmp_path):
  path = str(tmp_path / "logs" / "train.csv")
  first = loggers.CSVLogger(path)
  first.write({"step": 1, "ret": np.float32(2.5)})
  first.close()
  second = loggers.CSVLogger(path)
  second.write({"step": 2, "ret": 3.0, "extra": "ignored"})
  second.close()
  with open(path, newline="") as f:
    rows = list(csv.DictReader(f))
  assert rows == [{"step": "1", "ret": "2.5"}, {"step": "2", "ret": "3.0"}]


def test_environment_loop_stops_mid_episode_without_counting_it():
  env = gymnasium_adapter.make_environment("CartPole-v1", seed=0)
  counter = counting.Counter()
  loop = environment_loop.EnvironmentLoop(env, _RecordingActor(), counter)
  asked = []
  def stop_after_three():
    asked.append(1)
    return len(asked) > 3
  assert loop.run_episode(should_stop=stop_after_three) is None
  assert counter.get("actor_steps") == 3
  assert counter.get("actor_episodes") == 0
  assert loop.run(num_episodes=5, should_stop=lambda: True) == []
