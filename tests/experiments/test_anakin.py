"""The all-on-accelerator runner: episode statistics, the pure train
function (vmapped over seeds and a hyperparameter), devices, and the
errors for bad input."""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from building_blocks import errors
from experiments import anakin_config
from experiments import anakin_run
from experiments import anakin_runner


def small_config(**kwargs) -> anakin_config.AnakinConfig:
  base = dict(num_steps=2048, eval_every=1024, eval_episodes=2,
              progress=False, compilation_cache_dir="")
  base.update(kwargs)
  config = anakin_config.default_config(kwargs.pop("agent", "ppo"),
                                        kwargs.pop("env", "CartPole-v1"))
  for key, value in base.items():
    setattr(config, key, value)
  return config


def test_episode_window_keeps_the_last_ten_returns_in_order():
  window = anakin_runner.EpisodeWindow.empty()
  assert np.isnan(window.mean())
  done = np.zeros((3, 2), bool)
  done[0, 1] = done[2, 0] = True
  returns = np.array([[0, 5], [0, 0], [7, 0]], np.float32)
  window = anakin_runner.push_episodes(window, done, returns)
  assert int(window.count) == 2
  assert float(window.mean()) == 6.0
  # 12 more episodes: returns 100..111 in time order; the last ten remain.
  done = np.ones((6, 2), bool)
  returns = np.arange(100, 112, dtype=np.float32).reshape(6, 2)
  window = anakin_runner.push_episodes(window, done, returns)
  np.testing.assert_array_equal(np.asarray(window.returns),
                                np.arange(102, 112))
  assert int(window.count) == 14
  assert float(window.mean()) == pytest.approx(106.5)


def test_train_is_pure_and_vmaps_over_seeds():
  config = small_config()
  train = anakin_runner.make_train(config)
  plan = anakin_runner.make_plan(config)
  keys = anakin_runner.seed_keys(0, 3)
  out = jax.jit(jax.vmap(train))(keys)
  assert out.metrics["loss"].shape == (3, plan.num_iterations)
  assert out.eval_return.shape == (3, plan.num_evals)
  np.testing.assert_array_equal(out.metrics["env_steps"][0],
                                plan.steps_per_iteration *
                                np.arange(1, plan.num_iterations + 1))
  assert np.isfinite(np.asarray(out.metrics["loss"])).all()
  # Different seeds, different runs; the same seed, the same run.
  assert not np.allclose(out.metrics["loss"][0], out.metrics["loss"][1])
  again = jax.jit(train)(keys[2])
  np.testing.assert_allclose(np.asarray(again.metrics["loss"]),
                             np.asarray(out.metrics["loss"][2]), rtol=1e-4,
                             atol=1e-6)


def test_train_vmaps_over_a_hyperparameter():
  config = small_config(eval_episodes=0)
  train = anakin_runner.make_train(config)
  learning_rates = jnp.array([0.0, 2.5e-4, 1e-2])
  out = jax.jit(jax.vmap(train, in_axes=(None, 0)))(
      jax.random.PRNGKey(0), {"learning_rate": learning_rates})
  params = out.state.agent.params
  first_layer = jax.tree_util.tree_leaves(params)[0]
  initial = jax.tree_util.tree_leaves(
      jax.jit(anakin_runner._make_program(  # pylint: disable=protected-access
          config, *anakin_runner.check_config(config))[0])(
              jax.random.PRNGKey(0)).agent.params)[0]
  # lr 0 leaves the parameters where they started; the others move them,
  # the larger step size further.
  moved = [float(jnp.abs(first_layer[i] - initial).max()) for i in range(3)]
  assert moved[0] == 0.0
  assert 0.0 < moved[1] < moved[2]


def test_unknown_override_is_an_error():
  train = anakin_runner.make_train(small_config())
  with pytest.raises(errors.ConfigError, match="learnin_rate"):
    jax.eval_shape(train, jax.random.PRNGKey(0), {"learnin_rate": 1.0})


def test_unknown_environment_names_close_match(tmp_path):
  with pytest.raises(errors.UnknownEnvironmentError, match="CartPole-v1"):
    anakin_run.run(small_config(env="Cartpole-v1",
                                run_dir=str(tmp_path / "run")))
  assert not (tmp_path / "run").exists()


def test_dqn_on_continuous_actions_is_refused(tmp_path):
  config = small_config(agent="dqn", env="Pendulum-v1",
                        run_dir=str(tmp_path / "run"))
  with pytest.raises(errors.IncompatibleEnvironmentError, match="discrete"):
    anakin_run.run(config)
  assert not (tmp_path / "run").exists()


def test_seed_count_must_divide_across_devices(monkeypatch):
  cpu = jax.local_devices()[0]
  monkeypatch.setattr(jax, "local_devices", lambda: [cpu] * 4)
  with pytest.raises(errors.ConfigError, match="does not divide across 4"):
    anakin_runner.select_devices(small_config(num_seeds=6))
  assert len(anakin_runner.select_devices(small_config(num_seeds=8))) == 4
  assert len(anakin_runner.select_devices(
      small_config(num_seeds=6, num_devices=2))) == 2


def test_run_that_cannot_fit_in_memory_is_refused_with_numbers(tmp_path):
  config = small_config(agent="dqn", num_seeds=4096,
                        run_dir=str(tmp_path / "run"))
  config.dqn.max_replay_size = 10_000_000
  with pytest.raises(anakin_runner.OutOfMemoryError,
                     match=r"needs about [\d.]+ GiB .* only [\d.]+ GiB"):
    anakin_run.run(config)
  assert not (tmp_path / "run").exists()


def test_nan_loss_stops_the_run_with_the_step(tmp_path):
  config = small_config(run_dir=str(tmp_path / "run"), num_steps=8192,
                        eval_every=2048, eval_episodes=0)
  config.ppo.learning_rate = 1e30
  config.ppo.max_gradient_norm = 1e30
  with pytest.raises(anakin_runner.TrainingDivergedError,
                     match=r"became NaN/inf by env step \d+"):
    anakin_run.run(config)
  # What was written before stays.
  assert (tmp_path / "run" / "config.json").exists()
  assert (tmp_path / "run" / "learning_curves.csv").exists()


def test_run_writes_curves_plot_table_and_parameters(tmp_path):
  run_dir = tmp_path / "run"
  config = small_config(num_seeds=2, run_dir=str(run_dir))
  result = anakin_run.run(config)
  assert result.env_steps_per_seed == 2048
  for name in ("config.json", "learning_curves.csv", "learning_curve.png",
               "final_returns.csv", "summary.json"):
    assert (run_dir / name).is_file(), name
  assert os.listdir(run_dir / "checkpoints")
  with open(run_dir / "learning_curves.csv") as f:
    rows = f.read().strip().splitlines()
  assert rows[0].startswith("seed,env_steps,mean_return_10,eval_return")
  assert len(rows) == 1 + 2 * 2  # two seeds, two evaluation periods
  assert "seed" in result.table and "over 2 seeds" in result.table
  with pytest.raises(errors.RunDirectoryError):
    anakin_run.run(config)
