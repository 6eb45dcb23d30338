"""python -m experiments.watch: episodes of a trained agent rendered to a
GIF or an MP4 (one frame per observation: an episode of L steps gives
L + 1 frames), and clear errors for bad input."""
from __future__ import annotations

import os
import re
import shutil
import sys

import pytest

from experiments import config as config_lib
from experiments import single_process_runner
from experiments import watch

EPISODE_LINE = re.compile(r"^episode (\d+): return (\S+), (\d+) steps$",
                          re.MULTILINE)


@pytest.fixture(autouse=True)
def _no_display(monkeypatch):
  monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")  # what watch.main sets


@pytest.fixture(scope="module")
def dqn_run(tmp_path_factory) -> str:
  """A tiny DQN CartPole run (single process, device replay) with its final
  checkpoint."""
  run_dir = tmp_path_factory.mktemp("watch") / "run"
  config = config_lib.default_config(
      "dqn", "CartPole-v1", "single", num_steps=2000, eval_every=0,
      eval_episodes=1, replay="device", progress=False, tensorboard=False,
      compilation_cache_dir="", run_dir=str(run_dir))
  return single_process_runner.run(config).run_dir


def _watch(capsys, *args: str) -> tuple[int, str, str]:
  code = watch.main(list(args))
  captured = capsys.readouterr()
  return code, captured.out, captured.err


def _episodes(out: str) -> list[tuple[float, int]]:
  return [(float(r), int(n)) for _, r, n in EPISODE_LINE.findall(out)]


def test_gif_has_one_frame_per_observation_of_each_episode(dqn_run, tmp_path,
                                                           capsys):
  pytest.importorskip("pygame")
  from PIL import Image  # pylint: disable=g-import-not-at-top
  gif = tmp_path / "out" / "cartpole.gif"
  code, out, err = _watch(capsys, dqn_run, "--out", str(gif), "--episodes",
                          "2", "--seed", "3")
  assert code == 0, err
  episodes = _episodes(out)
  assert len(episodes) == 2
  assert f"to {gif}" in out
  with Image.open(gif) as image:
    frames = image.n_frames
    width, height = image.size
  assert frames == sum(length + 1 for _, length in episodes)
  # CartPole pays 1 per step: the printed returns are the episodes' lengths.
  assert [r for r, _ in episodes] == [float(n) for _, n in episodes]
  assert width % 2 == 0 and height == 400 + watch.CAPTION_HEIGHT


def test_mp4_has_one_frame_per_observation(dqn_run, tmp_path, capsys):
  pytest.importorskip("pygame")
  imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
  mp4 = tmp_path / "cartpole.mp4"
  code, out, err = _watch(capsys, dqn_run, "--out", str(mp4))
  assert code == 0, err
  [(_, length)] = _episodes(out)
  assert imageio_ffmpeg.count_frames_and_secs(str(mp4))[0] == length + 1


def test_an_all_on_accelerator_run_picks_its_seed(tmp_path, capsys):
  pytest.importorskip("pygame")
  from experiments import anakin_runner  # pylint: disable=g-import-not-at-top
  config = config_lib.default_config(
      "ppo", "CartPole-v1", "anakin", num_seeds=2, num_steps=1024,
      eval_every=0, eval_episodes=0, progress=False, tensorboard=False,
      compilation_cache_dir="", run_dir=str(tmp_path / "run"))
  run_dir = anakin_runner.run(config).run_dir
  code, out, err = _watch(capsys, run_dir, "--run-seed", "1")
  assert code == 0, err
  assert len(_episodes(out)) == 1
  assert os.path.isfile(os.path.join(run_dir, "watch.gif"))
  code, _, err = _watch(capsys, run_dir, "--run-seed", "2")
  assert code == watch.EXIT_BAD_INPUT
  assert "--run-seed 2 is not a seed" in err and "--run-seed 0 to 1" in err


def test_a_folder_that_is_not_a_run(tmp_path, capsys):
  code, _, err = _watch(capsys, str(tmp_path))
  assert code == watch.EXIT_BAD_INPUT
  assert "not a Relay run folder" in err


def test_a_run_without_a_checkpoint(dqn_run, tmp_path, capsys):
  run_dir = tmp_path / "no-checkpoint"
  run_dir.mkdir()
  shutil.copy(os.path.join(dqn_run, "config.json"), run_dir)
  code, _, err = _watch(capsys, str(run_dir))
  assert code == watch.EXIT_BAD_INPUT
  assert "has no checkpoint" in err
  assert os.listdir(run_dir) == ["config.json"]  # nothing written


def test_a_jax_native_environment_without_a_renderer(tmp_path, capsys):
  run_dir = tmp_path / "catch"
  os.makedirs(run_dir / "checkpoints" / "100")
  config = config_lib.default_config("dqn", "Catch-bsuite", "anakin")
  (run_dir / "config.json").write_text(config.to_json())
  code, _, err = _watch(capsys, str(run_dir))
  assert code == watch.EXIT_BAD_INPUT
  assert "Cannot render Catch-bsuite" in err and "CartPole-v1" in err


@pytest.mark.parametrize("args, needle", [
    (["--out", "episode.avi"], "must end in .gif or .mp4"),
    (["--episodes", "0"], "--episodes must be >= 1"),
    (["--run-seed", "1"], "--run-seed 1 is not a seed"),
])
def test_bad_arguments(dqn_run, capsys, args, needle):
  code, _, err = _watch(capsys, dqn_run, *args)
  assert code == watch.EXIT_BAD_INPUT
  assert needle in err


def test_missing_packages_say_which_extra(dqn_run, tmp_path, monkeypatch,
                                          capsys):
  monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
  code, _, err = _watch(capsys, dqn_run, "--out", str(tmp_path / "a.mp4"))
  assert code == watch.EXIT_BAD_INPUT
  assert "Writing MP4 needs imageio-ffmpeg" in err and ".[watch]" in err
  monkeypatch.setitem(sys.modules, "pygame", None)  # CartPole draws with it
  code, _, err = _watch(capsys, dqn_run, "--out", str(tmp_path / "a.gif"))
  assert code == watch.EXIT_BAD_INPUT
  assert "pygame" in err and ".[watch]" in err
  assert not os.listdir(tmp_path)  # nothing written
