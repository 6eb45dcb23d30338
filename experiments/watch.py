"""Watch a trained agent: render episodes of a run folder's agent to a GIF
or an MP4.

  python -m experiments.watch RUN_DIR [--out FILE.gif|FILE.mp4]
      [--episodes N] [--seed S] [--run-seed I] [--fps F]

Reads the run's config.json and its latest checkpoint (any runner; for an
all-on-accelerator run with several seeds, the agent of seed `--run-seed`,
0 by default), makes the run's environment with gymnasium's
`render_mode="rgb_array"`, plays `--episodes` episodes with the agent's
evaluation policy (what the runners evaluate: greedy for the value-based
agents) and writes every frame to `--out` (default RUN_DIR/watch.gif). It
prints each episode's return and length, then the file's path.

The frames: each episode gives the frame of its first observation and one
frame per step, so an episode of L steps gives L + 1 frames, and the file
holds the episodes one after another (sum of (L + 1) frames). A caption
under each frame names the episode, the step and the return so far, so no
two consecutive frames are the same (a GIF merges identical consecutive
frames into one).

A JAX-native environment is rendered through the gymnasium environment of
the same id (CartPole-v1, Acrobot-v1, ... have the same dynamics); a
JAX-native id that gymnasium does not know (Catch-bsuite,
MinAtar/Breakout-v1) has no renderer, which is an error. GIFs are written
with Pillow (matplotlib's dependency); MP4 needs imageio and its ffmpeg
plugin, and the classic-control environments draw with pygame: the
`watch` extra installs all three.

Bad input (not a run folder, a run without a checkpoint, a seed the run
does not have, an environment without a renderer, an unknown output
format, a missing package) exits with code 2 and a message, before any
file is written.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Any, Callable, Sequence

EXIT_OK = 0
EXIT_BAD_INPUT = 2
FORMATS = (".gif", ".mp4")
CAPTION_HEIGHT = 18


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
  """The command line of `python -m experiments.watch` (see --help)."""
  parser = argparse.ArgumentParser(
      prog="python -m experiments.watch",
      description="Render episodes of a trained agent (a run folder's latest "
      "checkpoint, evaluation policy) to a GIF or an MP4.")
  parser.add_argument("run_dir", metavar="RUN_DIR",
                      help="a run folder (what experiments.train printed)")
  parser.add_argument("--out", default=None,
                      help="the video to write, .gif or .mp4 (MP4 needs the "
                      "watch extra); default: RUN_DIR/watch.gif")
  parser.add_argument("--episodes", type=int, default=1,
                      help="episodes to play (default 1)")
  parser.add_argument("--seed", type=int, default=0,
                      help="seeds the environment's resets and the policy's "
                      "randomness (default 0)")
  parser.add_argument("--run-seed", type=int, default=0,
                      help="which seed of an all-on-accelerator run with "
                      "--num-seeds > 1 to watch (default 0)")
  parser.add_argument("--fps", type=float, default=None,
                      help="frames per second of the video (default: the "
                      "environment's render_fps, else 30)")
  return parser.parse_args(argv)


def load_run(run_dir: str) -> tuple[Any, int]:
  """The run's config and the step of its latest checkpoint; raises
  RunDirectoryError for a folder that is not a run or has no checkpoint."""
  from building_blocks import errors
  from experiments import config as config_lib
  from experiments import run_folder
  path = os.path.join(run_dir, run_folder.CONFIG_FILE)
  if not os.path.isfile(path):
    raise errors.RunDirectoryError(
        f"{run_dir!r} is not a Relay run folder (no {run_folder.CONFIG_FILE})."
        " Pass the folder a run printed (runs/<agent>-<env>-...).")
  try:
    config = config_lib.from_json_file(path)
  except (errors.ConfigError, TypeError) as e:
    raise errors.RunDirectoryError(
        f"Cannot watch {run_dir!r}: its {run_folder.CONFIG_FILE} is not a "
        f"valid run config ({e}).") from e
  step = _latest_checkpoint(run_dir)
  if step is None:
    raise errors.RunDirectoryError(
        f"Cannot watch {run_dir!r}: it has no checkpoint (the run stopped "
        "before its first one), so there is no trained agent to load.")
  return config, step


def _latest_checkpoint(run_dir: str) -> int | None:
  """The step of the run's latest complete checkpoint, None if none (orbax
  names each complete step's folder by its step)."""
  directory = os.path.join(run_dir, "checkpoints")
  if not os.path.isdir(directory):
    return None
  steps = [int(name) for name in os.listdir(directory) if name.isdigit()]
  return max(steps) if steps else None


def make_render_env(env_id: str, seed: int) -> Any:
  """The environment `env_id` rendering rgb_array frames, as a dm_env
  (GymnasiumEnvironment, first reset seeded with `seed`)."""
  import gymnasium as gym
  from building_blocks import errors
  from envs import gymnasium_adapter
  from envs import jax_envs
  if env_id not in gym.registry:
    if env_id in jax_envs.registered_ids():
      raise errors.IncompatibleEnvironmentError(
          f"Cannot render {env_id}: it is a JAX-native environment, which has "
          "no renderer, and gymnasium has no environment of that id to draw "
          "it with. Renderable JAX-native ids (drawn by their gymnasium "
          "twins): "
          + ", ".join(i for i in jax_envs.registered_ids() if i in gym.registry)
          + ".")
    gymnasium_adapter.make_environment(env_id)  # says which ids come close
  try:
    gym_env = gym.make(env_id, render_mode="rgb_array")
  except gym.error.DependencyNotInstalled as e:
    raise _missing_renderer(env_id, e) from e
  if gym_env.render_mode != "rgb_array":
    gym_env.close()
    raise errors.IncompatibleEnvironmentError(
        f"Cannot render {env_id}: it has no rgb_array render mode (its "
        f"modes: {gym_env.metadata.get('render_modes', [])}).")
  return gymnasium_adapter.GymnasiumEnvironment(gym_env, seed=seed)


def _missing_renderer(env_id: str, cause: Exception) -> Exception:
  from building_blocks import optional_deps
  return optional_deps.MissingDependencyError(
      f"Rendering {env_id} needs a package that is not installed: {cause}\n"
      "Relay's 'watch' extra installs pygame (the classic-control "
      "environments draw with it), imageio and imageio-ffmpeg:\n"
      "  .venv-core/bin/pip install -c constraints-core.txt -e '.[watch]'\n"
      "  (Python 3.11 with Reverb: .venv/bin/pip install "
      "-c constraints-reverb.txt -e '.[watch]')")


def load_policy(config: Any, run_dir: str, spec: Any, run_seed: int
                ) -> tuple[Any, Any]:
  """(agent, parameters) of the run's latest checkpoint: the agent built as
  the run's runner built it, the parameters of seed `run_seed` for an
  all-on-accelerator run."""
  import jax
  import numpy as np
  from building_blocks import errors
  from building_blocks import learner as learner_lib
  from experiments import checkpointing
  if not 0 <= run_seed < config.num_seeds:
    raise errors.ConfigError(
        f"--run-seed {run_seed} is not a seed of {run_dir!r}: it trained "
        f"{config.num_seeds} seed{'s' if config.num_seeds > 1 else ''} "
        f"(--run-seed 0{f' to {config.num_seeds - 1}' if config.num_seeds > 1 else ''}).")
  key = jax.random.PRNGKey(0)
  if config.runner == "anakin":
    from experiments import anakin_program as program
    env = program.make_environment(config)
    agent = program.build_agent(config, env, program.make_plan(config))
    shapes = jax.eval_shape(agent.init, key)
    template = jax.tree_util.tree_map(
        lambda s: np.zeros((config.num_seeds,) + s.shape, s.dtype), shapes)
  else:
    from experiments import single_process_runner
    agent = single_process_runner.build_agent(config, spec)
    shapes = jax.eval_shape(
        lambda k: learner_lib.LearnerState(agent.init(k), k), key)
    template = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype),
                                      shapes)
  checkpointer = checkpointing.Checkpointer(os.path.join(run_dir,
                                                         "checkpoints"))
  try:
    state, _ = checkpointer.restore(template)
  finally:
    checkpointer.close()
  if config.runner == "anakin":
    params = jax.tree_util.tree_map(lambda x: np.asarray(x)[run_seed],
                                    state.params)
  else:
    params = state.agent.params
  return agent, params


def _caption(frame: Any, text: str) -> Any:
  """The frame with a white strip below it holding `text`, its height and
  width rounded up to even numbers (what H.264 video needs)."""
  import numpy as np
  from PIL import Image, ImageDraw
  frame = np.asarray(frame, np.uint8)
  height, width = frame.shape[:2]
  out_height = height + CAPTION_HEIGHT
  out_height += out_height % 2
  image = Image.new("RGB", (width + width % 2, out_height), "white")
  image.paste(Image.fromarray(frame[..., :3]), (0, 0))
  ImageDraw.Draw(image).text((4, height + 3), text, fill="black")
  return np.asarray(image)


class _GifWriter:
  """Collects frames (as palette images) and writes the GIF at the end.

  The first frame's colours are reduced to a 256-colour palette (median
  cut) and every later frame is mapped onto that palette: about 1 ms a
  frame instead of about 30 ms for a median cut of each frame (a 600x400
  CartPole frame), and a rendered episode's colours hardly change."""

  def __init__(self, path: str, fps: float):
    self._path = path
    self._duration_ms = max(10, int(round(1000 / fps)))
    self._frames: list[Any] = []

  def append(self, frame: Any) -> None:
    from PIL import Image
    image = Image.fromarray(frame)
    if not self._frames:
      self._frames.append(image.quantize(method=Image.Quantize.MEDIANCUT))
    else:
      self._frames.append(image.quantize(palette=self._frames[0],
                                         dither=Image.Dither.NONE))

  def close(self) -> None:
    if self._frames:
      first, *rest = self._frames
      first.save(self._path, save_all=True, append_images=rest,
                 duration=self._duration_ms, loop=0)
    self._frames = []


class _Mp4Writer:
  """Streams frames to an H.264 MP4 through imageio's ffmpeg plugin."""

  def __init__(self, path: str, fps: float):
    imageio = _import_mp4_writer()
    self._writer = imageio.get_writer(path, format="FFMPEG", mode="I",
                                      fps=fps, macro_block_size=2)
    self._started = False

  def append(self, frame: Any) -> None:
    if self._started:
      self._writer.append_data(frame)
      return
    # The first frame starts ffmpeg (fork and exec, in C): JAX's warning
    # about forking a multithreaded process does not apply to it.
    with warnings.catch_warnings():
      warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called",
                              category=RuntimeWarning)
      self._writer.append_data(frame)
    self._started = True

  def close(self) -> None:
    self._writer.close()


def _import_mp4_writer() -> Any:
  """imageio.v2, after checking its ffmpeg plugin is installed."""
  from building_blocks import optional_deps
  optional_deps.import_for_watch("imageio_ffmpeg", "Writing MP4",
                                 "imageio-ffmpeg")
  return optional_deps.import_for_watch("imageio.v2", "Writing MP4",
                                        "imageio")


def play(env: Any, select: Callable[[Any], Any], episodes: int,
         on_frame: Callable[[Any, int, int, float], None]
         ) -> list[tuple[float, int]]:
  """Plays `episodes` episodes of `env` (a GymnasiumEnvironment with
  render_mode "rgb_array"), acting with `select(observation)`; calls
  `on_frame(frame, episode, step, return so far)` for the first frame of
  each episode and after every step. Returns (return, length) per
  episode."""
  results = []
  for episode in range(episodes):
    timestep = env.reset()
    total, length = 0.0, 0
    on_frame(_render(env), episode, length, total)
    while not timestep.last():
      timestep = env.step(select(timestep.observation))
      total += float(timestep.reward)
      length += 1
      on_frame(_render(env), episode, length, total)
    results.append((total, length))
  return results


def _render(env: Any) -> Any:
  import gymnasium as gym
  try:
    frame = env.gym_env.render()
  except gym.error.DependencyNotInstalled as e:
    raise _missing_renderer(env.gym_env.spec.id, e) from e
  if frame is None:
    from building_blocks import errors
    raise errors.IncompatibleEnvironmentError(
        f"{env.gym_env.spec.id} returned no frame from render().")
  return frame


def watch(run_dir: str, out: str | None = None, episodes: int = 1,
          seed: int = 0, run_seed: int = 0, fps: float | None = None
          ) -> tuple[str, list[tuple[float, int]], int]:
  """Renders `episodes` episodes of the run's agent to `out`; returns (the
  path written, (return, length) per episode, frames written). Raises
  RelayError or MissingDependencyError for bad input, before writing."""
  import jax
  from building_blocks import actor as actor_lib
  from building_blocks import errors
  from envs import gymnasium_adapter
  out = out or os.path.join(run_dir, "watch.gif")
  suffix = os.path.splitext(out)[1].lower()
  if suffix not in FORMATS:
    raise errors.ConfigError(
        f"--out {out!r}: the video must end in .gif or .mp4.")
  if episodes < 1:
    raise errors.ConfigError(f"--episodes must be >= 1, got {episodes}.")
  if fps is not None and not fps > 0:
    raise errors.ConfigError(f"--fps must be > 0, got {fps}.")
  if suffix == ".mp4":
    _import_mp4_writer()
  config, step = load_run(run_dir)
  env = make_render_env(config.env, seed)
  writer = None
  try:
    spec = gymnasium_adapter.make_environment_spec(env)
    agent, params = load_policy(config, run_dir, spec, run_seed)
    actor = actor_lib.Actor(agent.policy, jax.random.PRNGKey(seed),
                            evaluation=True)
    fps = fps or float(env.gym_env.metadata.get("render_fps") or 30)
    frames = 0

    def on_frame(frame, episode, length, total):
      nonlocal frames, writer
      if writer is None:  # at the first frame: a failed render writes nothing
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        writer = (_Mp4Writer if suffix == ".mp4" else _GifWriter)(out, fps)
      writer.append(_caption(
          frame, f"{config.env}  episode {episode + 1}/{episodes}  "
          f"step {length}  return {total:g}"))
      frames += 1

    def select(observation):
      action, _ = actor.select(params, observation[None], step)
      return action[0]

    results = play(env, select, episodes, on_frame)
  finally:
    if writer is not None:
      writer.close()
    env.close()
  return out, results, frames


def main(argv: Sequence[str] | None = None) -> int:
  """`python -m experiments.watch RUN_DIR`: renders episodes of the run's
  latest checkpoint; returns the exit code."""
  args = parse_args(argv)
  # The command draws off-screen: SDL (pygame) needs no display then, and
  # does not complain about a missing XDG_RUNTIME_DIR.
  os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
  from building_blocks import errors
  from building_blocks import optional_deps
  try:
    path, results, frames = watch(args.run_dir, args.out, args.episodes,
                                  args.seed, args.run_seed, args.fps)
  except (errors.RelayError, optional_deps.MissingDependencyError) as e:
    print(f"error: {e}", file=sys.stderr)
    return EXIT_BAD_INPUT
  for i, (total, length) in enumerate(results):
    print(f"episode {i + 1}: return {total:g}, {length} steps")
  print(f"Wrote {frames} frames ({len(results)} episode"
        f"{'s' if len(results) > 1 else ''}) to {path}")
  return EXIT_OK


if __name__ == "__main__":
  sys.exit(main())
