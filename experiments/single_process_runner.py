"""The single-process runner: any agent, `num_envs` gymnasium environments,
one actor and one learner in one process, interleaved through replay.

Each step the actor acts on every environment's observation at once (the
agent's batched policy), the environments step, and the adder for the
agent's replay kind (n-step transitions, or whole rollouts) inserts what
became complete. The learner then takes one update for every sample the
replay allows: a SampleToInsertRatio limiter for transitions (Reverb's, or
the same rule on the host for the device buffer; learning starts at the
agent's min_size), or one update per rollout in the queue. Inserts never
block, so the single thread cannot deadlock (see replay/tables.py).

Nothing here depends on the agent: it talks to `building_blocks.agent`'s
contract and to the `ReplayBackend` protocol only.
"""
from __future__ import annotations

import collections
import dataclasses
import os
import sys
import time
from typing import Any

import jax
import numpy as np

import agents
from building_blocks import actor as actor_lib
from building_blocks import agent as agent_lib
from building_blocks import errors
from building_blocks import learner as learner_lib
from building_blocks import optional_deps
from envs import gymnasium_adapter
from experiments import checkpointing
from experiments import evaluation
from experiments import plotting
from experiments import run_folder
from experiments import run_logs
from experiments import stopping
from replay import backends
from replay import dataset
from replay import vector_adders

RETURN_WINDOW = 10
EVAL_SEED_OFFSET = 1_000_003
ENV_SEED_STRIDE = 10_007


def check(config: Any) -> None:
  """What can still be refused before a folder is written, once the config
  is validated and its replay resolved: the environment id, the
  agent/environment pair and the replay port."""
  if config.resume:
    return
  env = gymnasium_adapter.make_environment(config.env)
  try:
    build_agent(config, gymnasium_adapter.make_environment_spec(env))
  finally:
    env.close()
  if config.replay_port and config.replay == "reverb":
    from replay import server as server_lib  # pylint: disable=g-import-not-at-top
    server_lib.check_port_free(config.replay_port)


def resolve_replay(config: Any) -> Any:
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


def build_agent(config: Any, spec: Any) -> agent_lib.Agent:
  """The registered agent `config.agent`, made for environment `spec` and
  this run's length and runner settings (`RunInfo`)."""
  entry = agents.get(config.agent)
  run = agent_lib.RunInfo(num_envs=config.runner_setting("num_envs"),
                          rollout_length=config.runner_setting("rollout_length"),
                          total_env_steps=config.total_steps())
  try:
    return entry.make_agent(config.agent_config(), spec, run)
  except errors.IncompatibleEnvironmentError as e:
    raise errors.IncompatibleEnvironmentError(f"{config.env}: {e}") from None


def example_batch(agent: agent_lib.Agent, example_item: Any) -> Any:
  """A batch shaped like what replay's `sample()` returns for this agent:
  `batch_size` transitions with their probabilities and table size, or one
  rollout."""
  if agent.replay.kind == "rollouts":
    return dataset.ReplayBatch(np.zeros(1, np.uint64), np.ones(1, np.float32),
                               np.ones(1, np.int32), example_item)
  size = agent.replay.batch_size
  data = jax.tree_util.tree_map(
      lambda x: np.zeros((size,) + np.shape(x), np.asarray(x).dtype),
      example_item)
  return dataset.ReplayBatch(np.zeros(size, np.uint64),
                             np.full(size, 1.0 / size, np.float32),
                             np.full(size, size, np.int32), data)


def _env_rng_state(env: gymnasium_adapter.GymnasiumEnvironment) -> Any:
  return env.gym_env.unwrapped.np_random.bit_generator.state


def _set_env_rng_state(env: gymnasium_adapter.GymnasiumEnvironment,
                       state: Any) -> None:
  env.reset()  # Marks the env as seeded so later resets keep this RNG.
  env.gym_env.unwrapped.np_random.bit_generator.state = state


class _Run:
  """The pieces of one run and the bookkeeping between steps."""

  def __init__(self, config: Any, run_dir: str, resuming: bool,
               start_time: float):
    self.config = config
    self.run_dir = run_dir
    self.start_time = start_time
    self.num_envs = config.runner_setting("num_envs")
    self.rollout_length = config.runner_setting("rollout_length")
    self.envs = [gymnasium_adapter.make_environment(
        config.env, seed=config.seed + ENV_SEED_STRIDE * i)
                 for i in range(self.num_envs)]
    self.eval_envs = evaluation.make_envs(
        config.env, config.seed + EVAL_SEED_OFFSET, config.eval_episodes)
    spec = gymnasium_adapter.make_environment_spec(self.envs[0])
    self.agent = build_agent(config, spec)

    keys = jax.random.split(jax.random.PRNGKey(config.seed), 3)
    # Its own key, so the other keys stay what they are with Reverb.
    replay_key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 7)
    example = vector_adders.example_item(self.agent, spec, self.num_envs,
                                         self.rollout_length)
    self.replay = backends.make_replay(
        self.agent.replay, example, config.replay, checkpoint_dir=os.path.join(run_dir, "replay"),
        key=replay_key, port=config.replay_port)
    self.learner = learner_lib.Learner(self.agent, self.replay, keys[0])
    self.actor = actor_lib.Actor(self.agent.policy, keys[1])
    self.eval_actor = actor_lib.Actor(self.agent.policy, keys[2],
                                      evaluation=True)
    self.adder = vector_adders.make_adder(self.agent.replay, self.num_envs,
                                          self.rollout_length,
                                          self.replay.insert)
    self.counts = {"env_steps": 0, "episodes": 0, "learner_steps": 0}
    self.recent_returns: collections.deque[float] = collections.deque(
        maxlen=RETURN_WINDOW)
    self.best_mean = -np.inf
    # The update's metrics, known from the first update on. Episode rows
    # logged before it wait in `pending_rows` and are written then, with
    # blank metrics, so the CSV header has every column from its first row
    # (finding the names by tracing the update costs ~0.3 s at start-up).
    self.last_metrics: dict[str, Any] | None = None
    self.pending_rows: list[dict[str, Any]] = []
    self.checkpointer = checkpointing.Checkpointer(
        os.path.join(run_dir, "checkpoints"))
    if resuming:
      self._restore()
    # The update compiles while the actor starts acting.
    self.learner.warm_up(example_batch(self.agent, example))
    try:
      self.logs = run_logs.for_config(
          config, run_dir,
          resume_from_step=self.counts["env_steps"] if resuming else None)
    except BaseException:
      self.close()  # e.g. W&B could not start: stop the replay server
      raise

  def _restore(self) -> None:
    state, meta = self.checkpointer.restore(self.learner.save())
    self.learner.restore(state)
    self.counts = {k: int(v) for k, v in meta["counts"].items()}
    self.learner.num_steps = self.counts["learner_steps"]
    for env, rng in zip(self.envs, meta["env_rngs"]):
      _set_env_rng_state(env, rng)
    self.actor.rng_key = np.asarray(meta["actor_key"], np.uint32)
    self.recent_returns.extend(meta.get("recent_returns", []))
    self.replay.max_priority = meta.get("max_priority", 1.0)

  def checkpoint(self) -> None:
    """Saves learner, counters, RNGs and (optionally) the replay."""
    self.flush_rows()  # every row up to the checkpoint is on disk
    step = self.counts["env_steps"]
    meta = {
        "counts": dict(self.counts),
        "actor_key": np.asarray(jax.device_get(self.actor.rng_key)).tolist(),
        "env_rngs": [_env_rng_state(env) for env in self.envs],
        "recent_returns": list(self.recent_returns),
        "max_priority": float(self.replay.max_priority),
        "wall_time": time.time(),
    }
    if self.checkpointer.latest_step() != step:
      self.checkpointer.save(step, self.learner.save(), meta)
    if self.config.replay_checkpoint:
      self.replay.checkpoint()

  def log_train(self, row: dict[str, Any]) -> None:
    """Writes a training row with the latest update's metrics (held back
    until the first update, see `pending_rows`)."""
    if self.last_metrics is None:
      self.pending_rows.append(row)
      return
    self.flush_rows()
    self.logs.train({**row, **{k: float(v)
                               for k, v in self.last_metrics.items()}})

  def flush_rows(self) -> None:
    """Writes the rows held back before the first update (blank metrics)."""
    names = list(self.last_metrics or {})
    for row in self.pending_rows:
      self.logs.train({**row, **dict.fromkeys(names)})
    self.pending_rows = []

  def evaluate(self, should_stop=None) -> float | None:
    """Mean return of eval_episodes episodes of the evaluation policy
    (experiments/evaluation.py); None if stopped first. Logged at the
    current env step."""
    returns = evaluation.run_episodes(self.eval_actor, self.learner.params,
                                      self.eval_envs, self.counts["env_steps"],
                                      should_stop)
    if returns is None:
      return None
    result = evaluation.row(self.counts["env_steps"], returns)
    self.logs.evaluation({**result, "wall_time": time.time() - self.start_time})
    return result["eval_mean_return"]

  def close(self) -> None:
    """Closes logs and replay; each step runs even if one fails."""
    logs = getattr(self, "logs", None)  # None if they failed to open
    closers = [logs.close] if logs is not None else []
    for closer in closers + [self.checkpointer.close, self.replay.close] + [
        env.close for env in self.envs + self.eval_envs]:
      try:
        closer()
      except Exception:  # pylint: disable=broad-except
        pass


def run(config: Any, start_time: float | None = None
        ) -> run_folder.RunSummary:
  """Trains `config.agent` on `config.env`; returns the run's summary.

  Raises RelayError subclasses for bad input, MissingDependencyError when
  the replay asked for (`config.replay`) is not installed. On Ctrl-C (see
  StopRequest) it saves a checkpoint, closes logs, stops the replay and
  raises KeyboardInterrupt carrying the summary.
  """
  start_time = time.time() if start_time is None else start_time
  if config.resume:
    config, run_dir = run_folder.load_for_resume(config, "single")
    resuming = True
  else:
    config.validate()
    config = resolve_replay(config)
    check(config)
    config, run_dir = run_folder.create(config)
    resuming = False
  run_ = _Run(config, run_dir, resuming, start_time)
  print(f"Run folder {run_dir}; {run_.replay.description}", flush=True)
  if resuming:
    print(f"Restored step {run_.counts['env_steps']} (learner step "
          f"{run_.counts['learner_steps']}) from {run_.checkpointer.directory};"
          f" Restored replay with {run_.replay.size()} items.", flush=True)
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  num_steps = config.total_steps()
  bar = tqdm(total=num_steps, initial=run_.counts["env_steps"], unit="step",
             disable=not config.progress, dynamic_ncols=True, mininterval=0.5)
  outcome: dict[str, Any] = {"steps_to_target": None, "seconds_to_target": None}
  interrupted = False
  final_eval = None
  plot_path = None
  first_step = run_.counts["env_steps"]
  try:
    with stopping.StopRequest() as stop:
      try:
        interrupted, final_eval = _train(run_, config, bar, stop, start_time,
                                         outcome)
        if not interrupted and final_eval is None:
          final_eval = run_.evaluate(should_stop=stop)
          interrupted = final_eval is None
      except KeyboardInterrupt:  # a second Ctrl-C, or SIGINT off the main thread
        interrupted = True
      bar.close()
      if interrupted:
        print("Interrupted: saving a checkpoint, closing logs, stopping the "
              "replay...", file=sys.stderr, flush=True)
        run_.adder.reset()  # the cut-off episodes are dropped
      run_.checkpoint()
      plot_path = plotting.plot_learning_curve(
          run_.logs.train_csv, run_.logs.eval_csv,
          os.path.join(run_dir, "learning_curve.png"),
          title=f"{config.agent} on {config.env} (seed {config.seed})",
          target=config.stop_at_return)
  finally:
    bar.close()
    run_.close()
  wall = time.time() - start_time
  steps = run_.counts["env_steps"]
  summary = run_folder.RunSummary(
      run_dir=run_dir, runner="single", agent=config.agent, env=config.env,
      num_seeds=1, env_steps=steps,
      final_mean_return=[float(np.mean(run_.recent_returns))
                         if run_.recent_returns else None],
      final_eval_return=[final_eval],
      steps_to_target=(None if config.stop_at_return is None
                       else [outcome["steps_to_target"]]),
      seconds_to_target=outcome["seconds_to_target"], wall_seconds=wall,
      steps_per_second=(steps - first_step) / max(wall, 1e-9),
      interrupted=interrupted, plot_path=plot_path,
      checkpoint_dir=run_.checkpointer.directory,
      extra={"episodes": run_.counts["episodes"],
             "learner_steps": run_.counts["learner_steps"],
             "best_mean_return": float(run_.best_mean),
             "replay": config.replay})
  summary.write()
  if interrupted:
    raise KeyboardInterrupt(summary)
  return summary


def _train(run_: _Run, config: Any, bar: Any, stop: stopping.StopRequest,
           start_time: float, outcome: dict[str, Any]
           ) -> tuple[bool, float | None]:
  """The training loop: steps, updates, logging, evaluation, checkpoints.
  Returns (stopped by Ctrl-C, evaluation return at the final step or
  None when the final step was not evaluated)."""
  num_steps = config.total_steps()
  counts = run_.counts
  first_step = counts["env_steps"]
  next_eval = _next_multiple(first_step, config.eval_every)
  next_ckpt = _next_multiple(first_step, config.checkpoint_every)
  loop_start = time.time()
  envs, actor, learner, replay, adder = (run_.envs, run_.actor, run_.learner,
                                         run_.replay, run_.adder)
  timesteps = [env.reset() for env in envs]
  adder.start(timesteps)
  observations = np.stack([t.observation for t in timesteps])
  episode_returns = np.zeros(len(envs))
  episode_lengths = np.zeros(len(envs), np.int64)
  last_eval_step, last_eval = -1, None
  while counts["env_steps"] < num_steps:
    actions, extras = actor.select(learner.params, observations,
                                   counts["env_steps"])
    timesteps = [env.step(a) for env, a in zip(envs, actions)]
    restarts = [env.reset() if t.last() else None
                for env, t in zip(envs, timesteps)]
    adder.add(actions, extras, timesteps, restarts)
    counts["env_steps"] += len(envs)
    updates = 0
    while replay.ready():
      run_.last_metrics = learner.step()
      updates += 1
    counts["learner_steps"] += updates
    observations = np.stack([
        (r if r is not None else t).observation
        for t, r in zip(timesteps, restarts)])
    finished = False
    for i, timestep in enumerate(timesteps):
      episode_returns[i] += float(timestep.reward)
      episode_lengths[i] += 1
      if timestep.last():
        finished = True
        _log_episode(run_, bar, float(episode_returns[i]),
                     int(episode_lengths[i]), first_step, loop_start,
                     start_time)
        episode_returns[i] = 0.0
        episode_lengths[i] = 0
    if not finished:
      if stop():
        return True, None
      continue
    target = config.stop_at_return
    mean = float(np.mean(run_.recent_returns))
    if (target is not None and len(run_.recent_returns) == RETURN_WINDOW and
        mean >= target):
      steps = counts["env_steps"]
      outcome["steps_to_target"] = steps
      outcome["seconds_to_target"] = time.time() - start_time
      bar.write(f"Reached a {RETURN_WINDOW}-episode mean return of "
                f"{mean:.1f} >= {target} at step {steps}, "
                f"{outcome['seconds_to_target']:.1f} s after launch.")
      return False, None
    if stop():
      return True, None
    steps = counts["env_steps"]
    if config.eval_every and steps >= next_eval:
      next_eval = _next_multiple(steps, config.eval_every)
      last_eval = run_.evaluate(should_stop=stop)
      if last_eval is None:
        return True, None
      last_eval_step = steps
      bar.write(f"step {steps}: evaluation mean return {last_eval:.1f}")
    if config.checkpoint_every and steps >= next_ckpt:
      next_ckpt = _next_multiple(steps, config.checkpoint_every)
      run_.checkpoint()
  # The last step was evaluated already: that is the final evaluation.
  final = last_eval if last_eval_step == counts["env_steps"] else None
  return stop(), final


def _log_episode(run_: _Run, bar: Any, episode_return: float, length: int,
                 first_step: int, loop_start: float, start_time: float) -> None:
  counts = run_.counts
  counts["episodes"] += 1
  run_.recent_returns.append(episode_return)
  mean = float(np.mean(run_.recent_returns))
  if len(run_.recent_returns) == RETURN_WINDOW:
    run_.best_mean = max(run_.best_mean, mean)
  steps = counts["env_steps"]
  sps = (steps - first_step) / max(time.time() - loop_start, 1e-9)
  run_.log_train({
      "seed": run_.config.seed,
      "env_steps": steps,
      "episodes": counts["episodes"],
      "learner_steps": counts["learner_steps"],
      "episode_return": episode_return,
      "episode_length": length,
      "mean_return_10": mean,
      "steps_per_second": sps,
      "wall_time": time.time() - start_time,
  })
  bar.update(steps - bar.n)
  bar.set_postfix(ret=f"{episode_return:.0f}", mean10=f"{mean:.1f}",
                  sps=f"{sps:.0f}", refresh=False)


def _next_multiple(step: int, every: int) -> int:
  return (step // every + 1) * every if every else 1 << 62
