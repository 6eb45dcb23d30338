"""The distributed runner's counting and replay rules, tested in-process
without Ray (the launcher wraps these plain classes with `ray.remote`):

- `Coordinator`: the step budget handed out in grants, episode rows,
  actors that die holding a grant, the stop flag, parameter versions and
  the parameter lag;
- `ReplayServer` on the device backend: the transitions rate limits
  (sampling and `may_insert`), checkpoints, and the rollout queue (FIFO,
  parameter versions, overflow kept in the server)."""
from __future__ import annotations

import jax
import numpy as np

from building_blocks import agent as agent_lib
from building_blocks import types
from experiments.distributed import coordinator as coordinator_lib
from experiments.distributed import replay_server as replay_server_lib
from replay.device_replay import QUEUE_SIZE

NUM_STEPS = 100
NUM_ENVS = 4


def _coordinator(**kwargs) -> coordinator_lib.Coordinator:
  return coordinator_lib.Coordinator(num_steps=NUM_STEPS, num_envs=NUM_ENVS,
                                     **kwargs)


# --- Coordinator -----------------------------------------------------------


def test_grants_are_env_multiples_and_stop_at_the_budget():
  """Two actors asking for 64 steps: every grant is a multiple of num_envs,
  the grants add up to num_steps and never more (64, then the partial 36,
  then 0), each call returns (grant, steps reported so far), and
  `finished()` turns True exactly when the reported steps reach 100."""
  coord = _coordinator()
  assert not coord.finished()
  # First calls: nothing done yet; the second actor gets what is left.
  assert coord.report_and_reserve(0, 0, [], -1, 64) == (64, 0)
  assert coord.report_and_reserve(1, 0, [], -1, 64) == (36, 0)
  assert not coord.finished()
  # The budget is all handed out: further grants are 0.
  assert coord.report_and_reserve(0, 64, [], -1, 64) == (0, 64)
  assert not coord.finished()
  assert coord.counts()["env_steps"] == 64
  assert coord.report_and_reserve(1, 36, [], -1, 64) == (0, 100)
  assert coord.finished()
  assert coord.counts()["env_steps"] == 100
  assert coord.report_and_reserve(0, 0, [], -1, 64) == (0, 100)


def test_grants_in_a_loop_never_exceed_the_budget():
  """Actors taking turns (each reports its last grant, asks for 64 more)
  until both get 0: all grants are multiples of num_envs, their sum is
  exactly num_steps, a grant of 0 only comes once the budget is spent, and
  `finished()` is False before the last report and True after it."""
  coord = _coordinator()
  last = {0: 0, 1: 0}
  grants = []
  done = set()
  while len(done) < 2:
    for actor in (0, 1):
      if actor in done:
        continue
      assert not coord.finished()
      grant, env_steps = coord.report_and_reserve(actor, last[actor], [], -1,
                                                  64)
      assert grant % NUM_ENVS == 0
      grants.append(grant)
      assert sum(grants) <= NUM_STEPS
      assert env_steps == coord.counts()["env_steps"]
      last[actor] = grant
      if grant == 0:
        assert sum(grants) == NUM_STEPS
        done.add(actor)
  assert grants == [64, 36, 0, 0]
  assert coord.counts()["env_steps"] == NUM_STEPS
  assert coord.finished()


def test_grant_is_rounded_down_to_num_envs():
  """A want that is not a multiple of num_envs is rounded down (10 -> 8),
  and the rest of the budget stays available."""
  coord = _coordinator()
  assert coord.report_and_reserve(0, 0, [], -1, 10) == (8, 0)
  assert coord.report_and_reserve(0, 8, [], -1, 1000) == (92, 8)


def test_episode_rows_have_step_offsets_numbers_and_are_polled_once():
  """An episode reported at offset k of a call gets env_steps = steps
  reported before that call + k; episode numbers go up by one from
  start_episodes; rows keep the actor, return, length and learner steps;
  `poll()` hands each row over once."""
  coord = _coordinator(start_episodes=5)
  coord.report_and_reserve(0, 0, [], -1, 64)
  coord.report_and_reserve(1, 0, [], -1, 64)
  coord.learner_report(7, {}, {})
  coord.report_and_reserve(0, 64, [(10, 1.5, 10), (40, 2.0, 30)], -1, 64)
  coord.report_and_reserve(1, 36, [(5, -3.0, 20)], -1, 64)
  rows = coord.poll()["episodes"]
  assert [(r["env_steps"], r["episodes"], r["actor"], r["episode_return"],
           r["episode_length"], r["learner_steps"]) for r in rows] == [
               (10, 6, 0, 1.5, 10, 7), (40, 7, 0, 2.0, 30, 7),
               (64 + 5, 8, 1, -3.0, 20, 7)]
  assert isinstance(rows[0]["episode_length"], int)
  second = coord.poll()
  assert second["episodes"] == []
  assert second["counts"] == {"env_steps": 100, "episodes": 8,
                              "learner_steps": 7}
  # A later episode is numbered on, and handed over once too.
  coord.report_and_reserve(0, 0, [(0, 4.0, 1)], -1, 0)
  assert [(r["env_steps"], r["episodes"]) for r in coord.poll()["episodes"]
         ] == [(100, 9)]
  assert coord.poll()["episodes"] == []


def test_lost_actor_gives_its_unreported_steps_back():
  """Actor 0 gets 64 steps, reports 24 and dies: its 40 unreported steps
  go back to the budget (`actor_lost` returns 40, a second call 0),
  actor 1 is granted them, and the run finishes at exactly num_steps."""
  coord = _coordinator()
  assert coord.report_and_reserve(0, 0, [], -1, 64) == (64, 0)
  assert coord.report_and_reserve(1, 0, [], -1, 64) == (36, 0)
  # Actor 0 stopped early after 24 of its 64 steps; nothing is left.
  assert coord.report_and_reserve(0, 24, [], -1, 64) == (0, 24)
  assert coord.actor_lost(0) == 40
  assert coord.actor_lost(0) == 0
  assert coord.report_and_reserve(1, 36, [], -1, 64) == (40, 60)
  assert not coord.finished()
  assert coord.report_and_reserve(1, 40, [], -1, 64) == (0, 100)
  assert coord.finished()
  assert coord.counts()["env_steps"] == NUM_STEPS


def test_lost_actor_with_a_whole_grant_outstanding():
  """An actor that dies before reporting any of its 64 steps gives all 64
  back; an actor that reported all of its grant gives nothing back."""
  coord = _coordinator()
  coord.report_and_reserve(0, 0, [], -1, 64)
  coord.report_and_reserve(1, 0, [], -1, 64)
  assert coord.actor_lost(0) == 64
  assert coord.report_and_reserve(1, 36, [], -1, 64) == (64, 36)
  assert coord.report_and_reserve(1, 64, [], -1, 0) == (0, 100)
  assert coord.actor_lost(1) == 0
  assert coord.finished()
  assert coord.counts()["env_steps"] == NUM_STEPS


def test_stop_request_ends_grants_but_still_counts_reports():
  """After `request_stop()`: grants are 0, `finished()` and
  `learner_report`'s stop answer are True, and what actors report is
  still counted."""
  coord = _coordinator()
  assert coord.report_and_reserve(0, 0, [], -1, 64) == (64, 0)
  coord.request_stop()
  assert coord.finished()
  assert coord.report_and_reserve(0, 16, [(3, 1.0, 3)], -1, 64) == (0, 16)
  assert coord.report_and_reserve(1, 0, [], -1, 64) == (0, 16)
  assert coord.learner_report(2, {"loss": 0.5}, {}) == (16, True)
  polled = coord.poll()
  assert polled["finished"]
  assert polled["counts"]["episodes"] == 1
  assert polled["metrics"] == {"loss": 0.5}


def test_params_versions_count_publications_and_lag_is_measured():
  """Versions number the publications (a restarted learner's parameters,
  from an older checkpoint, are still newer than what actors hold);
  `latest_params` is (-1, -1, []) before any; `poll()`'s param_lag is the
  mean of the latest version's learner step minus the learner step each
  actor reports (None before any was measured; reports with -1, or before
  a publication, are not measured)."""
  coord = _coordinator()
  assert coord.latest_params() == (-1, -1, [])
  coord.report_and_reserve(0, 0, [], 0, 4)  # nothing published yet
  assert coord.poll()["param_lag"] is None
  assert coord.publish(3, ["ref3"]) == 0
  assert coord.latest_params() == (0, 3, ["ref3"])
  assert coord.publish(5, ["ref5"]) == 1
  assert coord.latest_params() == (1, 5, ["ref5"])
  assert coord.publish(2, ["ref2"]) == 2  # a restarted learner at step 2
  assert coord.latest_params() == (2, 2, ["ref2"])
  assert coord.poll()["params_version"] == 2
  coord.publish(5, ["ref5b"])
  coord.report_and_reserve(0, 4, [], -1, 4)  # no version: not measured
  assert coord.poll()["param_lag"] is None
  coord.report_and_reserve(0, 4, [], 2, 4)  # lag 5 - 2 = 3
  assert coord.poll()["param_lag"] == 3
  coord.report_and_reserve(1, 0, [], 5, 4)  # lag 0
  assert coord.poll()["param_lag"] == 1.5
  coord.publish(9, ["ref9"])
  coord.report_and_reserve(1, 4, [], 5, 4)  # lag 4
  assert coord.poll()["param_lag"] == (3 + 0 + 4) / 3


def _insert(server, items, params_version):
  """What an actor sends: the items stacked, their count, the version."""
  stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *items)
  return server.insert(stacked, len(items), params_version)


# --- ReplayServer: transitions ---------------------------------------------

TRANSITIONS = agent_lib.ReplaySpec(
    kind="transitions", n_step=1, discount=0.99, capacity=1000, min_size=10,
    batch_size=4, samples_per_insert=4.0)


def _transition(i: int) -> types.Transition:
  """Item i: every field says i, so a sampled row names its item."""
  obs = np.array([i, -i], np.float32)
  return types.Transition(observation=obs, action=np.float32(i),
                          reward=np.float32(i / 8), discount=np.float32(0.99),
                          next_observation=obs + 1000)


def _transition_server(checkpoint_dir=None, num_actors=1):
  return replay_server_lib.ReplayServer(
      TRANSITIONS, _transition(0), "device",
      checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
      seed=0, num_actors=num_actors)


def _item_ids(batch) -> list[int]:
  """The item each row holds, checking that all its fields are item i's."""
  data = jax.tree_util.tree_map(np.asarray, batch.data)
  assert data.action.shape == (TRANSITIONS.batch_size,)
  assert data.observation.shape == (TRANSITIONS.batch_size, 2)
  ids = [int(a) for a in data.action]
  for row, i in enumerate(ids):
    for got, want in zip(jax.tree_util.tree_leaves(data),
                         jax.tree_util.tree_leaves(_transition(i))):
      np.testing.assert_array_equal(got[row], want)
  return ids


def test_transition_server_samples_after_min_size_within_the_ratio():
  """No sample before min_size (10) items; at 10 items the limiter allows
  exactly 4 batches of 4 (4 samples per insert: 40 items, less a minimum
  difference of 4 * 10 - 16 = 24), each (batch, -1) with rows that are
  inserted items; 2 more inserts (8 items) allow 2 more batches."""
  server = _transition_server()
  assert server.sample() is None
  assert _insert(server, [_transition(i) for i in range(9)], 0)
  assert server.sample() is None
  assert server.info()["size"] == 9
  assert _insert(server, [_transition(9)], 0)
  for _ in range(4):
    got = server.sample()
    assert got is not None
    batch, version = got
    assert version == -1
    assert isinstance(batch.data.observation, np.ndarray)  # host arrays
    assert set(_item_ids(batch)) <= set(range(10))
  assert server.sample() is None  # 16 items sampled: the limit
  _insert(server, [_transition(10), _transition(11)], 0)
  assert server.sample() is not None
  assert server.sample() is not None
  assert server.sample() is None
  assert server.stats() == {"size": 12, "inserted": 12, "sampled_batches": 6}
  server.close()


def test_transition_server_may_insert_follows_the_samples():
  """With 1 actor the slack is 16/4 + 64 = 68 items: `may_insert()` holds
  up to min_size + slack = 78 inserts, turns False at 79, and a sample
  (batch 4 at 4 samples per insert: one more insert) turns it True; with 2
  actors the slack is 64 items more."""
  server = _transition_server()
  assert _insert(server, [_transition(i) for i in range(78)], 0)
  assert server.may_insert()
  assert not _insert(server, [_transition(78)], 0)
  assert not server.may_insert()
  assert server.sample() is not None
  assert server.may_insert()
  assert not _insert(server, [_transition(79)], 0)
  assert server.sample() is not None
  assert server.sample() is not None
  assert server.may_insert()
  server.close()
  two = _transition_server(num_actors=2)
  assert _insert(two, [_transition(i) for i in range(142)], 0)
  assert not _insert(two, [_transition(142)], 0)
  two.close()


def test_transition_server_checkpoint_restores(tmp_path):
  """`checkpoint()` returns the item count; a new server on the same folder
  reports restored with the same size and samples the same items; a
  server on an empty folder is not restored."""
  directory = tmp_path / "replay"
  server = _transition_server(directory)
  assert not server.restored
  assert not server.info()["restored"]
  _insert(server, [_transition(i) for i in range(20)], 0)
  assert server.checkpoint() == 20
  server.close()
  again = _transition_server(directory)
  assert again.restored
  info = again.info()
  assert info["restored"] and info["size"] == 20
  got = again.sample()
  assert got is not None
  assert set(_item_ids(got[0])) <= set(range(20))
  again.close()
  other = _transition_server(tmp_path / "other")
  assert not other.restored and other.info()["size"] == 0
  other.close()


# --- ReplayServer: rollouts ------------------------------------------------

ROLLOUTS = agent_lib.ReplaySpec(kind="rollouts")


def _rollout(i: int) -> agent_lib.Rollout:
  """Rollout i of 3 steps x 2 environments; its values say i."""
  base = np.arange(3 * 2 * 2, dtype=np.float32).reshape(3, 2, 2) + 100 * i
  return agent_lib.Rollout(
      observation=base, action=np.full((3, 2), i, np.int32),
      reward=np.full((3, 2), i / 3, np.float32),
      terminated=np.zeros((3, 2), bool), truncated=np.zeros((3, 2), bool),
      final_observation=base + 0.5,
      extras={"log_prob": np.full((3, 2), -i, np.float32)},
      last_observation=base[-1] + 1)


def _rollout_server(num_actors=2):
  return replay_server_lib.ReplayServer(
      ROLLOUTS, _rollout(0), "device", checkpoint_dir=None, seed=0,
      num_actors=num_actors)


def _assert_is_rollout(data, i: int) -> None:
  for got, want in zip(jax.tree_util.tree_leaves(data),
                       jax.tree_util.tree_leaves(_rollout(i))):
    np.testing.assert_array_equal(np.asarray(got), want)


def test_rollout_server_is_fifo_with_versions():
  """Rollouts come out in insertion order, each with the parameter version
  it was inserted with; `may_insert()` is False while 2 (= max(2,
  num_actors)) or more wait; an empty server samples None."""
  server = _rollout_server()
  assert server.sample() is None
  assert _insert(server, [_rollout(0)], 7)  # 1 waiting
  assert not _insert(server, [_rollout(1)], 8)  # 2 waiting
  assert not server.may_insert()
  batch, version = server.sample()
  assert version == 7
  _assert_is_rollout(batch.data, 0)
  assert server.may_insert()  # 1 waiting
  batch, version = server.sample()
  assert version == 8
  _assert_is_rollout(batch.data, 1)
  assert server.sample() is None
  assert server.may_insert()
  server.close()


def test_rollout_server_overflow_waits_in_order():
  """Seven rollouts, more than the backend queue's QUEUE_SIZE (4), insert
  without raising (the rest wait in the server and count in its size);
  they all come out in order with their versions and keys; with 2 actors
  `may_insert()` is False until fewer than max(2, num_actors) = 2 are
  left."""
  num = QUEUE_SIZE + 3
  server = _rollout_server(num_actors=2)
  versions = [0, 1, 1, 1, 2, 3, 3]
  assert _insert(server, [_rollout(0)], 0)  # 1 < 2
  assert not _insert(server, [_rollout(1), _rollout(2), _rollout(3)], 1)
  assert not _insert(server, [_rollout(4)], 2)
  assert not _insert(server, [_rollout(5), _rollout(6)], 3)
  assert server.stats()["size"] == num
  assert server.info()["size"] == QUEUE_SIZE  # the backend queue is full
  for i in range(num):
    held = num - i
    assert server.may_insert() == (held < 2), i
    got = server.sample()
    assert got is not None, i
    batch, version = got
    assert version == versions[i], i
    _assert_is_rollout(batch.data, i)
    assert int(np.asarray(batch.keys)[0]) == i  # the i-th rollout inserted
    assert server.stats()["size"] == held - 1
  assert server.sample() is None
  assert server.may_insert()
  assert server.stats() == {"size": 0, "inserted": num, "sampled_batches": num}
  server.close()


def test_rollout_server_queue_limit_follows_num_actors():
  """With 3 actors `may_insert()` allows up to 3 waiting rollouts (False at
  3, True again after one sample)."""
  server = _rollout_server(num_actors=3)
  assert _insert(server, [_rollout(0), _rollout(1)], 0)
  assert not _insert(server, [_rollout(2)], 0)
  server.sample()
  assert server.may_insert()
  server.close()


def test_worker_env_carries_the_runs_compilation_cache():
  """Workers get JAX's persistent cache through their environment (the CLI
  sets it only in the launcher); none when the run turned it off."""
  import os  # pylint: disable=g-import-not-at-top
  from experiments import config as config_lib  # pylint: disable=g-import-not-at-top
  from experiments import distributed_runner  # pylint: disable=g-import-not-at-top
  base = dict(distributed_runner.CPU_ENV)
  on = distributed_runner.worker_env(base, config_lib.default_config(
      runner="distributed", compilation_cache_dir="~/cache"))
  assert on["JAX_COMPILATION_CACHE_DIR"] == os.path.expanduser("~/cache")
  assert on["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"
  assert {k: on[k] for k in base} == base
  off = distributed_runner.worker_env(base, config_lib.default_config(
      runner="distributed", compilation_cache_dir=""))
  assert off == base
