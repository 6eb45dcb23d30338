"""The distributed runner: one agent's replay server, learner, actors and
evaluator as separate Ray processes, on this machine or on a Ray cluster.

  python -m experiments.train --runner distributed --agent dqn --env CartPole-v1 --num-actors 4

The launcher (this module, in the calling process) starts Ray (or joins a
cluster), starts the processes of experiments/distributed/, and then only
watches: it logs the episodes the actors report (logs/train.csv, one row
per episode, every step once), asks the evaluator for an evaluation every
`eval_every` steps, shows one progress display, restarts a process that
died (Ray's `max_restarts`; the learner and the replay server restore their
checkpoints in their constructors, an actor re-syncs to the latest
parameters), and stops every process at the step budget, at
`--stop-at-return`, on Ctrl-C or when a process keeps failing. It leaves the
same run folder as the other runners.

Nothing here depends on the agent: every process runs the agent contract.
"""
from __future__ import annotations

import collections
import math
import os
import re
import sys
import time
import traceback
from typing import Any

import numpy as np

from building_blocks import errors
from experiments import plotting
from experiments import run_folder
from experiments import run_logs
from experiments import single_process_runner
from experiments import stopping
from experiments.distributed import coordinator as coordinator_lib
from experiments.distributed import ray_cluster
from experiments.distributed import replay_server
from experiments.distributed import workers

RETURN_WINDOW = 10
POLL_SECONDS = 0.2
# How long a restarting learner may take to come back before the run fails.
RESTART_SECONDS = 120.0
# Actors and the evaluator use the CPU (the learner alone owns an
# accelerator, and nobody preallocates accelerator memory).
# Their XLA runs single-threaded: their programs are tiny, and several
# processes each with a thread pool per core would fight over the cores.
CPU_ENV = {"JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": "",
           "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
           "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false "
                        "intra_op_parallelism_threads=1"}
LEARNER_ENV = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


def worker_env(base: dict[str, str], config: Any) -> dict[str, str]:
  """`base` plus JAX's persistent compilation cache of the run
  (--compilation-cache-dir), which the CLI sets only in its own process:
  each worker's JAX reads it from these variables, so a second launch of
  the same config skips the workers' compilation as the launcher does."""
  if not config.compilation_cache_dir:
    return dict(base)
  return {**base,
          "JAX_COMPILATION_CACHE_DIR":
              os.path.expanduser(config.compilation_cache_dir),
          "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}


class ProcessFailedError(errors.RelayError):
  """A process of a distributed run kept crashing."""


def check(config: Any) -> list[str]:
  """Refuses what can be refused before anything is written; returns
  warnings to print."""
  single_process_runner.check(config)  # env, agent, a busy --replay-port
  warnings = []
  if config.ray_address:
    host, _ = ray_cluster.split_address(config.ray_address)
    if (config.replay == "reverb" and not ray_cluster.is_loopback(host)
        and not config.listen_beyond_loopback):
      raise errors.ConfigError(
          f"--ray-address {config.ray_address} is another machine: the Reverb "
          "replay server would listen on every interface of the node it runs "
          "on. Pass --listen-beyond-loopback to allow that, or --replay "
          "device (the replay then travels only over Ray's own connections).")
  cpus = os.cpu_count() or 1
  wanted = config.num_actors + 1  # actors and the learner
  if not config.ray_address and wanted > cpus:
    warnings.append(
        f"warning: {config.num_actors} actors and a learner want {wanted} "
        f"cores; this machine has {cpus}. They will share them (throughput "
        "per actor drops); --num-actors "
        f"{max(1, cpus - 1)} fits.")
  return warnings


def _budget(config: Any) -> int:
  """The step budget, rounded up to whole vector steps."""
  num_envs = config.runner_setting("num_envs")
  return int(math.ceil(config.total_steps() / num_envs) * num_envs)


class _Processes:
  """Handles of the run's processes, and how to (re)start their loops."""

  def __init__(self, ray: Any, config: Any, run_dir: str, agent: Any,
               example: Any, counts: dict[str, int]):
    self.ray = ray
    config_json = config.to_json()
    self.config_json = config_json
    restarts = config.max_restarts
    cpu_env = worker_env(CPU_ENV, config)
    learner_env = worker_env(LEARNER_ENV, config)

    def remote(cls: type, env: dict[str, str], num_cpus: int = 0,
               **kw: Any) -> Any:
      return ray.remote(cls).options(num_cpus=num_cpus,
                                     runtime_env={"env_vars": env}, **kw)

    self.coordinator = ray.remote(coordinator_lib.Coordinator).options(
        num_cpus=0).remote(_budget(config), config.runner_setting("num_envs"),
                           counts.get("env_steps", 0), counts.get("episodes", 0),
                           counts.get("learner_steps", 0))
    self.server = remote(replay_server.ReplayServer, cpu_env,
                         max_restarts=restarts, max_task_retries=-1).remote(
        agent.replay, example, config.replay,
        os.path.join(run_dir, "replay") if config.replay_checkpoint else None,
        config.seed, config.num_actors, config.replay_port)
    try:  # a server that cannot start (a busy port) fails the run here
      self.replay_info = ray.get(self.server.info.remote())
    except ray.exceptions.RayActorError as e:
      raise errors.ConfigError(
          f"The replay server could not start: {_error_text(e)}") from None
    # The learner and each actor hold one (logical) CPU, and actors spread
    # over the cluster's nodes; the rest are light and take none.
    self.learner = remote(workers.LearnerWorker, learner_env,
                          max_restarts=restarts, num_cpus=1).remote(
        config_json, self.coordinator, self.server, run_dir,
        config.publish_every)
    self.actor_cls = remote(workers.ActorWorker, cpu_env, max_restarts=0,
                            num_cpus=1, scheduling_strategy="SPREAD")
    self.actors = {i: self.actor_cls.remote(config_json, i, self.coordinator,
                                            self.server)
                   for i in range(config.num_actors)}
    self.evaluator = remote(workers.EvaluatorWorker, cpu_env,
                            max_restarts=restarts).remote(config_json)
    self.loops: dict[str, Any] = {}
    self.restarts: collections.Counter[str] = collections.Counter()

  def start_loops(self) -> None:
    self.loops["learner"] = self.learner.run.remote()
    for i, actor in self.actors.items():
      self.loops[f"actor{i}"] = actor.run.remote()

  def restart(self, name: str) -> None:
    """Starts `name`'s loop again (an actor in a new process)."""
    self.restarts[name] += 1
    if name == "learner":  # Ray restarts the process; it restores itself
      self._wait_until_restarted(self.learner)
      self.loops[name] = self.learner.run.remote()
      return
    i = int(name[len("actor"):])
    self.ray.get(self.coordinator.actor_lost.remote(i))
    try:
      self.ray.kill(self.actors[i])
    except Exception:  # pylint: disable=broad-except
      pass
    self.actors[i] = self.actor_cls.remote(
        self.config_json, i, self.coordinator, self.server,
        self.restarts[name])
    self.loops[name] = self.actors[i].run.remote()

  def _wait_until_restarted(self, handle: Any) -> None:
    """Waits while Ray restarts `handle`'s process (its constructor restores
    the last checkpoint and compiles: seconds, longer on a loaded machine):
    a call made meanwhile fails with ActorUnavailableError, which must not
    count as another crash. A process that cannot come back raises, and
    that counts."""
    deadline = time.monotonic() + RESTART_SECONDS
    while True:
      try:
        self.ray.get(handle.__ray_ready__.remote())
        return
      except self.ray.exceptions.ActorUnavailableError:
        if time.monotonic() > deadline:
          raise
        time.sleep(0.5)

  def server_stats(self) -> dict[str, Any] | None:
    """The replay server's counters; None while it restarts."""
    try:
      return self.ray.get(self.server.stats.remote(), timeout=1.0)
    except Exception:  # pylint: disable=broad-except
      return None

  def kill_all(self) -> None:
    handles = [self.learner, self.server, self.evaluator, self.coordinator,
               *self.actors.values()]
    for handle in handles:
      try:
        self.ray.kill(handle)
      except Exception:  # pylint: disable=broad-except
        pass


def run(config: Any, start_time: float | None = None
        ) -> run_folder.RunSummary:
  """Trains `config.agent` on `config.env` with `config.num_actors` actor
  processes; returns the run's summary. Raises RelayError subclasses for
  bad input (before anything is written), MissingDependencyError without
  Ray, ProcessFailedError when a process crashed more than
  `config.max_restarts` times (its traceback in the message), and
  KeyboardInterrupt carrying the summary after Ctrl-C (every process
  stopped, checkpoint and logs written)."""
  start_time = time.time() if start_time is None else start_time
  resume_counts = None
  if config.resume:
    config, run_dir = run_folder.load_for_resume(config, "distributed")
    resume_counts = _checkpoint_counts(run_dir)
  else:
    config.validate()
    config = single_process_runner.resolve_replay(config)
  # Locally, at least one logical CPU per actor and one for the learner
  # (they may share the physical cores: check() warns).
  cluster = ray_cluster.RayCluster(  # raises if Ray is not installed
      config.ray_address,
      num_cpus=max(os.cpu_count() or 1, config.num_actors + 1))
  if config.ray_address:
    ray_cluster.check_reachable(config.ray_address)
  if not config.resume:
    for warning in check(config):
      print(warning, file=sys.stderr, flush=True)
    config, run_dir = run_folder.create(config)
  env = single_process_runner.gymnasium_adapter.make_environment(config.env)
  spec = single_process_runner.gymnasium_adapter.make_environment_spec(env)
  env.close()
  agent = single_process_runner.build_agent(config, spec)
  example = workers.vector_adders.example_item(
      agent, spec, config.runner_setting("num_envs"),
      config.runner_setting("rollout_length"))
  cluster.start()
  processes = None
  failed = True  # until the run ends normally or by Ctrl-C
  logs = None
  try:
    logs = run_logs.for_config(
        config, run_dir,
        resume_from_step=None if resume_counts is None
        else resume_counts["env_steps"])
    processes = _Processes(cluster.ray, config, run_dir, agent, example,
                           resume_counts or {})
    print(f"Run folder {run_dir}; Ray "
          f"{'at ' + config.ray_address if config.ray_address else 'local, loopback only'}"
          f" ({cluster.cpus():.0f} CPUs); {config.num_actors} actors x "
          f"{config.runner_setting('num_envs')} environments; replay "
          f"{config.replay}", flush=True)
    if resume_counts is not None:
      print(f"Resumed at step {resume_counts['env_steps']} (learner step "
            f"{resume_counts['learner_steps']}); replay "
            f"{'restored with ' + str(processes.replay_info['size']) + ' items' if processes.replay_info['restored'] else 'empty'}.",
            flush=True)
    summary = _watch(cluster.ray, config, run_dir, processes, logs,
                     start_time, resume_counts)
    failed = False
    return summary
  except KeyboardInterrupt:
    failed = False
    raise
  finally:
    if logs is not None:
      logs.close()
    if processes is not None:
      processes.kill_all()
    kept = cluster.stop(keep_logs=failed)
    if kept:
      print(f"Ray's logs of this run are in {kept}", file=sys.stderr)


def _checkpoint_counts(run_dir: str) -> dict[str, int]:
  """The counters of the run folder's latest checkpoint."""
  from experiments import checkpointing  # pylint: disable=g-import-not-at-top
  checkpointer = checkpointing.Checkpointer(os.path.join(run_dir,
                                                         "checkpoints"))
  try:
    if checkpointer.latest_step() is None:
      raise errors.RunDirectoryError(
          f"Cannot resume {run_dir!r}: it has no checkpoint yet (the run "
          "stopped before its first). Start a new run instead.")
    return {k: int(v) for k, v in checkpointer.metadata()["counts"].items()}
  finally:
    checkpointer.close()


def _recent_returns(train_csv: str) -> list[float]:
  """The last RETURN_WINDOW episode returns logged (a resumed run's
  10-episode mean continues from them)."""
  import csv  # pylint: disable=g-import-not-at-top
  if not os.path.exists(train_csv):
    return []
  with open(train_csv, newline="") as f:
    rows = list(csv.DictReader(f))
  return [float(r["episode_return"]) for r in rows[-RETURN_WINDOW:]]


def _watch(ray: Any, config: Any, run_dir: str, processes: _Processes,
           logs: run_logs.RunLogs, start_time: float,
           resume_counts: dict[str, int] | None) -> run_folder.RunSummary:
  """The launcher's loop; see the module docstring."""
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  budget = _budget(config)
  first_step = (resume_counts or {}).get("env_steps", 0)
  bar = tqdm(total=budget, initial=first_step, unit="step",
             disable=not config.progress, dynamic_ncols=True, mininterval=0.5)
  coordinator = processes.coordinator
  recent: collections.deque[float] = collections.deque(
      _recent_returns(logs.train_csv), maxlen=RETURN_WINDOW)
  pending_rows: list[dict[str, Any]] = []
  metric_names: list[str] | None = None
  outcome = {"steps_to_target": None, "seconds_to_target": None}
  best_mean = -np.inf
  next_eval = ((first_step // config.eval_every + 1) * config.eval_every
               if config.eval_every else None)
  # Evaluations asked for and not yet collected, oldest first: each eval
  # point gets the parameters of its time, even while the evaluator is
  # still busy with an earlier one (the evaluator runs them in order).
  eval_calls: collections.deque[Any] = collections.deque()
  last_eval = None
  last_eval_step = -1
  interrupted = False
  snapshot: dict[str, Any] = {}
  replay_rates = _Rates()
  processes.start_loops()
  loop_start = time.time()

  def write_rows(rows: list[dict[str, Any]], metrics: dict[str, float]) -> None:
    for row in rows:
      logs.train({**row, **{k: metrics.get(k) for k in metric_names or []}})

  def log_episodes(snapshot: dict[str, Any]) -> None:
    """Logs the episodes the actors reported since the last poll (held
    back until the learner's metric names are known)."""
    nonlocal metric_names, pending_rows, best_mean
    metrics = snapshot["metrics"]
    if metric_names is None and metrics:
      metric_names = sorted(metrics)
      write_rows(pending_rows, {})
      pending_rows = []
    rows = []
    for episode in snapshot["episodes"]:
      recent.append(episode["episode_return"])
      mean = float(np.mean(recent))
      if len(recent) == RETURN_WINDOW:
        best_mean = max(best_mean, mean)
      rows.append({"seed": config.seed, **episode, "mean_return_10": mean,
                   "param_lag": snapshot["param_lag"],
                   "steps_per_second": (episode["env_steps"] - first_step)
                                       / max(time.time() - loop_start, 1e-9),
                   "wall_time": time.time() - start_time})
      if (config.stop_at_return is not None and
          outcome["steps_to_target"] is None and
          len(recent) == RETURN_WINDOW and mean >= config.stop_at_return):
        outcome["steps_to_target"] = episode["env_steps"]
        outcome["seconds_to_target"] = time.time() - start_time
        bar.write(f"Reached a {RETURN_WINDOW}-episode mean return of "
                  f"{mean:.1f} >= {config.stop_at_return} at step "
                  f"{episode['env_steps']}, "
                  f"{outcome['seconds_to_target']:.1f} s after launch.")
        ray.get(coordinator.request_stop.remote())
    if metric_names is None:
      pending_rows.extend(rows)
    else:
      write_rows(rows, metrics)

  def collect_eval(call: Any) -> None:
    nonlocal last_eval, last_eval_step
    result = ray.get(call)
    if not result:
      return  # the parameters were lost with a dead learner
    result["wall_time"] = time.time() - start_time
    logs.evaluation(result)
    last_eval, last_eval_step = result["eval_mean_return"], result["env_steps"]
    bar.write(f"step {result['env_steps']}: evaluation mean return "
              f"{last_eval:.1f}")

  with stopping.StopRequest() as stop:
    try:
      while processes.loops:
        done, _ = ray.wait(list(processes.loops.values()),
                           num_returns=len(processes.loops),
                           timeout=POLL_SECONDS)
        for name in [n for n, ref in processes.loops.items() if ref in done]:
          ref = processes.loops.pop(name)
          try:
            ray.get(ref)
          except Exception as e:  # pylint: disable=broad-except
            if processes.restarts[name] >= config.max_restarts:
              ray.get(coordinator.request_stop.remote())
              raise ProcessFailedError(
                  f"{name} crashed {processes.restarts[name] + 1} times "
                  f"(--max-restarts {config.max_restarts}); the run stopped. "
                  f"Its last error:\n{_error_text(e)}") from None
            bar.write(f"{name} crashed ({type(e).__name__}); restarting it "
                      f"({processes.restarts[name] + 1} of "
                      f"{config.max_restarts})")
            processes.restart(name)
        snapshot = ray.get(coordinator.poll.remote())
        steps = snapshot["counts"]["env_steps"]
        log_episodes(snapshot)
        bar.update(steps - bar.n)
        replay_stats = replay_rates.update(processes.server_stats())
        bar.set_postfix_str(_progress_text(snapshot, recent, last_eval,
                                           replay_stats), refresh=False)
        while eval_calls and ray.wait([eval_calls[0]], timeout=0)[0]:
          collect_eval(eval_calls.popleft())
        if (next_eval is not None and steps >= next_eval
            and not snapshot["finished"]):
          next_eval = (steps // config.eval_every + 1) * config.eval_every
          _, _, ref = ray.get(coordinator.latest_params.remote())
          eval_calls.append(processes.evaluator.evaluate.remote(ref, steps))
        if stop() and not interrupted:
          interrupted = True
          bar.write("Interrupted: stopping every process, saving a "
                    "checkpoint, closing logs...")
          ray.get(coordinator.request_stop.remote())
    except KeyboardInterrupt:
      interrupted = True
      ray.get(coordinator.request_stop.remote())
      ray.wait(list(processes.loops.values()),
               num_returns=len(processes.loops), timeout=30)
    bar.close()
    # Interrupted: only the evaluations already done (Ctrl-C must not wait).
    while eval_calls and (not interrupted or
                          ray.wait([eval_calls[0]], timeout=0)[0]):
      collect_eval(eval_calls.popleft())
    ray.get(processes.learner.final_checkpoint.remote())
    # Every process has stopped: the last episodes, then the rows the
    # learner's metrics never arrived for (a very short run).
    snapshot = ray.get(coordinator.poll.remote())
    log_episodes(snapshot)
    write_rows(pending_rows, {})
    steps = snapshot["counts"]["env_steps"]
    final_eval = None
    if not interrupted:
      if last_eval_step == steps:
        final_eval = last_eval
      else:
        _, _, ref = ray.get(coordinator.latest_params.remote())
        collect_eval(processes.evaluator.evaluate.remote(ref, steps))
        final_eval = last_eval
    plot_path = plotting.plot_learning_curve(
        logs.train_csv, logs.eval_csv,
        os.path.join(run_dir, "learning_curve.png"),
        title=f"{config.agent} on {config.env} ({config.num_actors} actors, "
              f"seed {config.seed})", target=config.stop_at_return)
  wall = time.time() - start_time
  summary = run_folder.RunSummary(
      run_dir=run_dir, runner="distributed", agent=config.agent,
      env=config.env, num_seeds=1, env_steps=steps,
      final_mean_return=[float(np.mean(recent)) if recent else None],
      final_eval_return=[final_eval],
      steps_to_target=(None if config.stop_at_return is None
                       else [outcome["steps_to_target"]]),
      seconds_to_target=outcome["seconds_to_target"], wall_seconds=wall,
      steps_per_second=(steps - first_step) / max(wall, 1e-9),
      interrupted=interrupted,
      plot_path=plot_path,
      checkpoint_dir=os.path.join(run_dir, "checkpoints"),
      extra={"episodes": snapshot["counts"]["episodes"],
             "learner_steps": snapshot["counts"]["learner_steps"],
             "best_mean_return": float(best_mean),
             "replay": config.replay, "num_actors": config.num_actors,
             "restarts": dict(processes.restarts),
             "mean_param_lag": snapshot.get("param_lag"),
             "replay_stats": replay_rates.latest,
             "learner": snapshot.get("learner", {}),
             "actors": {str(k): v for k, v in snapshot.get("actors", {}).items()}})
  summary.write()
  if interrupted:
    raise KeyboardInterrupt(summary)
  return summary


class _Rates:
  """Insert and sample rates of the replay server, from its counters."""

  def __init__(self):
    self._last: tuple[float, dict[str, Any]] | None = None
    self.latest: dict[str, float] = {}

  def update(self, stats: dict[str, Any] | None) -> dict[str, float]:
    if not stats:
      return self.latest
    now = time.time()
    if self._last is not None and now > self._last[0]:
      dt = now - self._last[0]
      self.latest = {
          "size": stats["size"],
          "inserts_per_second": (stats["inserted"] - self._last[1]["inserted"]) / dt,
          "samples_per_second": (stats["sampled_batches"]
                                 - self._last[1]["sampled_batches"]) / dt,
          "inserted": stats["inserted"],
          "sampled_batches": stats["sampled_batches"]}
    self._last = (now, stats)
    return self.latest


def _progress_text(snapshot: dict[str, Any], recent: Any,
                   last_eval: float | None,
                   replay: dict[str, float] | None = None) -> str:
  actors = snapshot.get("actors", {})
  per_actor = [a.get("steps_per_second", 0.0) for a in actors.values()]
  learner = snapshot.get("learner", {})
  parts = [f"env {sum(per_actor):,.0f}/s ("
           + ",".join(f"{x:.0f}" for x in per_actor) + ")",
           f"learn {learner.get('updates_per_second', 0.0):.0f}/s"]
  if replay:
    parts.append(f"replay {replay['size']:,} "
                 f"(+{replay['inserts_per_second']:.0f}/s "
                 f"-{replay['samples_per_second']:.0f} batches/s)")
  if recent:
    parts.append(f"mean10 {np.mean(recent):.1f}")
  if last_eval is not None:
    parts.append(f"eval {last_eval:.1f}")
  if snapshot.get("param_lag") is not None:
    parts.append(f"lag {snapshot['param_lag']:.1f}")
  return " ".join(parts)


def _error_text(error: BaseException) -> str:
  """The error's text (a RayTaskError's holds the remote traceback),
  without the terminal colour codes Ray adds."""
  text = str(error)
  if not text.strip():
    text = "".join(traceback.format_exception(error))
  return re.sub(r"\x1b\[[0-9;]*m", "", text)
