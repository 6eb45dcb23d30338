"""The single-process runner: one actor and one learner in one process,
interleaved through a replay rate limiter.

After every environment step the actor's experience goes to replay: the
in-process Reverb table, or a flashbax buffer in device memory
(replay/device_replay.py) where Reverb is not installed or `--replay device`
asks for it. The learner then takes one update for every full batch that
is ready. A SampleToInsertRatio limiter (Reverb's, or the same rule
computed on the host for the device buffer) decides when a batch may be
sampled (learning starts at `min_replay_size`, then samples/inserts stays
near `samples_per_insert`); inserts never block, so the single thread
cannot deadlock (see replay/tables.py).
"""
from __future__ import annotations

import collections
import dataclasses
import datetime
import json
import os
import signal
import sys
import threading
import time
from typing import Any

import jax
import numpy as np

from agents import AGENTS
from building_blocks import core
from building_blocks import counting
from building_blocks import environment_loop
from building_blocks import errors
from building_blocks import optional_deps
from envs import gymnasium_adapter
from experiments import checkpointing
from experiments import config as config_lib
from experiments import loggers as loggers_lib
from experiments import plotting
from replay import device_replay
from replay import server as server_lib

RETURN_WINDOW = 10


class LearningActor(core.Actor):
  """Wraps the training actor: after each observed step, the learner takes
  one update per batch the replay iterator has ready."""

  def __init__(self, actor: core.Actor, learner: core.Learner, iterator: Any,
               counter: counting.Counter):
    self._actor = actor
    self._learner = learner
    self._iterator = iterator
    self._counter = counter
    self.last_metrics: dict[str, float] = {}

  def select_action(self, observation):
    return self._actor.select_action(observation)

  def observe_first(self, timestep):
    self._actor.observe_first(timestep)

  def observe(self, action, next_timestep):
    self._actor.observe(action, next_timestep)
    steps = 0
    while self._iterator.ready():
      self.last_metrics = self._learner.step()
      steps += 1
    if steps:
      self._counter.increment(learner_steps=steps)

  def update(self, wait: bool = False):
    self._actor.update(wait)


class StopRequest:
  """Turns Ctrl-C into a request to stop at the next safe point.

  The first SIGINT only sets `requested`: the run finishes the current
  environment step, logs every finished episode and then checkpoints, so
  counters, logs and checkpoint always agree. A second SIGINT raises
  KeyboardInterrupt at once. Outside the main thread (where Python cannot
  install handlers) SIGINT keeps its default behaviour.
  """

  def __init__(self):
    self.requested = False
    self._previous: Any = None

  def _handle(self, signum: int, frame: Any) -> None:
    del signum, frame
    if self.requested:
      raise KeyboardInterrupt
    self.requested = True

  def __call__(self) -> bool:
    return self.requested

  def __enter__(self) -> "StopRequest":
    if threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGINT, self._handle)
    return self

  def __exit__(self, *exc: Any) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGINT, self._previous)
      self._previous = None


@dataclasses.dataclass
class RunResult:
  """What a finished (or interrupted) run reports."""
  run_dir: str
  actor_steps: int
  episodes: int
  final_eval_return: float | None
  best_mean_return: float
  steps_to_target: int | None
  seconds_to_target: float | None
  interrupted: bool
  plot_path: str | None
  checkpoint_dir: str
  wall_seconds: float


def _prepare_run_dir(config: config_lib.ExperimentConfig
                     ) -> tuple[config_lib.ExperimentConfig, str, bool]:
  """Returns (config, run_dir, resuming). Never reuses an existing folder
  for a new run; a resume reads the folder's own config.json (whose replay
  backend `_resolve_replay` recorded, so a resume refills the same kind of
  replay)."""
  if config.resume:
    run_dir = config.resume
    config_path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(config_path):
      raise errors.RunDirectoryError(
          f"Cannot resume {run_dir!r}: it has no config.json, so it is not a "
          "Relay run folder.")
    saved = config_lib.ExperimentConfig.from_json_file(config_path)
    if config.num_steps is not None:
      saved.num_steps = config.num_steps
    saved.resume = run_dir
    saved.progress = config.progress
    saved.replay_port = config.replay_port
    saved.validate()
    return _resolve_replay(saved), run_dir, True
  now = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
  run_dir = config.run_dir or config_lib.default_run_dir(config, now)
  if os.path.exists(run_dir):
    raise errors.RunDirectoryError(
        f"Run folder {run_dir!r} exists already; Relay never overwrites a run. "
        f"Continue it with --resume {run_dir}, or choose another --run-dir.")
  os.makedirs(run_dir)
  config = dataclasses.replace(config, run_dir=run_dir)
  with open(os.path.join(run_dir, "config.json"), "w") as f:
    f.write(config.to_json())
  return config, run_dir, False


def _resolve_replay(config: config_lib.ExperimentConfig
                    ) -> config_lib.ExperimentConfig:
  """Turns replay="auto" into "reverb" or "device" (what config.json then
  records); raises MissingDependencyError for "reverb" without Reverb, and
  ConfigError for a replay port without the Reverb server."""
  config = dataclasses.replace(
      config, replay=optional_deps.resolve_replay_backend(config.replay))
  if config.replay_port and config.replay != "reverb":
    raise errors.ConfigError(
        f"--replay-port {config.replay_port} needs the Reverb replay server, "
        f"but this run's replay is {config.replay!r} (in device memory: no "
        "server, no port). Drop --replay-port, or pass --replay reverb.")
  return config


def enable_compilation_cache(directory: str) -> None:
  """Turns on JAX's persistent compilation cache in `directory`, for every
  program however quick to compile (a CPU run compiles a dozen small ones)."""
  if not directory:
    return
  jax.config.update("jax_compilation_cache_dir", os.path.expanduser(directory))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def _preflight(config: config_lib.ExperimentConfig) -> None:
  """Checks the environment id, agent/env compatibility and the port before
  anything is written, so a rejected run leaves no folder behind."""
  if config.resume:
    return
  env = gymnasium_adapter.make_environment(config.env)
  try:
    _, builder_cls = AGENTS[config.agent]
    builder_cls(config.agent_config()).check_environment(
        gymnasium_adapter.make_environment_spec(env), config.env)
  finally:
    env.close()
  if config.replay_port and config.replay == "reverb":
    server_lib.check_port_free(config.replay_port)


def _env_rng_state(env: gymnasium_adapter.GymnasiumEnvironment) -> Any:
  return env.gym_env.unwrapped.np_random.bit_generator.state


def _set_env_rng_state(env: gymnasium_adapter.GymnasiumEnvironment,
                       state: Any) -> None:
  env.reset()  # Marks the env as seeded so later resets keep this RNG.
  env.gym_env.unwrapped.np_random.bit_generator.state = state


class _Run:
  """The pieces of one run and the bookkeeping between episodes."""

  def __init__(self, config: config_lib.ExperimentConfig, run_dir: str,
               resuming: bool, start_time: float):
    self.config = config
    self.run_dir = run_dir
    self.start_time = start_time
    _, builder_cls = AGENTS[config.agent]
    self.builder = builder_cls(config.agent_config())
    self.env = gymnasium_adapter.make_environment(config.env, seed=config.seed)
    self.eval_env = gymnasium_adapter.make_environment(
        config.env, seed=config.seed + 1_000_003)
    self.spec = gymnasium_adapter.make_environment_spec(self.env)
    self.builder.check_environment(self.spec, config.env)

    keys = jax.random.split(jax.random.PRNGKey(config.seed), 3)
    networks = self.builder.make_networks(self.spec)
    replay_dir = os.path.join(run_dir, "replay")
    if config.replay == "reverb":
      # Inserts must never block: the learner, on the same thread, could
      # not run to unblock them (see replay/tables.py).
      tables = self.builder.make_replay_tables(self.spec, block_inserts=False)
      self.server = server_lib.ReplayServer(
          tables, port=config.replay_port, checkpoint_dir=replay_dir)
    else:
      # Its own key, so the other keys stay what they are with Reverb.
      replay_key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 7)
      self.server = self.builder.make_device_replay(
          self.spec, key=replay_key, checkpoint_dir=replay_dir)
    self.iterator = self.builder.make_dataset_iterator(self.server)
    self.learner = self.builder.make_learner(networks, self.iterator,
                                             self.server, self.spec, keys[0])
    self.adder = self.builder.make_adder(self.server, self.learner)
    self.counter = counting.Counter()
    self.recent_returns: collections.deque[float] = collections.deque(
        maxlen=RETURN_WINDOW)
    self.best_mean = -np.inf
    self.checkpointer = checkpointing.Checkpointer(
        os.path.join(run_dir, "checkpoints"))
    initial_step = 0
    actor_key = keys[1]
    if resuming:
      initial_step, actor_key = self._restore()
    self.actor = self.builder.make_actor(networks, self.learner, actor_key,
                                         adder=self.adder,
                                         initial_step=initial_step)
    self.eval_actor = self.builder.make_actor(networks, self.learner, keys[2],
                                              evaluation=True)
    self.train_actor = LearningActor(self.actor, self.learner, self.iterator,
                                     self.counter)
    logs = os.path.join(run_dir, "logs")
    self.train_csv = os.path.join(logs, "train.csv")
    self.eval_csv = os.path.join(logs, "eval.csv")
    train_loggers: list[core.Logger] = [loggers_lib.CSVLogger(self.train_csv)]
    eval_loggers: list[core.Logger] = [loggers_lib.CSVLogger(self.eval_csv)]
    if config.tensorboard:
      tb_dir = os.path.join(run_dir, "tensorboard")
      train_loggers.append(loggers_lib.TensorBoardLogger(tb_dir, "train",
                                                         "actor_steps"))
      eval_loggers.append(loggers_lib.TensorBoardLogger(tb_dir, "eval",
                                                        "actor_steps"))
    self.train_logger = loggers_lib.MultiLogger(train_loggers)
    self.eval_logger = loggers_lib.MultiLogger(eval_loggers)
    self.train_loop = environment_loop.EnvironmentLoop(
        self.env, self.train_actor, self.counter, label="actor")
    self.eval_loop = environment_loop.EnvironmentLoop(
        self.eval_env, self.eval_actor, counting.Counter(), label="eval")

  def _restore(self) -> tuple[int, Any]:
    learner_state, meta = self.checkpointer.restore(self.learner.save())
    self.learner.restore(learner_state)
    self.learner.max_priority = meta.get("max_priority", 1.0)
    self.counter = counting.Counter(meta["counts"])
    _set_env_rng_state(self.env, meta["env_rng"])
    self.recent_returns.extend(meta.get("recent_returns", []))
    return int(meta["actor_step"]), np.asarray(meta["actor_key"], np.uint32)

  def checkpoint(self) -> None:
    """Saves learner, counters, RNGs and (optionally) the replay table."""
    counts = self.counter.get_counts()
    step = counts.get("actor_steps", 0)
    meta = {
        "counts": counts,
        "actor_step": self.actor.num_steps,
        "actor_key": np.asarray(self.actor.rng_key).tolist(),
        "env_rng": _env_rng_state(self.env),
        "recent_returns": list(self.recent_returns),
        "max_priority": getattr(self.learner, "max_priority", 1.0),
        "wall_time": time.time(),
    }
    if self.checkpointer.latest_step() != step:
      self.checkpointer.save(step, self.learner.save(), meta)
    if self.config.replay_checkpoint:
      self.adder.flush()
      self.server.checkpoint()

  def replay_description(self) -> str:
    if isinstance(self.server, device_replay.DeviceReplay):
      return (f"replay in {jax.default_backend()} device memory "
              "(flashbax buffer)")
    return f"Replay server on {self.server.address}"

  def replay_items(self) -> int:
    """Items in replay now."""
    if isinstance(self.server, device_replay.DeviceReplay):
      return self.server.size()
    # The server's own tables: after a restore from a checkpoint they are
    # not the Python table objects it was built with.
    info = self.server.client.server_info()
    return sum(table.current_size for table in info.values())

  def learner_metrics(self) -> dict[str, float]:
    return {k: float(v) for k, v in self.train_actor.last_metrics.items()}

  def evaluate(self, should_stop=None) -> float | None:
    """Mean return of the evaluation episodes; None if stopped first."""
    results = self.eval_loop.run(num_episodes=self.config.eval_episodes,
                                 should_stop=should_stop)
    if len(results) < self.config.eval_episodes:
      return None
    mean = environment_loop.mean_return(results)
    self.eval_logger.write({
        "actor_steps": self.counter.get("actor_steps"),
        "eval_mean_return": mean,
        "eval_min_return": min(r["episode_return"] for r in results),
        "eval_max_return": max(r["episode_return"] for r in results),
        "wall_time": time.time() - self.start_time,
    })
    return mean

  def close(self) -> None:
    """Closes loggers and stops the server; each step runs even if one fails."""
    for closer in (self.train_logger.close, self.eval_logger.close,
                   self.checkpointer.close, self.iterator.close,
                   self.server.stop,
                   self.env.close, self.eval_env.close):
      try:
        closer()
      except Exception:  # pylint: disable=broad-except
        pass


def run_experiment(config: config_lib.ExperimentConfig,
                   start_time: float | None = None) -> RunResult:
  """Trains `config.agent` on `config.env`; returns where everything went.

  Raises RelayError subclasses for bad input, MissingDependencyError when
  the replay asked for (`config.replay`) is not installed. On Ctrl-C (see
  StopRequest) it saves a checkpoint, closes logs, stops the replay and
  raises KeyboardInterrupt carrying the RunResult.
  """
  start_time = time.time() if start_time is None else start_time
  config.validate()
  enable_compilation_cache(config.compilation_cache_dir)
  if not config.resume:
    config = _resolve_replay(config)
  _preflight(config)
  config, run_dir, resuming = _prepare_run_dir(config)
  run = _Run(config, run_dir, resuming, start_time)
  print(f"Run folder {run_dir}; {run.replay_description()}", flush=True)
  if resuming:
    items = run.replay_items()
    print(f"Restored step {run.counter.get('actor_steps')} (learner step "
          f"{run.counter.get('learner_steps')}) from {run.checkpointer.directory};"
          f" Restored replay with {items} items.", flush=True)
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  counts = run.counter.get_counts()
  num_steps = config.total_steps()
  bar = tqdm(total=num_steps, initial=counts.get("actor_steps", 0),
             unit="step", disable=not config.progress, dynamic_ncols=True,
             mininterval=0.5)
  outcome: dict[str, Any] = {"steps_to_target": None, "seconds_to_target": None}
  interrupted = False
  final_eval = None
  plot_path = None
  try:
    with StopRequest() as stop:
      try:
        interrupted = _train(run, config, bar, stop, start_time, outcome)
        if not interrupted:
          final_eval = run.evaluate(should_stop=stop)
          interrupted = final_eval is None
      except KeyboardInterrupt:  # a second Ctrl-C, or SIGINT off the main thread
        interrupted = True
      bar.close()
      if interrupted:
        print("Interrupted: saving a checkpoint, closing logs, stopping the "
              "replay server...", file=sys.stderr, flush=True)
        run.adder.reset()  # the cut-off episode is dropped
      run.checkpoint()
      plot_path = plotting.plot_learning_curve(
          run.train_csv, run.eval_csv,
          os.path.join(run_dir, "learning_curve.png"),
          title=f"{config.agent} on {config.env} (seed {config.seed})")
  finally:
    bar.close()
    run.close()
  result = RunResult(
      run_dir=run_dir, actor_steps=run.counter.get("actor_steps"),
      episodes=run.counter.get("actor_episodes"),
      final_eval_return=final_eval, best_mean_return=float(run.best_mean),
      steps_to_target=outcome["steps_to_target"],
      seconds_to_target=outcome["seconds_to_target"],
      interrupted=interrupted, plot_path=plot_path,
      checkpoint_dir=run.checkpointer.directory,
      wall_seconds=time.time() - start_time)
  with open(os.path.join(run_dir, "result.json"), "w") as f:
    json.dump(dataclasses.asdict(result), f, indent=2)
  if interrupted:
    raise KeyboardInterrupt(result)
  return result


def _train(run: _Run, config: config_lib.ExperimentConfig, bar: Any,
           stop: StopRequest, start_time: float, outcome: dict[str, Any]) -> bool:
  """The training loop: episodes, logging, evaluation, checkpoints.
  Returns True when a stop was requested (Ctrl-C)."""
  num_steps = config.total_steps()
  first_step = run.counter.get("actor_steps")
  next_eval = _next_multiple(first_step, config.eval_every)
  next_ckpt = _next_multiple(first_step, config.checkpoint_every)
  loop_start = time.time()
  while run.counter.get("actor_steps") < num_steps:
    result = run.train_loop.run_episode(should_stop=stop)
    if result is None:
      return True
    steps = result["actor_steps"]
    run.recent_returns.append(result["episode_return"])
    mean = float(np.mean(run.recent_returns))
    if len(run.recent_returns) == RETURN_WINDOW:
      run.best_mean = max(run.best_mean, mean)
    sps = (steps - first_step) / max(time.time() - loop_start, 1e-9)
    run.train_logger.write({
        "actor_steps": steps,
        "actor_episodes": result["actor_episodes"],
        "learner_steps": run.counter.get("learner_steps"),
        "episode_return": result["episode_return"],
        "episode_length": result["episode_length"],
        "mean_return_10": mean,
        "steps_per_second": sps,
        "wall_time": time.time() - start_time,
        **run.learner_metrics(),
    })
    bar.update(steps - bar.n)
    bar.set_postfix(ret=f"{result['episode_return']:.0f}",
                    mean10=f"{mean:.1f}", sps=f"{sps:.0f}", refresh=False)
    target = config.stop_at_return
    if (target is not None and len(run.recent_returns) == RETURN_WINDOW and
        mean >= target):
      outcome["steps_to_target"] = steps
      outcome["seconds_to_target"] = time.time() - start_time
      bar.write(f"Reached a {RETURN_WINDOW}-episode mean return of "
                f"{mean:.1f} >= {target} at step {steps}, "
                f"{outcome['seconds_to_target']:.1f} s after launch.")
      return False
    if stop():
      return True
    if config.eval_every and steps >= next_eval:
      next_eval = _next_multiple(steps, config.eval_every)
      mean_eval = run.evaluate(should_stop=stop)
      if mean_eval is None:
        return True
      bar.write(f"step {steps}: evaluation mean return {mean_eval:.1f}")
    if config.checkpoint_every and steps >= next_ckpt:
      next_ckpt = _next_multiple(steps, config.checkpoint_every)
      run.checkpoint()
  return stop()


def _next_multiple(step: int, every: int) -> int:
  return (step // every + 1) * every if every else 1 << 62
