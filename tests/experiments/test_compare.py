"""python -m experiments.compare on synthetic run folders (no training):
folders laid out by the runners' own writers (config.json, logs/train.csv,
summary.json) with known numbers; the IQM and its stratified-bootstrap
interval checked against rliable's own functions with the same seed
(Agarwal et al., 2021)."""
from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from building_blocks import errors
from experiments import compare
from experiments import config as config_lib
from experiments import interval_estimates
from experiments import run_folder
from experiments import run_logs
from experiments import stopping


REPS, CURVE_REPS = 300, 40


def _write_run(run_dir, agent, env, runner, rows, seed=0, num_seeds=1,
               eval_rows=(), **agent_fields):
  """A run folder as the runners write it: config.json by
  ExperimentConfig.to_json, logs/*.csv by RunLogs, summary.json by
  RunSummary."""
  config = config_lib.default_config(agent, env, runner=runner, seed=seed,
                                     num_seeds=num_seeds, run_dir=str(run_dir))
  for name, value in agent_fields.items():
    setattr(config.agent_config(), name, value)
  os.makedirs(run_dir)
  with open(os.path.join(run_dir, run_folder.CONFIG_FILE), "w") as f:
    f.write(config.to_json())
  logs = run_logs.RunLogs(str(run_dir), tensorboard=False)
  for row in rows:
    logs.train(row)
  for row in eval_rows:
    logs.evaluation(row)
  logs.close()
  last = {}
  for row in rows:
    last[row["seed"]] = row
  run_folder.RunSummary(
      run_dir=str(run_dir), runner=runner, agent=agent, env=env,
      num_seeds=num_seeds, env_steps=max(r["env_steps"] for r in rows),
      final_mean_return=[r["mean_return_10"] for r in last.values()],
      final_eval_return=[None] * num_seeds, steps_to_target=None,
      seconds_to_target=None, wall_seconds=1.0, steps_per_second=1.0,
      interrupted=False, plot_path=None,
      checkpoint_dir=os.path.join(run_dir, "checkpoints")).write()
  return str(run_dir)


def _anakin(run_dir, agent="dqn", env="CartPole-v1", seeds=3, **fields):
  """Seed s logs (s + 1) * step / 100 every 1,000 steps up to 10,000, after
  a first period in which no episode ended (NaN)."""
  rows = [{"seed": s, "env_steps": 500, "episodes": 0,
           "mean_return_10": float("nan"), "loss": 1.0} for s in range(seeds)]
  for step in range(1000, 10_001, 1000):
    rows += [{"seed": s, "env_steps": step, "episodes": step // 100,
              "mean_return_10": (s + 1) * step / 100, "loss": 0.5}
             for s in range(seeds)]
  return _write_run(run_dir, agent, env, "anakin", rows, num_seeds=seeds,
                    **fields)


def _single(run_dir, seed, agent="dqn", env="CartPole-v1", last=12_000,
            **fields):
  """One episode every 500 steps; the 10-episode mean is step / 100 + seed."""
  rows = [{"seed": seed, "env_steps": step, "episodes": step // 500,
           "learner_steps": 0, "episode_return": 1.0, "episode_length": 500,
           "mean_return_10": step / 100 + seed, "steps_per_second": 1.0,
           "wall_time": 1.0} for step in range(500, last + 1, 500)]
  return _write_run(run_dir, agent, env, "single", rows, seed=seed, **fields)


def _rliable_iqm_interval(scores, reps, seed):
  """rliable's own functions, seeded the only way rliable 1.2.0 allows."""
  from rliable import library, metrics  # pylint: disable=g-import-not-at-top
  np.random.seed(seed)
  points, intervals = library.get_interval_estimates(
      {"x": scores}, lambda s: np.array([metrics.aggregate_iqm(s)]), reps=reps)
  return points["x"][0], intervals["x"][:, 0]


# ------------------------------------------------------- intervals (maths)


def test_final_interval_equals_rliable():
  scores = np.random.default_rng(1).normal(size=(7, 1)) * 50 + 100
  ours = interval_estimates.final_iqm_interval(scores, reps=REPS, seed=11)
  point, (low, high) = _rliable_iqm_interval(scores, REPS, 11)
  assert ours.point == point
  assert (ours.low, ours.high) == (low, high)
  assert low < ours.point < high


def test_curve_interval_equals_rliable_per_step_loop():
  from rliable import library, metrics  # pylint: disable=g-import-not-at-top
  scores = np.random.default_rng(2).normal(size=(6, 1, 9)).cumsum(-1)
  ours = interval_estimates.curve_iqm_interval(scores, reps=CURVE_REPS, seed=5)
  np.random.seed(5)
  points, intervals = library.get_interval_estimates(
      {"x": scores}, lambda s: np.array(
          [metrics.aggregate_iqm(s[..., t]) for t in range(s.shape[-1])]),
      reps=CURVE_REPS)
  np.testing.assert_allclose(ours.point, points["x"], rtol=1e-12)
  np.testing.assert_allclose(ours.low, intervals["x"][0], rtol=1e-12)
  np.testing.assert_allclose(ours.high, intervals["x"][1], rtol=1e-12)


def test_bootstrap_leaves_the_global_rng_as_it_was():
  np.random.seed(123)
  expected = np.random.random()
  np.random.seed(123)
  interval_estimates.final_iqm_interval(np.arange(8.0)[:, None], reps=20)
  assert np.random.random() == expected


def test_iqm_is_the_trimmed_mean():
  # 8 runs: drop floor(8 / 4) = 2 at each end, average the middle 4.
  scores = np.array([100.0, 1, 2, 3, 4, 5, 6, -50])[:, None]
  assert interval_estimates.iqm(scores) == pytest.approx(3.5)
  with pytest.raises(ValueError, match="NaN"):
    interval_estimates.iqm(np.array([[1.0], [np.nan]]))


# ----------------------------------------------------- reading and grouping


def test_resample_takes_the_last_value_logged_at_or_before_each_step():
  curve = compare.SeedCurve("r", 0, {}, np.array([10.0, 20.0, 30.0]),
                            np.array([1.0, 2.0, 3.0]))
  np.testing.assert_array_equal(
      compare.resample(curve, np.array([10, 15, 20, 29, 30])),
      [1, 1, 2, 2, 3])


def test_anakin_seeds_and_single_runs_of_one_config_form_one_group(tmp_path):
  dirs = [_anakin(tmp_path / "anakin"), _single(tmp_path / "s5", 5),
          _single(tmp_path / "s6", 6),
          _anakin(tmp_path / "ppo", agent="ppo", seeds=2)]
  curves = compare.load_runs(dirs)
  assert [(os.path.basename(c.run_dir), c.seed) for c in curves] == [
      ("anakin", 0), ("anakin", 1), ("anakin", 2), ("s5", 5), ("s6", 6),
      ("ppo", 0), ("ppo", 1)]
  assert curves[0].steps[0] == 1000  # the NaN row before any episode ended
  groups = compare.group_curves(curves)
  assert [[k for k, _ in key] for key in groups] == [["agent", "env",
                                                      "config"]] * 2
  assert [len(m) for m in groups.values()] == [5, 2]
  # By runner instead: the anakin seeds and the single runs part.
  by_runner = compare.group_curves(curves, ["agent", "env", "runner"])
  assert sorted(len(m) for m in by_runner.values()) == [2, 2, 3]


def test_evaluation_returns_of_a_single_run(tmp_path):
  # Runner single's logs/eval.csv has no seed column: the run's own seed.
  run = _write_run(tmp_path / "r", "dqn", "CartPole-v1", "single",
                   [{"seed": 4, "env_steps": 10, "mean_return_10": 1.0}],
                   seed=4, eval_rows=[
                       {"env_steps": 2000, "eval_mean_return": 20.0},
                       {"env_steps": 1000, "eval_mean_return": 10.0}])
  (curve,) = compare.load_run(run, "eval_mean_return")
  assert curve.seed == 4
  np.testing.assert_array_equal(curve.steps, [1000, 2000])
  np.testing.assert_array_equal(curve.values, [10, 20])


def test_another_agent_config_is_another_group(tmp_path):
  dirs = [_single(tmp_path / "a", 0), _single(tmp_path / "b", 1),
          _single(tmp_path / "c", 2, learning_rate=3e-3)]
  groups = compare.group_curves(compare.load_runs(dirs))
  assert sorted(len(m) for m in groups.values()) == [1, 2]
  labels = compare.group_labels(groups)
  assert any("learning_rate=0.003" in label for label in labels.values())
  by_lr = compare.group_curves(compare.load_runs(dirs),
                               ["env", "dqn.learning_rate"])
  assert [dict(k)["dqn.learning_rate"] for k in by_lr] == ["0.001", "0.003"]


def test_scores_and_intervals_of_a_mixed_comparison(tmp_path):
  dirs = [_anakin(tmp_path / "anakin"), _single(tmp_path / "s5", 5),
          _single(tmp_path / "s6", 6)]
  result = compare.compare(dirs, points=10, reps=REPS, curve_reps=CURVE_REPS,
                           seed=3)
  (group,) = result.groups
  # Common range: from the last first value (1,000) to the first last one
  # (10,000, the anakin run's end); final scores there.
  assert (group.grid[0], group.grid[-1]) == (1000, 10_000)
  final = group.scores[:, :, -1]
  assert sorted(final.ravel()) == [100, 105, 106, 200, 300]
  assert float(group.final.point) == pytest.approx((105 + 106 + 200) / 3)
  assert group.final_mean == pytest.approx(162.2)
  assert group.final_median == 106
  point, (low, high) = _rliable_iqm_interval(final, REPS, 3)
  assert (group.final.point, group.final.low, group.final.high) == (
      point, low, high)
  curve = interval_estimates.curve_iqm_interval(group.scores, CURVE_REPS,
                                                seed=3)
  np.testing.assert_array_equal(group.curve.point, curve.point)
  np.testing.assert_array_equal(group.curve.low, curve.low)


# ------------------------------------------------------------ command line


def test_cli_writes_png_svg_and_csv(tmp_path, capsys):
  dirs = [_anakin(tmp_path / "anakin"), _single(tmp_path / "s5", 5),
          _anakin(tmp_path / "ppo", agent="ppo", seeds=2),
          _single(tmp_path / "acrobot", 0, env="Acrobot-v1")]
  out = tmp_path / "figures" / "cmp.png"
  code = compare.main(dirs + ["--out", str(out), "--points", "12", "--reps",
                              str(REPS), "--curve-reps", str(CURVE_REPS)])
  stdout = capsys.readouterr().out
  assert code == stopping.EXIT_OK
  stem = tmp_path / "figures" / "cmp"
  with open(f"{stem}.png", "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  with open(f"{stem}.svg") as f:
    assert "<svg" in f.read(2000)
  with open(f"{stem}.csv", newline="") as f:
    rows = list(csv.DictReader(f))
  assert [(r["agent"], r["env"], r["runs"]) for r in rows] == [
      ("dqn", "Acrobot-v1", "1"), ("dqn", "CartPole-v1", "4"),
      ("ppo", "CartPole-v1", "2")]
  assert {"iqm", "ci_low", "ci_high", "mean", "median"} <= set(rows[0])
  assert "| agent | env | config | runs |" in stdout
  assert f"{stem}.svg" in stdout


def _bad(capsys, tmp_path, *args):
  out = tmp_path / "out" / "cmp"
  code = compare.main(list(args) + ["--out", str(out)])
  assert code == stopping.EXIT_BAD_INPUT
  assert not (tmp_path / "out").exists()  # nothing written
  return capsys.readouterr().err


def test_a_folder_that_is_not_a_run(tmp_path, capsys):
  not_a_run = tmp_path / "runs"
  not_a_run.mkdir()
  err = _bad(capsys, tmp_path, _single(tmp_path / "ok", 0), str(not_a_run))
  assert "is not a Relay run folder (no config.json)" in err
  assert str(not_a_run) in err
  with pytest.raises(errors.RunDirectoryError, match="not a folder"):
    compare.load_run(str(tmp_path / "missing"))


def test_different_environments_in_one_group(tmp_path, capsys):
  dirs = [_single(tmp_path / "cartpole", 0),
          _single(tmp_path / "acrobot", 0, env="Acrobot-v1")]
  err = _bad(capsys, tmp_path, *dirs, "--group-by", "agent")
  assert "different environments (Acrobot-v1: 1 seed, CartPole-v1: 1 seed)" \
      in err
  assert "--group-by agent env" in err
  with pytest.raises(errors.ConfigError, match="different environments"):
    compare.group_curves(compare.load_runs(dirs), ["agent", "config"])


def test_no_folders(tmp_path, capsys):
  err = _bad(capsys, tmp_path)
  assert "No run folders given" in err
  with pytest.raises(errors.ConfigError, match="No run folders given"):
    compare.compare([])


def test_unknown_grouping_key(tmp_path, capsys):
  err = _bad(capsys, tmp_path, _single(tmp_path / "ok", 0), "--group-by",
             "agent", "lr")
  assert "Unknown grouping key 'lr'" in err


def test_a_seed_without_any_finished_episode(tmp_path):
  run = _write_run(tmp_path / "r", "dqn", "CartPole-v1", "anakin",
                   [{"seed": 0, "env_steps": 100, "mean_return_10": 1.0},
                    {"seed": 1, "env_steps": 100,
                     "mean_return_10": float("nan")}], num_seeds=2)
  with pytest.raises(errors.RunDirectoryError,
                     match="Seed 1 of .* has no finite mean_return_10"):
    compare.load_run(run)


def test_output_stem():
  assert compare.output_stem("figs/cmp.PNG") == "figs/cmp"
  assert compare.output_stem("figs/cmp.svg") == "figs/cmp"
  assert compare.output_stem("figs/cmp") == "figs/cmp"
  assert compare.output_stem("figs/cmp.v2") == "figs/cmp.v2"
