"""The all-on-accelerator runner: episode statistics, the pure train
function (vmapped over seeds and a hyperparameter), devices, the errors for
bad input and the run folder it writes."""
from __future__ import annotations

import csv
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from building_blocks import errors
from experiments import anakin_program as program
from experiments import anakin_runner
from experiments import config as config_lib
from experiments import stopping


def small_config(agent: str = "ppo", env: str = "CartPole-v1",
                 **kwargs: Any) -> Any:
  """A short all-on-accelerator run (two evaluation periods) with the
  agent's preset for `env`; `kwargs` set other run fields."""
  settings = dict(num_steps=2048, eval_every=1024, eval_episodes=2,
                  progress=False, compilation_cache_dir="")
  settings.update(kwargs)
  return config_lib.default_config(agent, env, runner="anakin", **settings)


def _read_csv(path: Any) -> tuple[list[str], list[dict[str, str]]]:
  with open(path, newline="") as f:
    reader = csv.DictReader(f)
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def test_episode_window_keeps_the_last_ten_returns_in_order():
  window = program.EpisodeWindow.empty()
  assert np.isnan(window.mean())
  done = np.zeros((3, 2), bool)
  done[0, 1] = done[2, 0] = True
  returns = np.array([[0, 5], [0, 0], [7, 0]], np.float32)
  window = program.push_episodes(window, done, returns)
  assert int(window.count) == 2
  assert float(window.mean()) == 6.0
  # 12 more episodes: returns 100..111 in time order; the last ten remain.
  done = np.ones((6, 2), bool)
  returns = np.arange(100, 112, dtype=np.float32).reshape(6, 2)
  window = program.push_episodes(window, done, returns)
  np.testing.assert_array_equal(np.asarray(window.returns),
                                np.arange(102, 112))
  assert int(window.count) == 14
  assert float(window.mean()) == pytest.approx(106.5)


def test_train_is_pure_and_vmaps_over_seeds():
  config = small_config()
  train = program.make_train(config)
  plan = program.make_plan(config)
  keys = program.seed_keys(0, 3)
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


def test_dqn_counts_its_n_step_warm_up_as_environment_steps():
  """DQN carries n-step windows across rollouts; n-1 warm-up steps per
  environment at init fill the first window, and they count."""
  config = small_config("dqn")
  plan = program.make_plan(config)
  warmup = (config.dqn.n_step - 1) * plan.num_envs
  assert warmup > 0
  out = jax.jit(program.make_train(config))(jax.random.PRNGKey(0))
  np.testing.assert_array_equal(
      out.metrics["env_steps"],
      warmup + plan.steps_per_iteration * np.arange(1, plan.num_iterations + 1))
  assert int(out.state.env_steps) == warmup + plan.total_steps
  assert np.isfinite(np.asarray(out.metrics["loss"])).all()


def test_train_vmaps_over_a_hyperparameter():
  config = small_config(eval_episodes=0)
  train = program.make_train(config)
  learning_rates = jnp.array([0.0, 2.5e-4, 1e-2])
  out = jax.jit(jax.vmap(train, in_axes=(None, 0)))(
      jax.random.PRNGKey(0), {"learning_rate": learning_rates})
  params = out.state.agent.params
  first_layer = jax.tree_util.tree_leaves(params)[0]
  initial = jax.tree_util.tree_leaves(
      jax.jit(program._make_program(  # pylint: disable=protected-access
          config, *program.check_config(config))[0])(
              jax.random.PRNGKey(0)).agent.params)[0]
  # lr 0 leaves the parameters where they started; the others move them,
  # the larger step size further.
  moved = [float(jnp.abs(first_layer[i] - initial).max()) for i in range(3)]
  assert moved[0] == 0.0
  assert 0.0 < moved[1] < moved[2]


def test_unknown_override_is_an_error():
  train = program.make_train(small_config())
  with pytest.raises(errors.ConfigError, match="learnin_rate"):
    jax.eval_shape(train, jax.random.PRNGKey(0), {"learnin_rate": 1.0})


@pytest.mark.parametrize("agent, field, value", [
    ("ppo", "num_epochs", 2),
    ("dqn", "n_step", 5),
])
def test_overriding_a_static_field_is_refused(agent, field, value):
  """Fields that set shapes or control flow cannot be traced values."""
  assert field in type(getattr(small_config(agent), agent)).STATIC_FIELDS
  train = program.make_train(small_config(agent))
  cannot_vmap = rf"Cannot vmap {agent}\.{field}\b.*cannot be traced"
  with pytest.raises(errors.ConfigError, match=cannot_vmap):
    jax.eval_shape(train, jax.random.PRNGKey(0), {field: value})


def test_unknown_environment_names_close_match(tmp_path):
  with pytest.raises(errors.UnknownEnvironmentError,
                     match="Did you mean: CartPole-v1"):
    anakin_runner.run(small_config(env="Cartpole-v1",
                                   run_dir=str(tmp_path / "run")))
  assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("env", ["LunarLander-v3", "Taxi-v3"])
def test_environment_without_a_jax_version_points_to_runner_single(tmp_path,
                                                                   env):
  agent = "dqn"  # both have discrete actions; the error comes first anyway
  with pytest.raises(errors.UnknownEnvironmentError,
                     match="--runner single") as info:
    anakin_runner.run(small_config(agent, env, run_dir=str(tmp_path / "run")))
  assert env in str(info.value)
  assert not (tmp_path / "run").exists()


def test_dqn_on_continuous_actions_is_refused(tmp_path):
  config = small_config(agent="dqn", env="Pendulum-v1",
                        run_dir=str(tmp_path / "run"))
  with pytest.raises(errors.IncompatibleEnvironmentError, match="discrete"):
    anakin_runner.run(config)
  assert not (tmp_path / "run").exists()


def test_seed_count_must_divide_across_devices(monkeypatch):
  cpu = jax.local_devices()[0]
  monkeypatch.setattr(jax, "local_devices", lambda: [cpu] * 4)
  with pytest.raises(errors.ConfigError, match="does not divide across 4"):
    program.select_devices(small_config(num_seeds=6))
  assert len(program.select_devices(small_config(num_seeds=8))) == 4
  assert len(program.select_devices(
      small_config(num_seeds=6, num_devices=2))) == 2


def test_run_that_cannot_fit_in_memory_is_refused_with_numbers(tmp_path):
  config = small_config(agent="dqn", num_seeds=4096,
                        run_dir=str(tmp_path / "run"))
  config.dqn.max_replay_size = 10_000_000
  with pytest.raises(program.OutOfMemoryError,
                     match=r"needs about [\d.]+ GiB .* only [\d.]+ GiB"):
    anakin_runner.run(config)
  assert not (tmp_path / "run").exists()


def test_nan_loss_stops_the_run_with_the_step(tmp_path):
  config = small_config(run_dir=str(tmp_path / "run"), num_steps=8192,
                        eval_every=2048, eval_episodes=0)
  config.ppo.learning_rate = 1e30
  config.ppo.max_gradient_norm = 1e30
  with pytest.raises(stopping.TrainingDivergedError,
                     match=r"became NaN/inf by env step \d+"):
    anakin_runner.run(config)
  # What was written before stays.
  assert (tmp_path / "run" / "config.json").exists()
  assert (tmp_path / "run" / "logs" / "train.csv").exists()


def test_run_writes_the_run_folder_of_every_runner(tmp_path):
  run_dir = tmp_path / "run"
  config = small_config(num_seeds=2, run_dir=str(run_dir))
  summary = anakin_runner.run(config)
  assert summary.runner == "anakin" and summary.num_seeds == 2
  assert summary.env_steps == 2048
  assert not summary.interrupted
  assert len(summary.final_mean_return) == len(summary.final_eval_return) == 2
  for name in ("config.json", "logs/train.csv", "logs/eval.csv",
               "learning_curve.png", "final_returns.csv", "summary.json"):
    assert (run_dir / name).is_file(), name
  for name in ("tensorboard", "checkpoints"):
    assert (run_dir / name).is_dir() and os.listdir(run_dir / name), name

  saved = config_lib.from_json_file(str(run_dir / "config.json"))
  assert (saved.runner, saved.agent, saved.num_seeds) == ("anakin", "ppo", 2)
  assert saved.run_dir == str(run_dir)
  with open(run_dir / "summary.json") as f:
    assert json.load(f)["env_steps"] == 2048

  # One row per seed per evaluation period: two seeds, two periods.
  header, rows = _read_csv(run_dir / "logs" / "train.csv")
  assert header[:4] == ["seed", "env_steps", "episodes", "mean_return_10"]
  assert "loss" in header[4:]
  assert len(rows) == 2 * 2
  assert sorted((r["seed"], int(r["env_steps"])) for r in rows) == [
      ("0", 1024), ("0", 2048), ("1", 1024), ("1", 2048)]
  header, rows = _read_csv(run_dir / "logs" / "eval.csv")
  assert header == ["seed", "env_steps", "eval_mean_return"]
  assert len(rows) == 2 * 2
  _, rows = _read_csv(run_dir / "final_returns.csv")
  assert [r["seed"] for r in rows] == ["0", "1"]

  assert "seed" in summary.extra["table"]
  assert "over 2 seeds" in summary.extra["table"]
  with pytest.raises(errors.RunDirectoryError):
    anakin_runner.run(config)
