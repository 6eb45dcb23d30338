"""n-step returns and the adder against hand-computed episodes."""
from __future__ import annotations

import dm_env
import numpy as np
import pytest

from replay import adders
from replay import nstep

GAMMA = 0.9


def _obs(i):
  return np.array([float(i)], np.float32)


def _play(adder, rewards, end="terminate", start=0):
  """Feeds one episode whose t-th observation is [start + t]."""
  adder.add_first(dm_env.restart(_obs(start)))
  for t, r in enumerate(rewards, start=1):
    obs = _obs(start + t)
    if t < len(rewards):
      ts = dm_env.transition(np.float32(r), obs, np.float32(1.0))
    elif end == "terminate":
      ts = dm_env.termination(np.float32(r), obs)
    else:
      ts = dm_env.truncation(np.float32(r), obs, np.float32(1.0))
    adder.add(np.int32(10 + start + t - 1), ts)


class _ListSink:
  def __init__(self):
    self.items = []

  def __call__(self, transition, priority):
    self.items.append((transition, priority))

  def table(self):
    return [(float(t.observation[0]), int(t.action), float(t.reward),
             float(t.discount), float(t.next_observation[0]))
            for t, _ in self.items]


def _adder(n, priority=1.0):
  sink = _ListSink()
  return adders.NStepTransitionAdder(sink, n_step=n, discount=GAMMA,
                                     priority=priority), sink


def test_nstep_return_formula():
  r, d = nstep.nstep_return([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], GAMMA)
  assert r == pytest.approx(1 + 0.9 * 2 + 0.81 * 3)
  assert d == pytest.approx(0.729)
  r, d = nstep.nstep_return([1.0, 2.0, 3.0], [1.0, 0.0, 1.0], GAMMA)
  assert r == pytest.approx(1 + 0.9 * 2)  # nothing counts after a termination
  assert d == 0.0


def test_terminated_episode_matches_hand_computation():
  adder, sink = _adder(3)
  _play(adder, [1, 2, 3, 4], end="terminate")
  expected = [
      # (s_t, a_t, R_t, Gamma_t, s_{t+m})
      (0.0, 10, 1 + 0.9 * 2 + 0.81 * 3, 0.729, 3.0),
      (1.0, 11, 2 + 0.9 * 3 + 0.81 * 4, 0.0, 4.0),
      (2.0, 12, 3 + 0.9 * 4, 0.0, 4.0),
      (3.0, 13, 4.0, 0.0, 4.0),
  ]
  np.testing.assert_allclose(sink.table(), expected, rtol=1e-6)


def test_truncated_episode_keeps_bootstrap_discounts():
  adder, sink = _adder(3)
  _play(adder, [1, 2, 3, 4], end="truncate")
  expected = [
      (0.0, 10, 1 + 0.9 * 2 + 0.81 * 3, 0.729, 3.0),
      (1.0, 11, 2 + 0.9 * 3 + 0.81 * 4, 0.729, 4.0),
      (2.0, 12, 3 + 0.9 * 4, 0.81, 4.0),
      (3.0, 13, 4.0, 0.9, 4.0),
  ]
  np.testing.assert_allclose(sink.table(), expected, rtol=1e-6)


def test_episode_shorter_than_n():
  adder, sink = _adder(5)
  _play(adder, [1, 2], end="terminate")
  np.testing.assert_allclose(sink.table(), [(0.0, 10, 2.8, 0.0, 2.0),
                                            (1.0, 11, 2.0, 0.0, 2.0)], rtol=1e-6)
  adder2, sink2 = _adder(5)
  _play(adder2, [1, 2], end="truncate")
  np.testing.assert_allclose(sink2.table(), [(0.0, 10, 2.8, 0.81, 2.0),
                                             (1.0, 11, 2.0, 0.9, 2.0)], rtol=1e-6)


def test_one_step_adder_and_no_mixing_across_episodes():
  adder, sink = _adder(1)
  _play(adder, [1, 2], end="truncate", start=0)
  _play(adder, [5], end="terminate", start=100)
  np.testing.assert_allclose(sink.table(), [
      (0.0, 10, 1.0, 0.9, 1.0), (1.0, 11, 2.0, 0.9, 2.0),
      (100.0, 110, 5.0, 0.0, 101.0)], rtol=1e-6)


def test_interrupted_episode_is_dropped_by_reset():
  adder, sink = _adder(3)
  adder.add_first(dm_env.restart(_obs(0)))
  adder.add(np.int32(1), dm_env.transition(np.float32(1), _obs(1), np.float32(1)))
  adder.reset()
  _play(adder, [7], start=50)
  assert [row[0] for row in sink.table()] == [50.0]


def test_priority_callable_is_read_per_item():
  values = iter([3.0, 4.0])
  adder, sink = _adder(1, priority=lambda: next(values))
  _play(adder, [1, 1])
  assert [p for _, p in sink.items] == [3.0, 4.0]


def test_misuse_is_reported():
  adder, _ = _adder(2)
  with pytest.raises(ValueError, match="add_first"):
    adder.add(np.int32(0), dm_env.transition(np.float32(0), _obs(0)))
  with pytest.raises(ValueError, match="n_step"):
    _adder(0)
