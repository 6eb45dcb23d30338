"""The flashbax-backed device buffer: what it samples, with what probability."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from building_blocks import errors
from replay import device_buffer


def _buffer(**kwargs):
  args = dict(capacity=8, min_size=1, sample_batch_size=16, add_batch_size=1,
              prioritized=False)
  args.update(kwargs)
  return device_buffer.make_transition_buffer(**args)


def _example():
  return {"x": np.float32(0), "obs": np.zeros(2, np.float32),
          "action": np.int64(0)}


def _items(values):
  values = np.asarray(values, np.float32)
  return {"x": values, "obs": np.stack([values, -values], axis=1),
          "action": values.astype(np.int64)}


def _filled(buf, values):
  state = buf.init(_example())
  add = jax.jit(buf.add)
  for v in values:
    state = add(state, _items([v]))
  return state


def _counts(buf, state, num_batches, seed=0):
  sample = jax.jit(buf.sample)
  keys = [jax.random.PRNGKey(seed * 100_003 + i) for i in range(num_batches)]
  xs = [np.asarray(sample(state, key).data["x"]) for key in keys]
  values, counts = np.unique(np.concatenate(xs), return_counts=True)
  return dict(zip(values.tolist(), counts.tolist()))


def _chi_square(counts: dict, expected_p: dict) -> float:
  total = sum(counts.values())
  assert set(counts) <= set(expected_p)
  return sum((counts.get(k, 0) - total * p) ** 2 / (total * p)
             for k, p in expected_p.items())


# Chi-square quantile for p = 0.001 (a correct sampler fails 1 in 1000).
CHI2_999 = {4: 18.47, 5: 20.52, 7: 24.32}


def test_uniform_samples_every_item_with_probability_one_over_n():
  buf = _buffer(capacity=8, sample_batch_size=1000)
  state = _filled(buf, [10, 11, 12, 13, 14])
  batch = jax.jit(buf.sample)(state, jax.random.PRNGKey(0))
  assert batch.keys.dtype == jnp.int32 and batch.keys.shape == (1000,)
  assert batch.probabilities.dtype == jnp.float32
  np.testing.assert_allclose(batch.probabilities, 1 / 5)
  assert batch.table_size.shape == () and int(batch.table_size) == 5
  assert batch.table_size.dtype == jnp.int32
  # Each key names the item it came with: the insertion number.
  np.testing.assert_array_equal(np.asarray(batch.keys) + 10,
                                np.asarray(batch.data["x"]))
  np.testing.assert_array_equal(batch.data["obs"][:, 1], -batch.data["x"])
  assert batch.data["action"].dtype == jnp.int32  # JAX's default int
  counts = _counts(buf, state, 20)
  uniform = {float(v): 0.2 for v in range(10, 15)}
  assert _chi_square(counts, uniform) < CHI2_999[4]


@pytest.mark.parametrize("alpha", [1.0, 0.6])
def test_prioritized_frequencies_match_p_to_the_alpha(alpha):
  buf = _buffer(prioritized=True, priority_exponent=alpha,
                sample_batch_size=1000)
  state = _filled(buf, [0, 1, 2, 3, 4, 5])
  priorities = np.array([1.0, 2.0, 3.0, 0.5, 4.0, 6.0], np.float32)
  state = jax.jit(buf.set_priorities)(state, jnp.arange(6), priorities)
  expected = priorities ** alpha / np.sum(priorities ** alpha)
  batch = jax.jit(buf.sample)(state, jax.random.PRNGKey(1))
  keys = np.asarray(batch.keys)
  np.testing.assert_allclose(batch.probabilities, expected[keys], rtol=1e-5)
  np.testing.assert_array_equal(np.asarray(batch.data["x"]), keys)
  counts = _counts(buf, state, 30)
  assert _chi_square(counts, dict(enumerate(expected))) < CHI2_999[5]


def test_prioritized_batch_is_shuffled_not_sorted_by_stratum():
  # Stratified draws come out ordered by position in the sum tree; a
  # minibatch cut from the batch must still span the whole buffer.
  buf = _buffer(capacity=64, prioritized=True, sample_batch_size=64)
  state = _filled(buf, range(64))
  x = np.asarray(jax.jit(buf.sample)(state, jax.random.PRNGKey(0)).data["x"])
  assert x[:8].max() - x[:8].min() > 16
  assert not np.all(np.diff(x) >= 0)


def test_set_priorities_changes_sampling_and_new_items_get_the_max():
  buf = _buffer(prioritized=True, priority_exponent=1.0,
                sample_batch_size=500)
  state = _filled(buf, [0, 1, 2])
  state = buf.set_priorities(state, jnp.array([0, 1, 2]),
                             jnp.array([0.0, 1.0, 3.0]))
  counts = _counts(buf, state, 4)
  assert 0.0 not in counts  # priority 0: never sampled
  assert _chi_square(counts, {1.0: 0.25, 2.0: 0.75}) < 10.8
  # A new item gets the largest priority set so far (3).
  state = buf.add(state, _items([3]))
  batch = buf.sample(state, jax.random.PRNGKey(5))
  probs = dict(zip(np.asarray(batch.data["x"]).tolist(),
                   np.asarray(batch.probabilities).tolist()))
  assert probs[3.0] == pytest.approx(3 / 7)
  assert probs[2.0] == pytest.approx(3 / 7)


def test_uniform_set_priorities_returns_the_state_unchanged():
  buf = _buffer()
  state = _filled(buf, [0, 1])
  assert buf.set_priorities(state, jnp.array([0]), jnp.array([5.0])) is state


@pytest.mark.parametrize("prioritized", [False, True])
def test_wrap_around_overwrites_the_oldest(prioritized):
  buf = _buffer(capacity=5, prioritized=prioritized, sample_batch_size=400)
  state = _filled(buf, range(7))
  assert int(buf.size(state)) == 5
  counts = _counts(buf, state, 3)
  assert set(counts) == {2.0, 3.0, 4.0, 5.0, 6.0}
  batch = buf.sample(state, jax.random.PRNGKey(0))
  np.testing.assert_array_equal(np.asarray(batch.keys),
                                np.asarray(batch.data["x"]))
  np.testing.assert_allclose(batch.probabilities, 0.2, rtol=1e-6)


def test_priority_of_an_overwritten_item_is_ignored():
  buf = _buffer(capacity=4, prioritized=True, priority_exponent=1.0,
                sample_batch_size=200)
  state = _filled(buf, [0, 1, 2, 3])
  # Item 0 (key 0) is sampled, then overwritten by item 4 in the same slot
  # before its new priority arrives: item 4 keeps its max priority.
  state = buf.add(state, _items([4]))
  state = buf.set_priorities(state, jnp.array([0, 1]), jnp.array([100.0, 0.0]))
  counts = _counts(buf, state, 3)
  assert 1.0 not in counts and 0.0 not in counts
  assert _chi_square(counts, {2.0: 1 / 3, 3.0: 1 / 3, 4.0: 1 / 3}) < 13.8


def test_can_sample_from_min_size_on():
  buf = _buffer(capacity=6, min_size=3)
  state = buf.init(_example())
  assert not bool(buf.can_sample(state))
  for i, ready in enumerate([False, False, True, True, True, True, True]):
    state = buf.add(state, _items([i]))
    assert bool(buf.can_sample(state)) == ready
    assert int(buf.size(state)) == min(i + 1, 6)


@pytest.mark.parametrize("prioritized", [False, True])
def test_add_batch_size_above_one_keeps_the_newest_in_order(prioritized):
  buf = _buffer(capacity=10, add_batch_size=4, prioritized=prioritized,
                sample_batch_size=2000)
  state = buf.init(_example())
  add = jax.jit(buf.add)
  for start in range(0, 16, 4):
    state = add(state, _items(np.arange(start, start + 4)))
  assert int(buf.size(state)) == 10
  counts = _counts(buf, state, 2)
  assert set(counts) == set(float(v) for v in range(6, 16))
  stored = np.asarray(state.buffer.experience["x"][0])
  # The ring wrote 0..15 in order: slot i holds the newest value = i mod 10.
  np.testing.assert_array_equal(stored, [10, 11, 12, 13, 14, 15, 6, 7, 8, 9])


@pytest.mark.parametrize("prioritized", [False, True])
def test_jit_and_vmap_over_two_seeds(prioritized):
  buf = _buffer(capacity=8, prioritized=prioritized, sample_batch_size=32)
  example = _example()
  states = jax.vmap(lambda _: buf.init(example))(jnp.arange(2))
  per_seed = [np.arange(6, dtype=np.float32),
              100 + np.arange(6, dtype=np.float32)]

  @jax.jit
  def fill_and_sample(states, items, keys):
    states = jax.vmap(buf.add)(states, items)
    batches = jax.vmap(buf.sample)(states, keys)
    new_p = batches.data["x"] % 3 + 1.0
    states = jax.vmap(buf.set_priorities)(states, batches.keys, new_p)
    return states, batches

  items = jax.tree_util.tree_map(lambda a, b: np.stack([a, b]),
                                 _items(per_seed[0]), _items(per_seed[1]))
  keys = jax.random.split(jax.random.PRNGKey(0), 2)
  states, batches = fill_and_sample(states, items, keys)
  assert batches.data["x"].shape == (2, 32)
  assert np.all(np.asarray(batches.data["x"][0]) < 6)
  assert np.all(np.asarray(batches.data["x"][1]) >= 100)
  np.testing.assert_array_equal(buf.can_sample(states), [True, True])
  # Each seed's result equals running that seed alone.
  for i in range(2):
    single = buf.add(buf.init(example), _items(per_seed[i]))
    batch = buf.sample(single, keys[i])
    np.testing.assert_array_equal(batch.data["x"], batches.data["x"][i])
    np.testing.assert_allclose(batch.probabilities, batches.probabilities[i])
    single = buf.set_priorities(single, batch.keys, batch.data["x"] % 3 + 1.0)
    for got, want in zip(jax.tree_util.tree_leaves(single),
                         jax.tree_util.tree_leaves(states)):
      np.testing.assert_allclose(np.asarray(got), np.asarray(want)[i])


def test_sum_tree_stays_exact_under_many_updates():
  # Every inner node must equal the sum of its two children exactly, or
  # float32 drift lets draws land on empty leaves over a long run.
  capacity = 1000
  buf = _buffer(capacity=capacity, prioritized=True, sample_batch_size=64)
  state = buf.init(_example())

  @jax.jit
  def run(state, key):
    def body(i, carry):
      state, key = carry
      key, k1, k2 = jax.random.split(key, 3)
      items = jax.tree_util.tree_map(  # 7 items shaped like the stored ones
          lambda x: jnp.zeros((7,) + x.shape[2:], x.dtype),
          state.buffer.experience)
      state = buf.add(state, items)
      batch = buf.sample(state, k1)
      return buf.set_priorities(
          state, batch.keys, jax.random.uniform(k2, (64,)) * 10), key
    return jax.lax.fori_loop(0, 500, body, (state, key))[0]

  state = run(state, jax.random.PRNGKey(0))
  tree = state.buffer.sum_tree_state
  nodes = np.asarray(tree.nodes)
  for d in range(tree.tree_depth):
    parents = nodes[2**d - 1:2**(d + 1) - 1]
    children = nodes[2**(d + 1) - 1:2**(d + 2) - 1]
    np.testing.assert_array_equal(parents, children[0::2] + children[1::2])
  leaves = nodes[2**tree.tree_depth - 1:]
  assert np.all(leaves[capacity:] == 0) and np.all(leaves[:capacity] > 0)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(capacity=0), "capacity must be an integer in [1, 1073741824]"),
    (dict(min_size=0), "min_size must be an integer in [1, capacity=8]"),
    (dict(min_size=9), "min_size must be an integer in [1, capacity=8]"),
    (dict(sample_batch_size=0), "sample_batch_size must be an integer >= 1"),
    (dict(add_batch_size=9),
     "add_batch_size must be an integer in [1, capacity=8]"),
    (dict(capacity=8.5), "capacity must be an integer"),
    (dict(prioritized=True, priority_exponent=-0.5), "priority_exponent"),
    (dict(prioritized="yes"), "prioritized must be True or False"),
])
def test_bad_arguments_are_config_errors(kwargs, needle):
  with pytest.raises(errors.ConfigError, match=None) as info:
    _buffer(**kwargs)
  assert needle in str(info.value)
