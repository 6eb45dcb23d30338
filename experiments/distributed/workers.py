"""The processes of a distributed run, each a Ray actor: environment
actors, the learner and the evaluator. They run any agent through the
agent contract (building_blocks/agent.py), with the same Actor, Learner
and adders as the single-process runner; what differs is only where
replay, the counters and the parameters live (replay_server.py,
coordinator.py, Ray's object store).

Each takes the run's config as JSON (the config.json of the run folder), so
a restarted process rebuilds itself from the same description.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

import jax
import numpy as np
import ray

from building_blocks import actor as actor_lib
from building_blocks import learner as learner_lib
from envs import gymnasium_adapter
from experiments import checkpointing
from experiments import config as config_lib
from experiments import evaluation
from experiments import single_process_runner
from experiments.distributed import remote_replay
from replay import vector_adders

ENV_SEED_STRIDE = 10_007
ACTOR_SEED_STRIDE = 1_000_003
EVAL_SEED_OFFSET = 999_983
STEPS_PER_GRANT = 512       # env steps an actor asks for at a time
PARAMS_POLL_SECONDS = 0.02  # how often an actor asks for a newer version
REPORT_SECONDS = 0.25       # how often the learner reports and checks
STOP_POLL_SECONDS = 0.1     # how often a waiting process asks whether to stop


def _load(config_json: str) -> tuple[Any, Any, Any]:
  """(config, environment spec, agent) of the run."""
  config = config_lib.from_dict(json.loads(config_json))
  env = gymnasium_adapter.make_environment(config.env)
  try:
    spec = gymnasium_adapter.make_environment_spec(env)
  finally:
    env.close()
  return config, spec, single_process_runner.build_agent(config, spec)


def fetch_params(params_ref: list[Any]) -> Any | None:
  """The parameters behind a coordinator's [ObjectRef]; None when they
  were lost (the learner that made them died)."""
  try:
    return ray.get(params_ref[0])
  except ray.exceptions.ObjectLostError:
    return None


class _StopCheck:
  """`check()` is True once the run is stopping; asks the coordinator at
  most every `STOP_POLL_SECONDS` (a Ray call per step would cost more than
  the step)."""

  def __init__(self, coordinator: Any):
    self._coordinator = coordinator
    self._last = 0.0
    self.stopping = False

  def __call__(self) -> bool:
    now = time.perf_counter()
    if not self.stopping and now - self._last > STOP_POLL_SECONDS:
      self._last = now
      self.stopping = ray.get(self._coordinator.finished.remote())
    return self.stopping


class ActorWorker:
  """Steps `num_envs` environments with the agent's policy and inserts
  what the adder makes into the replay server; takes the step budget from
  the coordinator in grants and keeps acting with the last parameters it
  has while a newer version travels (never waits for the learner)."""

  def __init__(self, config_json: str, actor_id: int, coordinator: Any,
               server: Any, incarnation: int = 0):
    config, spec, agent = _load(config_json)
    self._config = config
    self._id = actor_id
    self._coordinator = coordinator
    self._num_envs = config.runner_setting("num_envs")
    # A restarted actor gets fresh environment seeds (incarnation).
    base = config.seed + ACTOR_SEED_STRIDE * (actor_id + 1) + 7 * incarnation
    self._envs = [gymnasium_adapter.make_environment(
        config.env, seed=base + ENV_SEED_STRIDE * i)
                  for i in range(self._num_envs)]
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed),
                             1000 + 100 * actor_id + incarnation)
    self._actor = actor_lib.Actor(agent.policy, key)
    # Transitions go to the server insert_batch() at a time; a rollout at
    # once.
    self._should_stop = _StopCheck(coordinator)
    self._replay = remote_replay.ActorReplay(
        server, 1 if agent.replay.kind == "rollouts" else
        remote_replay.insert_batch(config.num_actors), self._should_stop)
    self._adder = vector_adders.make_adder(
        agent.replay, self._num_envs, config.runner_setting("rollout_length"),
        self._replay.insert)
    self._params: Any = None
    self._version = -1
    self._learner_step = -1
    self._version_call: Any = None
    self._params_fetch: tuple[int, Any] | None = None
    self._last_poll = 0.0

  def pid(self) -> int:
    return os.getpid()

  def _poll_params(self, block: bool) -> None:
    """Starts, or completes without waiting, the fetch of a newer version."""
    now = time.perf_counter()
    if self._version_call is None and (block or
                                       now - self._last_poll > PARAMS_POLL_SECONDS):
      self._version_call = self._coordinator.latest_params.remote()
      self._last_poll = now
    if self._version_call is not None:
      done, _ = ray.wait([self._version_call], timeout=None if block else 0)
      if done:
        version, learner_step, ref = ray.get(self._version_call)
        self._version_call = None
        if version > self._version and ref and (
            self._params_fetch is None or version > self._params_fetch[0]):
          self._params_fetch = (version, learner_step, ref[0])
    if self._params_fetch is not None:
      version, learner_step, ref = self._params_fetch
      done, _ = ray.wait([ref], timeout=None if block else 0)
      if done:
        self._params_fetch = None
        try:
          # As device arrays once, not converted from numpy at every step.
          self._params = jax.device_put(ray.get(ref))
        except ray.exceptions.ObjectLostError:
          return  # its learner died; the restarted one publishes anew
        self._version = version
        self._learner_step = learner_step

  def run(self) -> dict[str, float]:
    """Acts until the budget is spent or the run stops; returns totals."""
    coordinator = self._coordinator
    while self._params is None:  # the learner publishes version 0 at start
      self._poll_params(block=True)
      if self._params is None:
        time.sleep(0.05)
    want = max(1, STEPS_PER_GRANT // self._num_envs) * self._num_envs
    grant, global_steps = ray.get(coordinator.report_and_reserve.remote(
        self._id, 0, [], self._learner_step, want))
    timesteps = [env.reset() for env in self._envs]
    self._adder.start(timesteps)
    observations = np.stack([t.observation for t in timesteps])
    returns = np.zeros(self._num_envs)
    lengths = np.zeros(self._num_envs, np.int64)
    totals = {"env_steps": 0, "insert_wait_s": 0.0, "act_s": 0.0,
              "env_s": 0.0}
    start = time.perf_counter()
    while grant > 0:
      done_steps, episodes = 0, []
      while done_steps < grant:
        self._poll_params(block=False)
        t0 = time.perf_counter()
        actions, extras = self._actor.select(self._params, observations,
                                             global_steps + done_steps)
        t1 = time.perf_counter()
        timesteps = [env.step(a) for env, a in zip(self._envs, actions)]
        restarts = [env.reset() if t.last() else None
                    for env, t in zip(self._envs, timesteps)]
        t2 = time.perf_counter()
        self._replay.params_version = self._learner_step
        self._adder.add(actions, extras, timesteps, restarts)
        self._replay.flush()
        done_steps += self._num_envs
        observations = np.stack([(r if r is not None else t).observation
                                 for t, r in zip(timesteps, restarts)])
        for i, t in enumerate(timesteps):
          returns[i] += float(t.reward)
          lengths[i] += 1
          if t.last():
            episodes.append((done_steps, float(returns[i]), int(lengths[i])))
            returns[i], lengths[i] = 0.0, 0
        totals["act_s"] += t1 - t0
        totals["env_s"] += t2 - t1
        totals["insert_wait_s"] = self._replay.wait_seconds
      self._replay.flush(force=True)
      totals["insert_wait_s"] = self._replay.wait_seconds
      totals["env_steps"] += done_steps
      elapsed = time.perf_counter() - start
      stats = dict(totals, steps_per_second=totals["env_steps"] / max(
          elapsed, 1e-9), params_learner_step=self._learner_step, pid=os.getpid(),
                   node=ray.get_runtime_context().get_node_id())
      grant, global_steps = ray.get(coordinator.report_and_reserve.remote(
          self._id, done_steps, episodes, self._learner_step, want, stats))
    return totals


class LearnerWorker:
  """Samples from the replay server, updates, publishes one `ray.put` of
  the parameters every `publish_every` updates, reports metrics, and
  checkpoints itself (parameters, optimiser state, counters) and the
  replay every `checkpoint_every` environment steps. A restarted learner
  continues from its last checkpoint."""

  def __init__(self, config_json: str, coordinator: Any, server: Any,
               run_dir: str, publish_every: int):
    config, spec, agent = _load(config_json)
    self._config = config
    self._coordinator = coordinator
    self._server = server
    self._publish_every = max(1, publish_every)
    self._should_stop = _StopCheck(coordinator)
    self._replay = remote_replay.LearnerReplay(
        server, self._should_stop,
        prioritized=agent.replay.kind == "transitions" and agent.replay.prioritized)
    keys = jax.random.split(jax.random.PRNGKey(config.seed), 3)
    self._learner = learner_lib.Learner(agent, self._replay, keys[0])
    self._checkpointer = checkpointing.Checkpointer(
        os.path.join(run_dir, "checkpoints"))
    if self._checkpointer.latest_step() is not None:
      state, meta = self._checkpointer.restore(self._learner.save())
      self._learner.restore(state)
      self._learner.num_steps = int(meta["counts"]["learner_steps"])
    example = vector_adders.example_item(
        agent, spec, config.runner_setting("num_envs"),
        config.runner_setting("rollout_length"))
    self._learner.warm_up(single_process_runner.example_batch(agent, example))

  def pid(self) -> int:
    return os.getpid()

  def _publish(self) -> None:
    params = jax.device_get(self._learner.params)
    self._coordinator.publish.remote(self._learner.num_steps,
                                     [ray.put(params)])

  def checkpoint(self, counts: dict[str, int]) -> None:
    """Saves the learner at the coordinator's `counts`, then the replay."""
    state = self._learner.save()
    counts = dict(counts, learner_steps=self._learner.num_steps)
    step = counts["env_steps"]
    if self._checkpointer.latest_step() != step:
      self._checkpointer.save(step, state, {"counts": counts,
                                            "wall_time": time.time()})
    if self._config.replay_checkpoint:
      self._replay.checkpoint()

  def _stats(self, start: float, first_update_s: float | None
             ) -> dict[str, float]:
    elapsed = time.perf_counter() - start
    return {"updates_per_second": self._learner.num_steps / max(elapsed, 1e-9),
            "sample_wait_s": self._replay.wait_seconds,
            "seconds": elapsed, "first_update_s": first_update_s or 0.0}

  def run(self) -> dict[str, Any]:
    """Updates until the coordinator says the run is over; returns totals."""
    config = self._config
    self._publish()
    every = config.checkpoint_every
    counts = ray.get(self._coordinator.counts.remote())
    next_ckpt = (counts["env_steps"] // every + 1) * every if every else None
    metrics: dict[str, Any] = {}
    start = time.perf_counter()
    first_update_s = None
    report_at = 0.0
    while True:
      try:
        metrics = self._learner.step()
      except remote_replay.Stopped:
        break
      if first_update_s is None:
        first_update_s = time.perf_counter() - start
      steps = self._learner.num_steps
      if steps % self._publish_every == 0:
        self._publish()
      now = time.perf_counter()
      if now >= report_at:
        report_at = now + REPORT_SECONDS
        host = {k: float(v) for k, v in jax.device_get(metrics).items()}
        if self._replay.last_version >= 0:
          host["data_staleness"] = float(steps - 1 - self._replay.last_version)
        env_steps, finished = ray.get(self._coordinator.learner_report.remote(
            steps, host, self._stats(start, first_update_s)))
        self._should_stop.stopping = finished
        if finished:
          break
        if next_ckpt is not None and env_steps >= next_ckpt:
          next_ckpt = (env_steps // every + 1) * every
          self.checkpoint(ray.get(self._coordinator.counts.remote()))
    self._publish()
    host = {k: float(v) for k, v in jax.device_get(metrics).items()}
    ray.get(self._coordinator.learner_report.remote(
        self._learner.num_steps, host, self._stats(start, first_update_s)))
    return {"learner_steps": self._learner.num_steps}

  def final_checkpoint(self) -> None:
    """The checkpoint at the end (every actor has reported its steps)."""
    self.checkpoint(ray.get(self._coordinator.counts.remote()))


class EvaluatorWorker:
  """Runs the evaluation policy for whole episodes on its own
  environments, with the parameters it is given (calls run one at a time,
  in the order they were made)."""

  def __init__(self, config_json: str):
    config, _, agent = _load(config_json)
    self._envs = evaluation.make_envs(
        config.env, config.seed + EVAL_SEED_OFFSET, config.eval_episodes)
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 999)
    self._actor = actor_lib.Actor(agent.policy, key, evaluation=True)

  def evaluate(self, params_ref: list[Any], env_steps: int
               ) -> dict[str, float]:
    """The evaluation row at `env_steps` (experiments/evaluation.py); {}
    when the parameters were lost (their learner died: the launcher asks
    again later)."""
    params = fetch_params(params_ref)
    if params is None:
      return {}
    return evaluation.row(env_steps, evaluation.run_episodes(
        self._actor, params, self._envs, env_steps))
