"""Distributed runner throughput: DQN on CartPole-v1 with 1, 2 and 4 actor
processes, with the learner on and off, against the single-process runner
measured in the same session; replay insert and sample rates, parameter
update latency, time to the first learner step, where an actor's time goes,
and a profile-based model of 8 actors on a machine with >= 9 cores.

  python benchmarks/distributed_throughput.py                  # 1 2 4 actors, 20,000 steps per run
  python benchmarks/distributed_throughput.py --quick          # 1 2 actors, 5,000 steps (a check)
  python benchmarks/distributed_throughput.py --actors 1 2 4 8 --num-steps 50000
  .venv/bin/python benchmarks/distributed_throughput.py --replay reverb

Command for the figures in the issue (this machine: 2 cores):
  .venv-core/bin/python benchmarks/distributed_throughput.py

Every run is a fresh process (JAX's compilation cache off: every run
compiles cold), one after the other, configurations alternating: the
single-process baseline, then for each actor count the learner-on run and
the learner-off run, then the probe, then the baseline again (its two runs
bracket the session's noise; their mean is the baseline).

  single       <python> -m experiments.train --runner single --agent dqn
               --env CartPole-v1 --replay R --num-steps S
               --compilation-cache-dir "" --no-progress --no-tensorboard
               --eval-every 0 --run-dir DIR
               (its summary.json: steps_per_second, launch to end; and the
               steady rate from logs/train.csv, see below)
  learner on   the same with --runner distributed --num-actors N: the real
               runner (Ray, coordinator, replay server, learner, N actors,
               evaluator). From summary.json's `extra`: per-actor
               steps_per_second (summed: aggregate actor throughput) and
               time split, learner updates/s, sample wait, first_update_s
               (from the learner loop's start), mean parameter lag, the
               replay server's counters (replay_stats: items inserted,
               batches sampled; the launcher polls them); from
               logs/train.csv (one row per episode, wall_time = seconds
               after launch): the steady rate (env steps between the first
               and the last row over their wall_time difference) and the
               first row with learner_steps > 0 (an upper bound on launch
               to the first learner step: rows come only at episode ends).
  learner off  this script with --_actors-only N, in its own process: it
               enters a loopback-only network namespace (as the command
               line does), starts a local Ray, a Coordinator, a
               ReplayServer (the agent's spec; its insert-side limiter
               switched off by a subclass, see below), publishes the
               agent's initial parameters itself and then a new version
               every --publish-interval seconds (as a learner publishing
               every update would: actors poll every 20 ms), and runs N
               ActorWorkers' own run() loops over the step budget (after a
               warm-up that compiles the policy and the server's insert).
               The actors are the runner's ActorWorker with timers around
               the adder, the insert calls (ActorReplay.flush: stacking the
               remote_replay.insert_batch(N) items, 32 up to 2 actors, 16
               per actor up to 128, and sending them, less the wait for the previous
               call's reply, which ActorReplay.wait_seconds holds) and the
               parameter polls, so the time split is complete. The
               server's stats() gives the insert rate.
  probe        --_probe, its own process, Ray otherwise idle:
               parameter-update latency (the learner's device_get +
               ray.put, the coordinator.publish round trip, then an
               ActorWorker's own blocking fetch: latest_params, ray.get of
               the ref, device_put; median of --latency-reps), and the
               replay server's cost per call (the runner's ReplayServer
               with the agent's spec, limiter and all, built for
               --model-actors actors): insert of the transitions such a
               run's actors send per call (128 for 8 actors), stacked (one array per field, as ActorReplay
               sends them), sample of one batch, sample carrying the
               previous batch's priorities (the learner's one call per
               update), and update_priorities alone (a part of that call;
               the learner no longer calls it remotely), one at a time
               (round trip) and --call-reps pipelined (wall per call, and
               the server process's CPU time per call from /proc: its
               work, whoever calls, which bounds its capacity); the same
               calls on a ReplayServer object in the probe's own process
               (no Ray); and the mix a learner-on run asks for (per
               learner update one sample call carrying priorities and
               (batch / samples_per_insert) / items-per-call of an
               insert).

The learner-off server is replay_server.ReplayServer with may_insert()
always True. Shrinking samples_per_insert with dataclasses.replace would
switch the limiter off too, but it also changes the device buffer's add
chunk (batch_size / samples_per_insert items per jitted add: 8 for this
preset, the whole capacity for a tiny ratio), so each 32-item insert would
cost the server 32 one-item adds instead of 4 eight-item ones, not what the
real run does.

The model (printed last, and so labelled) predicts 8 actors, each on its
own core, from the 1-actor learner-off profile and the server's CPU time
per call: the bound min(8 x one actor, server capacity for inserts), then
an approximate mean value analysis of the closed loop (each actor sends an
insert every 32 steps and reads its reply just before sending the next,
i.e. after 32 more steps of its own work: at most one insert per actor is
at the server, and an actor waits only when a reply takes longer than
those 32 steps), then whether the learner's calls (one sample carrying
priorities per update) fit into what the server has left and how late a
learner's prefetched sample can be. On this machine (os.cpu_count() is
printed) it is a model, not a measurement.

Results go to benchmarks/results/distributed_throughput-<time>.json, per-run
logs to benchmarks/results/logs/distributed_throughput-<time>/ (git-ignored).
"""
from __future__ import annotations

import argparse
import collections
import csv
import fractions
import json
import math
import os
import shutil
import statistics
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402
from timing import fmt  # noqa: E402

ROOT = timing.ROOT
NAME = "distributed_throughput"
AGENT = "dqn"
ENV = "CartPole-v1"
SIX_X = 6.0  # the design target: >= 6x one actor's throughput at 8 actors


# --- child processes (hidden modes) ----------------------------------------

def _start_ray(num_cpus: int) -> Any:
  """Enters a loopback-only network namespace with a reaper (as the
  command line does for a local distributed run: whatever of Ray is left
  when this process ends, even killed, is killed), then imports and starts
  a local Ray as the runner does (experiments/distributed/ray_cluster.py).
  Must run before numpy, JAX or Ray start threads."""
  from experiments import network_isolation  # pylint: disable=g-import-not-at-top
  problem = network_isolation.isolate_network()
  if problem:
    print(f"warning: not network-isolated: {problem}", file=sys.stderr)
  else:
    from experiments import namespace_reaper  # pylint: disable=g-import-not-at-top
    namespace_reaper.start()
  import ray  # pylint: disable=g-import-not-at-top
  ray.init(num_cpus=num_cpus, include_dashboard=False,
           _node_ip_address="127.0.0.1", log_to_driver=False,
           configure_logging=False)
  return ray


def _setup(replay: str, num_actors: int, num_steps: int) -> dict[str, Any]:
  """The run's config, agent, example item and initial parameters, built
  the way the distributed runner builds them."""
  import jax  # pylint: disable=g-import-not-at-top
  from experiments import config as config_lib  # pylint: disable=g-import-not-at-top
  from experiments import single_process_runner  # pylint: disable=g-import-not-at-top
  from experiments.distributed import workers  # pylint: disable=g-import-not-at-top
  config = config_lib.default_config(
      AGENT, ENV, runner="distributed", num_actors=num_actors,
      num_steps=num_steps, replay=replay, eval_every=0, progress=False,
      tensorboard=False)
  config = single_process_runner.resolve_replay(config)
  env = single_process_runner.gymnasium_adapter.make_environment(config.env)
  spec = single_process_runner.gymnasium_adapter.make_environment_spec(env)
  env.close()
  agent = single_process_runner.build_agent(config, spec)
  num_envs = config.runner_setting("num_envs")
  example = workers.vector_adders.example_item(
      agent, spec, num_envs, config.runner_setting("rollout_length"))
  params = agent.init(jax.random.PRNGKey(config.seed)).params
  return {"config": config, "agent": agent, "example": example,
          "params": params, "num_envs": num_envs}


def _classes() -> tuple[type, type]:
  """(TimedActor, UnlimitedServer): the runner's ActorWorker and
  ReplayServer with what this benchmark needs added. Defined after the
  imports (they import JAX and Ray); Ray ships them to its workers by
  value."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from experiments.distributed import replay_server  # pylint: disable=g-import-not-at-top
  from experiments.distributed import workers  # pylint: disable=g-import-not-at-top

  class TimedActor(workers.ActorWorker):
    """The runner's actor, timing what its run() loop does besides the
    policy and the environments (which it times itself): the adder, the
    insert calls (ActorReplay.flush: stacking and sending, less the wait
    for the previous call's reply and the limiter, which ActorReplay
    accumulates in wait_seconds) and the parameter polls."""

    def __init__(self, *args: Any):
      super().__init__(*args)
      self.timing: dict[str, float] = collections.defaultdict(float)
      self._timed(self._adder, "add", "adder_s")
      replay, totals = self._replay, self.timing
      flush = replay.flush

      def timed_flush(*args: Any, **kwargs: Any) -> Any:
        start, waited = time.perf_counter(), replay.wait_seconds
        try:
          return flush(*args, **kwargs)
        finally:
          totals["insert_send_s"] += (time.perf_counter() - start) - (
              replay.wait_seconds - waited)
      replay.flush = timed_flush

    def _timed(self, obj: Any, name: str, key: str) -> None:
      inner, totals = getattr(obj, name), self.timing

      def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
          return inner(*args, **kwargs)
        finally:
          totals[key] += time.perf_counter() - start
      setattr(obj, name, timed)

    def _poll_params(self, block: bool) -> None:
      if block:
        super()._poll_params(block)
        return
      version = self._version
      start = time.perf_counter()
      super()._poll_params(block)
      self.timing["params_s"] += time.perf_counter() - start
      self.timing["param_versions"] += self._version != version

    def warm_up(self) -> int:
      """Gets the parameters and compiles the policy (not timed)."""
      while self._params is None:
        self._poll_params(block=True)
      observations = np.stack([env.reset().observation for env in self._envs])
      jax.block_until_ready(self._actor.select(self._params, observations, 0))
      self.timing.clear()
      self._replay.wait_seconds = 0.0
      return os.getpid()

    def fetch_latest(self) -> tuple[int, float]:
      """Fetches the newest version the way run() does, waiting: (its
      version, time.time() once the parameters are usable here)."""
      super()._poll_params(block=True)
      jax.block_until_ready(self._params)
      return self._version, time.time()

    def get_timing(self) -> dict[str, float]:
      """The timers, and the insert-reply and limiter wait from
      ActorReplay itself (run()'s totals copy it only inside the step
      loop, so they miss the wait of a grant's last, forced flush)."""
      return dict(self.timing, insert_wait_s=self._replay.wait_seconds)

  class UnlimitedServer(replay_server.ReplayServer):
    """The runner's replay server whose inserts are never held back."""

    def may_insert(self) -> bool:
      return True

  return TimedActor, UnlimitedServer


def _stacked_items(example: Any, count: int, seed: int) -> Any:
  """`count` copies of the example item with different contents, stacked
  as ActorReplay sends them (each leaf with a leading axis of `count`)."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)

  def vary(x: Any) -> Any:
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.floating):
      return (x + rng.standard_normal(x.shape)).astype(x.dtype)
    return x.copy()
  items = [jax.tree_util.tree_map(vary, example) for _ in range(count)]
  return jax.tree_util.tree_map(lambda *xs: np.stack(xs), *items)


def actors_only(num_actors: int, num_steps: int, replay: str,
                publish_interval: float) -> dict[str, Any]:
  """Learner off: `num_actors` ActorWorkers' run() loops against a replay
  server that never holds them back; parameters published by this process."""
  ray = _start_ray(max(os.cpu_count() or 1, num_actors + 1))
  import threading  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  from experiments import distributed_runner  # pylint: disable=g-import-not-at-top
  from experiments.distributed import coordinator as coordinator_lib  # pylint: disable=g-import-not-at-top
  from experiments.distributed import remote_replay  # pylint: disable=g-import-not-at-top
  stop = threading.Event()
  publisher = None
  try:
    s = _setup(replay, num_actors, num_steps)
    config, agent, num_envs = s["config"], s["agent"], s["num_envs"]
    timed_actor, unlimited_server = _classes()
    budget = int(math.ceil(num_steps / num_envs) * num_envs)
    env_vars = {"env_vars": distributed_runner.CPU_ENV}
    coordinator = ray.remote(coordinator_lib.Coordinator).options(
        num_cpus=0).remote(budget, num_envs)
    server = ray.remote(unlimited_server).options(
        num_cpus=0, runtime_env=env_vars).remote(
            agent.replay, s["example"], config.replay, None, config.seed,
            num_actors)
    info = ray.get(server.info.remote())
    params = jax.device_get(s["params"])
    ray.get(coordinator.publish.remote(0, [ray.put(params)]))
    per_call = remote_replay.insert_batch(num_actors)
    actors = [ray.remote(timed_actor).options(
        num_cpus=0, runtime_env=env_vars).remote(
            config.to_json(), i, coordinator, server)
              for i in range(num_actors)]
    pids = ray.get([a.warm_up.remote() for a in actors])
    # The server's first insert compiles its add: once, before timing.
    ray.get(server.insert.remote(
        _stacked_items(s["example"], per_call, 0), per_call, 0))
    before = ray.get(server.stats.remote())

    def publish_loop() -> None:
      version = 0
      while not stop.wait(publish_interval):
        version += 1
        coordinator.publish.remote(version, [ray.put(params)])

    if publish_interval > 0:
      publisher = threading.Thread(target=publish_loop, daemon=True)
      publisher.start()
    start = time.perf_counter()
    ray.get([a.run.remote() for a in actors])
    seconds = time.perf_counter() - start
    stop.set()
    after = ray.get(server.stats.remote())
    snapshot = ray.get(coordinator.poll.remote())
    timings = ray.get([a.get_timing.remote() for a in actors])
    per_actor = {}
    for i, extra in enumerate(timings):
      stats = dict(snapshot["actors"].get(i, {}))
      stats.pop("node", None)
      per_actor[str(i)] = {**stats, **extra}
    inserted = after["inserted"] - before["inserted"]
    return {"num_actors": num_actors, "num_steps": budget,
            "env_steps": snapshot["counts"]["env_steps"],
            "seconds": seconds, "actor_pids": pids,
            "replay": info["description"], "server_pid": info["pid"],
            "inserted": inserted, "insert_items_per_second": inserted / seconds,
            "insert_calls_per_second":
                inserted / per_call / seconds,
            "items_per_insert": per_call,
            "publish_interval": publish_interval,
            "versions_published": snapshot["params_version"] + 1,
            "actors": per_actor}
  finally:
    stop.set()
    if publisher is not None:
      publisher.join(timeout=5)
    ray.shutdown()


def probe(replay: str, latency_reps: int, call_reps: int,
          model_actors: int) -> dict[str, Any]:
  """Parameter-update latency and the replay server's per-call costs, on
  an otherwise idle Ray; the server and its insert calls as a run of
  `model_actors` actors has them (remote_replay.insert_batch items per
  call)."""
  ray = _start_ray(max(os.cpu_count() or 1, 2))
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from experiments import distributed_runner  # pylint: disable=g-import-not-at-top
  from experiments.distributed import coordinator as coordinator_lib  # pylint: disable=g-import-not-at-top
  from experiments.distributed import remote_replay  # pylint: disable=g-import-not-at-top
  from experiments.distributed import replay_server  # pylint: disable=g-import-not-at-top
  from experiments.distributed import workers  # pylint: disable=g-import-not-at-top
  try:
    s = _setup(replay, 1, 10_000)
    config, agent = s["config"], s["agent"]
    timed_actor, _ = _classes()
    env_vars = {"env_vars": distributed_runner.CPU_ENV}
    coordinator = ray.remote(coordinator_lib.Coordinator).options(
        num_cpus=0).remote(10_000, s["num_envs"])
    # The runner's own server, limiter and all (the agent's spec).
    server = ray.remote(replay_server.ReplayServer).options(
        num_cpus=0, runtime_env=env_vars).remote(
            agent.replay, s["example"], config.replay, None, config.seed,
            model_actors)
    info = ray.get(server.info.remote())
    actor = ray.remote(timed_actor).options(
        num_cpus=0, runtime_env=env_vars).remote(
            config.to_json(), 0, coordinator, server)
    device_params = jax.device_put(s["params"])
    ray.get(coordinator.publish.remote(0, [ray.put(
        jax.device_get(device_params))]))
    ray.get(actor.warm_up.remote())

    # Parameter-update latency, as the learner publishes (device_get,
    # ray.put, coordinator.publish) and an actor fetches.
    put_s, publish_s, fetch_s, total_s = [], [], [], []
    for rep in range(latency_reps + 3):  # 3 warm-up repetitions
      t0w, t0 = time.time(), time.perf_counter()
      ref = ray.put(jax.device_get(device_params))
      t1 = time.perf_counter()
      ray.get(coordinator.publish.remote(rep + 1, [ref]))
      t2w, t2 = time.time(), time.perf_counter()
      version, usable = ray.get(actor.fetch_latest.remote())
      if version != rep + 1:
        raise RuntimeError(f"fetched version {version}, published {rep + 1}")
      if rep >= 3:
        put_s.append(t1 - t0)
        publish_s.append(t2 - t1)
        fetch_s.append(usable - t2w)
        total_s.append(usable - t0w)
    latency = {name: _quantiles(values) for name, values in (
        ("put_s", put_s), ("publish_s", publish_s), ("fetch_s", fetch_s),
        ("total_s", total_s))}
    latency["params_bytes"] = int(sum(
        np.asarray(x).nbytes for x in jax.tree_util.tree_leaves(s["params"])))
    latency["poll_interval_s"] = workers.PARAMS_POLL_SECONDS

    # The replay server's per-call costs: one at a time (round trip), and
    # pipelined (wall time per call, and the server process's CPU time per
    # call: its work, whoever calls). The agent's spec: the limiter needs
    # min_size items and then batch_size / samples_per_insert inserted per
    # sampled batch. Inserts as ActorReplay sends them: 32 items stacked.
    batch = remote_replay.insert_batch(model_actors)
    pool = [_stacked_items(s["example"], batch, i) for i in range(8)]
    spec = agent.replay
    prioritized = spec.kind == "transitions" and bool(spec.prioritized)
    warm_calls = int(math.ceil(spec.min_size / batch)) + 8
    for i in range(warm_calls):  # compiles the adds; fills past min_size
      ray.get(server.insert.remote(pool[i % len(pool)], batch, 0))
    nones = 0

    def sample(new_priorities: Any = None) -> Any:
      nonlocal nones
      result = ray.get(server.sample.remote(new_priorities))
      nones += result is None
      return result

    for _ in range(3):  # compiles the sampler
      keys = sample()[0].keys
    priorities = np.ones(np.shape(keys), np.float32)
    # What the learner sends with its next sample call: the previous
    # batch's keys and new priorities.
    new = (keys, priorities)
    for _ in range(3):  # compiles the priority update
      sample(new)
    # One more insert, priority update and sample after the first priority
    # update (they compiled again there before the device buffer's state
    # started strongly typed). Not timed either.
    ray.get(server.insert.remote(pool[0], batch, 0))
    ray.get(server.update_priorities.remote(keys, priorities))
    sample()
    cpu = lambda: _process_cpu_seconds(info["pid"])  # pylint: disable=unnecessary-lambda-assignment
    calls: dict[str, Any] = {}
    for name, call in (
        ("empty", lambda: ray.get(server.stats.remote())),
        ("insert", lambda: ray.get(server.insert.remote(pool[0], batch, 0))),
        ("sample", sample),
        ("sample_priorities", lambda: sample(new)),
        ("priorities", lambda: ray.get(
            server.update_priorities.remote(keys, priorities)))):
      calls[f"{name}_round_trip_s"] = _quantiles(_timed_calls(call, call_reps))

    raw: dict[str, tuple[float, float, bool]] = {}

    def pipelined(name: str, make_call: Any, then_sample: bool) -> None:
      """`call_reps` calls at once; with `then_sample`, one sample after
      them, which waits for the work they dispatched (the device replay
      runs its adds and priority updates asynchronously; a sample call
      waits for its own priority update), less a sample's own cost (below,
      once known)."""
      nonlocal nones
      c0, t0 = cpu(), time.perf_counter()
      results = ray.get([make_call(i) for i in range(call_reps)])
      if then_sample:
        sample()
      raw[name] = (time.perf_counter() - t0, cpu() - c0, then_sample)
      if name.startswith("sample"):
        nones += sum(r is None for r in results)

    # Inserts before the samples: they let the limiter allow those.
    pipelined("empty", lambda i: server.stats.remote(), False)
    pipelined("insert", lambda i: server.insert.remote(
        pool[i % len(pool)], batch, 0), True)
    pipelined("sample", lambda i: server.sample.remote(), False)
    pipelined("sample_priorities", lambda i: server.sample.remote(new), False)
    pipelined("priorities",
              lambda i: server.update_priorities.remote(keys, priorities),
              True)
    sample_cpu = raw["sample"][1] / call_reps
    for name, (wall, used, then_sample) in raw.items():
      if then_sample:
        wall -= calls["sample_round_trip_s"]["median"]
        used -= sample_cpu
      calls[f"{name}_wall_s"] = max(0.0, wall / call_reps)
      calls[f"{name}_cpu_s"] = max(0.0, used / call_reps)
    # What the learner-on ratio asks of the server per learner update: one
    # sample call (carrying the previous batch's priorities, with
    # prioritized replay) and batch_size / samples_per_insert / 32 of an
    # insert, mixed as they come (the sum of the parts, checked).
    per_insert = max(1, round(batch * spec.samples_per_insert
                              / spec.batch_size))  # updates per insert
    learner_call = ((lambda: server.sample.remote(new)) if prioritized
                    else server.sample.remote)
    mixed = []
    for i in range(call_reps // per_insert):
      mixed.append(lambda i=i: server.insert.remote(
          pool[i % len(pool)], batch, 0))
      mixed += [learner_call] * per_insert
    c0, t0 = cpu(), time.perf_counter()
    results = ray.get([make() for make in mixed])
    sample()
    nones += sum(r is None for r in results)
    updates = call_reps // per_insert * per_insert
    calls["mixed_updates"] = updates
    calls["mixed_updates_per_insert"] = per_insert
    calls["mixed_cpu_per_update_s"] = max(0.0, (
        cpu() - c0 - calls["sample_cpu_s"]) / updates)
    calls["mixed_wall_per_update_s"] = max(0.0, (
        time.perf_counter() - t0 - calls["sample_round_trip_s"]["median"])
        / updates)
    calls["samples_refused"] = nones
    calls.update(_in_process_costs(replay_server.ReplayServer(
        agent.replay, s["example"], config.replay, None, config.seed, 1),
        pool, batch, call_reps, warm_calls))
    calls["items_per_insert"] = batch
    calls["reps"] = call_reps
    return {"replay": info["description"], "latency": latency,
            "calls": calls,
            "spec": {"batch_size": spec.batch_size,
                     "samples_per_insert": spec.samples_per_insert,
                     "min_size": spec.min_size, "n_step": spec.n_step,
                     "prioritized": prioritized},
            "num_envs": s["num_envs"]}
  finally:
    ray.shutdown()


def _in_process_costs(server: Any, pool: Sequence[Any], count: int,
                      reps: int, warm_calls: int) -> dict[str, float]:
  """The same server calls without Ray (a ReplayServer object in this
  process): seconds per insert (`count` items stacked), sample, sample
  carrying priorities and update_priorities, the work a call costs besides
  Ray's (the rest of a call's server CPU time is Ray's: receiving,
  deserializing the arguments, serializing the reply)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  try:
    for i in range(warm_calls):
      server.insert(pool[i % len(pool)], count, 0)
    for _ in range(3):
      keys = server.sample()[0].keys
    priorities = np.ones(np.shape(keys), np.float32)
    new = (keys, priorities)
    for _ in range(3):
      server.sample(new)
    server.insert(pool[0], count, 0)
    server.update_priorities(keys, priorities)
    server.sample()
    refused = 0

    def sample(new_priorities: Any = None) -> None:
      nonlocal refused
      refused += server.sample(new_priorities) is None

    def timed(call: Any, then_sample: bool) -> float:
      start = time.perf_counter()
      for i in range(reps):
        call(i)
      if then_sample:  # waits for the work dispatched asynchronously
        sample()
      return time.perf_counter() - start

    # Inserts first: the limiter then allows every sample below.
    inserts = timed(lambda i: server.insert(pool[i % len(pool)], count, 0),
                    True)
    per_sample = timed(lambda i: sample(), False) / reps
    per_sample_priorities = timed(lambda i: sample(new), False) / reps
    updates = timed(lambda i: server.update_priorities(keys, priorities),
                    True)
    return {"in_process_insert_s": max(0.0, inserts - per_sample) / reps,
            "in_process_sample_s": per_sample,
            "in_process_sample_priorities_s": per_sample_priorities,
            "in_process_priorities_s": max(0.0, updates - per_sample) / reps,
            "in_process_samples_refused": refused}
  finally:
    server.close()


def _process_cpu_seconds(pid: int) -> float:
  """User + system CPU seconds of process `pid` so far (/proc, 10 ms
  ticks)."""
  with open(f"/proc/{pid}/stat") as f:
    fields = f.read().rsplit(")", 1)[1].split()
  return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed_calls(call: Any, reps: int) -> list[float]:
  out = []
  for _ in range(reps):
    start = time.perf_counter()
    call()
    out.append(time.perf_counter() - start)
  return out


def _quantiles(values: Sequence[float]) -> dict[str, float]:
  values = sorted(values)
  return {"median": statistics.median(values),
          "p10": values[int(0.1 * (len(values) - 1))],
          "p90": values[int(0.9 * (len(values) - 1))], "n": len(values)}


# --- the parent: runs, reading their results --------------------------------

def read_train_csv(path: str) -> dict[str, Any]:
  """From a run's logs/train.csv: the steady env-step rate (first to last
  row), the first row's wall_time and the first row with learner_steps > 0
  (seconds after launch), or None for what is not there."""
  try:
    with open(path, newline="") as f:
      rows = list(csv.DictReader(f))
  except OSError:
    return {"rows": 0}
  out: dict[str, Any] = {"rows": len(rows), "steady_steps_per_second": None,
                         "first_episode_s": None, "first_learner_step_s": None}
  if not rows:
    return out
  first, last = rows[0], rows[-1]
  out["first_episode_s"] = float(first["wall_time"])
  span = float(last["wall_time"]) - float(first["wall_time"])
  if span > 0:
    out["steady_steps_per_second"] = (
        int(last["env_steps"]) - int(first["env_steps"])) / span
  learning = [r for r in rows if int(r.get("learner_steps") or 0) > 0]
  if learning:
    out["first_learner_step_s"] = float(learning[0]["wall_time"])
  return out


def actor_split(actors: Mapping[str, Mapping[str, float]],
                keys: Sequence[str]) -> dict[str, float]:
  """Seconds per env step of each of `keys` summed over the actors, plus
  "other_s" (the rest of the actors' loop time) and "total_s"; a loop's
  time is env_steps / steps_per_second."""
  steps = sum(a.get("env_steps", 0) for a in actors.values())
  total = sum(a["env_steps"] / a["steps_per_second"] for a in actors.values()
              if a.get("steps_per_second"))
  if not steps or not total:
    return {}
  out = {k: sum(a.get(k, 0.0) for a in actors.values()) / steps for k in keys}
  out["other_s"] = max(0.0, total / steps - sum(out.values()))
  out["total_s"] = total / steps
  return out


def run_cli(label: str, runner: str, num_actors: int, args: Any,
            run_root: str, log_dir: str, env: Mapping[str, str]
            ) -> dict[str, Any]:
  """One `experiments.train` run (log LABEL.log); its record with the
  figures read from its run folder."""
  run_dir = os.path.join(run_root, f"{label}-{time.time_ns()}")
  cmd = [args.python, "-m", "experiments.train", "--runner", runner,
         "--agent", AGENT, "--env", ENV, "--replay", args.replay,
         "--num-steps", str(args.num_steps), "--compilation-cache-dir", "",
         "--no-progress", "--no-tensorboard", "--eval-every", "0",
         "--run-dir", run_dir]
  if runner == "distributed":
    cmd[cmd.index("--replay"):cmd.index("--replay")] = [
        "--num-actors", str(num_actors)]
  record = _run(cmd, env, args.timeout, os.path.join(log_dir, f"{label}.log"))
  record.update(label=label, num_actors=num_actors)
  try:
    with open(os.path.join(run_dir, "summary.json")) as f:
      summary = json.load(f)
  except (OSError, ValueError):
    record["error"] = "no summary.json"
    return record
  csv_info = read_train_csv(os.path.join(run_dir, "logs", "train.csv"))
  extra = summary.get("extra", {})
  record.update(env_steps=summary["env_steps"],
                wall_seconds_self=summary["wall_seconds"],
                steps_per_second=summary["steps_per_second"],
                learner_steps=extra.get("learner_steps"), train_csv=csv_info)
  if runner == "distributed":
    actors = extra.get("actors", {})
    learner = extra.get("learner", {})
    for a in actors.values():
      a.pop("node", None)
    record.update(
        actors=actors, learner=learner,
        mean_param_lag=extra.get("mean_param_lag"),
        restarts=extra.get("restarts"),
        replay_stats=extra.get("replay_stats") or {},
        actor_steps_per_second=sum(a.get("steps_per_second", 0.0)
                                   for a in actors.values()),
        split=actor_split(actors, ("act_s", "env_s", "insert_wait_s")))
    seconds = learner.get("seconds") or 0.0
    if seconds:
      updates = learner["updates_per_second"] * seconds
      busy = seconds - learner.get("sample_wait_s", 0.0)
      record["learner_sample_wait_fraction"] = (
          learner.get("sample_wait_s", 0.0) / seconds)
      record["learner_busy_updates_per_second"] = (
          updates / busy if busy > 0 else None)
  if not args.keep_runs:
    shutil.rmtree(run_dir, ignore_errors=True)
  return record


def run_child(mode: list[str], label: str, args: Any, log_dir: str,
              env: Mapping[str, str]) -> dict[str, Any]:
  """This script in a hidden mode, as a fresh process; its JSON result."""
  out_path = os.path.join(log_dir, f"{label}.json")
  cmd = [args.python, os.path.abspath(__file__), *mode, "--replay",
         args.replay, "--num-steps", str(args.num_steps),
         "--publish-interval", str(args.publish_interval),
         "--latency-reps", str(args.latency_reps),
         "--call-reps", str(args.call_reps), "--_out", out_path]
  record = _run(cmd, env, args.timeout, os.path.join(log_dir, f"{label}.log"))
  record["label"] = label
  try:
    with open(out_path) as f:
      record.update(json.load(f))
  except (OSError, ValueError):
    record["error"] = "no result file"
  return record


def _run(cmd: Sequence[str], env: Mapping[str, str], timeout: float,
         log_path: str) -> dict[str, Any]:
  load = os.getloadavg()[0]
  run = timing.run_timed(cmd, ROOT, env, timeout, log_path,
                         detector=lambda line: None)
  record = {"command": list(cmd), "wall_seconds": round(run["wall_seconds"], 3),
            "returncode": run["returncode"], "timed_out": run["timed_out"],
            "loadavg_1min_before": load, "log": os.path.relpath(log_path, ROOT)}
  if run["returncode"] != 0:
    record["output_tail"] = [line.rstrip() for line in run["tail"]]
  return record


def _ok(record: Mapping[str, Any] | None) -> bool:
  return bool(record) and record["returncode"] == 0 and "error" not in record


def _describe(record: Mapping[str, Any]) -> str:
  status = "ok" if _ok(record) else (
      f"FAILED ({record.get('error') or 'exit ' + str(record['returncode'])}"
      f"{', timed out' if record['timed_out'] else ''}; see {record['log']})")
  return (f"  {record['label']:8s} wall {record['wall_seconds']:6.1f} s, "
          f"load {record['loadavg_1min_before']:.1f}: {status}")


# --- the model --------------------------------------------------------------

def mva(customers: int, work_s: float, latency_s: float, service_s: float
        ) -> tuple[float, float, float]:
  """Approximate mean value analysis of a closed system: `customers`
  clients, each sending a call to one FIFO server that takes `service_s`
  of its time per call, then working `work_s`, then reading that call's
  reply (waiting if it is not there yet) just before sending the next. A
  client's cycle is max(work, reply), a reply taking `latency_s` (transport,
  not the server's time) plus service_s x (1 + the calls it finds at the
  server). Mean values only (max of the means, so optimistic where work
  and reply are close); calls/s at most 1 / service_s. Returns (calls/s,
  mean reply s, mean number of calls at the server)."""
  calls = reply = queue = 0.0
  for n in range(1, customers + 1):
    at_server = service_s * (1.0 + queue)
    reply = latency_s + at_server
    calls = min(n / max(work_s, reply), 1.0 / service_s)
    queue = calls * at_server
  return calls, reply, queue


def model(one_actor: Mapping[str, Any], probe_result: Mapping[str, Any],
          learner_rate: float | None, num_actors: int) -> dict[str, Any]:
  """Predicted throughput of `num_actors` actors, each on its own core,
  against one replay server, and whether the learner's calls fit into the
  server's remaining capacity. Inputs: the 1-actor learner-off profile,
  the probe's per-call server costs (the server process's CPU time per
  call), the learner's update rate when not waiting for samples."""
  calls, spec = probe_result["calls"], probe_result["spec"]
  per_call = calls["items_per_insert"]
  prioritized = spec.get("prioritized", True)
  split = one_actor["split"]
  r1 = 1.0 / split["total_s"]                 # one actor, steps/s
  s_ins = calls["insert_cpu_s"]
  s_samp = calls["sample_cpu_s"]
  s_samp_prio = calls["sample_priorities_cpu_s"]
  s_prio = calls["priorities_cpu_s"]
  # The learner's one call per update: a sample carrying the previous
  # batch's priorities (a plain sample without prioritized replay).
  s_upd = s_samp_prio if prioritized else s_samp
  upd_rt = calls["sample_priorities_round_trip_s" if prioritized
                 else "sample_round_trip_s"]["median"]
  steps_per_update = spec["batch_size"] / spec["samples_per_insert"]
  # An actor's cycle: `per_call` steps, sending an insert at the end and
  # reading the previous insert's reply just before. Its own work: the
  # cycle measured with one actor less the wait measured there (the part
  # of the reply its 32 steps did not cover, and limiter waits: none
  # learner off). An insert's reply without queueing: its round trip less
  # the server's work.
  cycle = per_call * split["total_s"]
  waited = per_call * split.get("insert_wait_s", 0.0)
  work = max(cycle - waited, 0.0)
  latency = max(calls["insert_round_trip_s"]["median"] - s_ins, 0.0)
  simple = min(num_actors * r1, per_call / s_ins)  # no queueing
  mva_calls, mva_reply, mva_queue = mva(num_actors, work, latency, s_ins)
  x = mva_calls * per_call
  insert_load = mva_calls * s_ins
  ratio_updates = x / steps_per_update        # what the limiter allows
  learner_updates = (ratio_updates if learner_rate is None
                     else min(learner_rate, ratio_updates))
  spare_updates = max(0.0, 1.0 - insert_load) / s_upd
  # The learner's sample call leaves when the previous update's priorities
  # are known and is read when the next update starts: it travels during
  # one update. The batch is there in time when the server answers within
  # one update, even behind the inserts ahead of it (at most one per
  # actor: each reads its reply before sending the next).
  worst_reply = upd_rt + num_actors * s_ins
  mean_reply = upd_rt + mva_queue * s_ins
  # Learner on, at the limiter's ratio: per update, one sample call
  # (priorities applied in it) and steps_per_update / per_call of an
  # insert (measured mixed; the sum of the parts when not).
  parts = s_upd + steps_per_update / per_call * s_ins
  mixed = calls.get("mixed_cpu_per_update_s") or parts
  server_on = 1.0 / max(mixed, parts)
  on_caps = [server_on * steps_per_update, x]
  if learner_rate is not None:
    on_caps.append(learner_rate * steps_per_update)
  return {
      "num_actors": num_actors,
      "inputs": {"one_actor_steps_per_second": r1,
                 "one_actor_split_s_per_step": dict(split),
                 "actor_cycle_s": cycle, "actor_work_s": work,
                 "actor_wait_s": waited, "insert_latency_s": latency,
                 "insert_server_s": s_ins, "sample_server_s": s_samp,
                 "sample_priorities_server_s": s_samp_prio,
                 "priorities_server_s": s_prio,
                 "learner_call_server_s": s_upd,
                 "learner_call_round_trip_s": upd_rt,
                 "prioritized": prioritized,
                 "server_s_per_update_parts": parts,
                 "server_s_per_update_mixed": calls.get(
                     "mixed_cpu_per_update_s"),
                 "items_per_insert": per_call,
                 "samples_per_insert": spec["samples_per_insert"],
                 "batch_size": spec["batch_size"],
                 "learner_updates_per_second": learner_rate},
      "bound_steps_per_second": simple,
      "actors_alone_steps_per_second": num_actors * r1,
      "server_inserts_only_steps_per_second": per_call / s_ins,
      "predicted_steps_per_second": x,
      "predicted_speedup_over_one_actor": x / r1,
      "bound_speedup_over_one_actor": simple / r1,
      "meets_six_x": x / r1 >= SIX_X,
      "insert_mean_reply_s": mva_reply,
      "inserts_at_server_mean": mva_queue,
      "server_insert_load": insert_load,
      "ratio_updates_per_second": ratio_updates,
      "learner_updates_per_second_used": learner_updates,
      "server_spare_updates_per_second": spare_updates,
      "server_total_load": insert_load + learner_updates * s_upd,
      "learner_calls_fit": learner_updates <= spare_updates,
      "worst_sample_reply_s": worst_reply,
      "mean_sample_reply_s": mean_reply,
      "never_starved_up_to_updates_per_second": 1.0 / worst_reply,
      "learner_on_server_max_updates_per_second": server_on,
      "learner_on_predicted_steps_per_second": min(on_caps),
      "six_x_needs_updates_per_second": SIX_X * r1 / steps_per_update,
  }


# --- printing ---------------------------------------------------------------

def ratio(a: float | None, b: float | None) -> str:
  return "-" if a is None or b is None or not b else f"{a / b:.2f}x"


def pct(a: float | None) -> str:
  return "-" if a is None else f"{100 * a:.0f}%"


def count(v: int | None) -> str:
  return "-" if v is None else f"{v:,}"


def us(seconds: float | None) -> str:
  return "-" if seconds is None else f"{seconds * 1e6:,.0f}"


def ms(seconds: float | None) -> str:
  return "-" if seconds is None else f"{seconds * 1e3:.2f}"


def _fraction(x: float) -> str:
  """`x` as a small fraction ("1/4"), or as a number when it is none."""
  f = fractions.Fraction(x).limit_denominator(64)
  if abs(float(f) - x) > 1e-9:
    return f"{x:g}"
  return str(f.numerator) if f.denominator == 1 else (
      f"{f.numerator}/{f.denominator}")


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
  print("| " + " | ".join(header) + " |")
  print("|" + " --- |" * len(header))
  for row in rows:
    print("| " + " | ".join(str(x) for x in row) + " |")
  print()


def report(out: Mapping[str, Any]) -> None:
  """Prints the Markdown tables of a session's results."""
  singles = [r for r in out["single"] if _ok(r)]
  base = out["baseline"]
  on = {r["num_actors"]: r for r in out["learner_on"]}
  off = {r["num_actors"]: r for r in out["learner_off"]}
  counts = out["actor_counts"]
  print(f"\nMachine: {out['cpu_count']} cores (os.cpu_count()); "
        f"{AGENT} on {ENV}, {out['num_steps']:,} env steps per run, replay "
        f"{out['replay']}.\n")

  print("### Baseline: single-process runner (same agent, env, budget, "
        "replay)\n")
  table(["run", "steps/s, launch to end", "steps/s, train.csv steady",
         "wall s"],
        [[i + 1, fmt(r["steps_per_second"], ",.0f"),
          fmt(r["train_csv"]["steady_steps_per_second"], ",.0f"),
          fmt(r["wall_seconds"])] for i, r in enumerate(singles)] +
        [["mean", fmt(base["steps_per_second"], ",.0f"),
          fmt(base["steady_steps_per_second"], ",.0f"), ""]])

  print("### Learner on: `--runner distributed --num-actors N` (the CLI)\n")
  rows = []
  for n in counts:
    r = on.get(n)
    if not _ok(r):
      rows.append([n] + ["failed"] + [""] * 8)
      continue
    c = r["train_csv"]
    rows.append([
        n, fmt(r["actor_steps_per_second"], ",.0f"),
        fmt(c["steady_steps_per_second"], ",.0f"),
        ratio(c["steady_steps_per_second"], base["steady_steps_per_second"]),
        fmt(r["steps_per_second"], ",.0f"),
        ratio(r["steps_per_second"], base["steps_per_second"]),
        fmt(r["learner"].get("updates_per_second"), ".0f"),
        pct(r.get("learner_sample_wait_fraction")),
        fmt(r["mean_param_lag"], ".1f"), fmt(r["wall_seconds"])])
  table(["actors", "actors' steps/s (sum)", "train.csv steps/s",
         "x single (steady)", "launch-to-end steps/s", "x single (launch)",
         "learner updates/s", "learner waits for samples",
         "param lag (learner steps)", "wall s"], rows)

  print("### Launch to the first learner step (s after launch; train.csv "
        "has rows only at episode ends, so its figures are upper bounds)\n")
  rows = []
  for r in singles + [on[n] for n in counts if _ok(on.get(n))]:
    c = r["train_csv"]
    rows.append([r["label"], fmt(c["first_episode_s"], ".1f"),
                 fmt(c["first_learner_step_s"], ".1f"),
                 fmt(r["learner"].get("first_update_s"), ".2f")
                 if "learner" in r else "-"])
  table(["run", "first episode row", "first row with learner_steps > 0",
         "first_update_s (from the learner loop's start)"], rows)

  print("### Learner off: ActorWorkers only (parameters published every "
        f"{out['publish_interval'] * 1e3:.0f} ms, inserts never held back)\n")
  one = off.get(counts[0])
  one_rate = one["split_rate"] if _ok(one) else None
  rows = []
  for n in counts:
    r = off.get(n)
    if not _ok(r):
      rows.append([n, "failed"] + [""] * 7)
      continue
    rows.append([
        n, fmt(r["actor_steps_per_second"], ",.0f"),
        fmt(r["env_steps"] / r["seconds"], ",.0f"),
        ratio(r["actor_steps_per_second"], one_rate),
        ratio(r["actor_steps_per_second"], base["steady_steps_per_second"]),
        fmt(r["actor_steps_per_second"] / n, ",.0f"),
        fmt(r["insert_items_per_second"], ",.0f"),
        fmt(r["insert_calls_per_second"], ",.0f"),
        fmt(r["wall_seconds"])])
  table(["actors", "actors' steps/s (sum)", "steps/s (driver clock)",
         f"x {counts[0]} actor", "x single (steady)", "per actor",
         "server inserts items/s", "insert calls/s", "wall s"], rows)

  print("### Replay rates, learner on (the server's counters from the "
        "summary's replay_stats over the actors' and the learner's loop "
        "time; one transition per env step, 32 stacked per insert call; "
        "per learner update one sample call of "
        f"{out['spec'].get('batch_size', '?')} items, which carries the "
        "previous batch's new priorities)\n")
  rows = []
  for n in counts:
    r = on.get(n)
    if not _ok(r):
      continue
    stats, learner = r.get("replay_stats") or {}, r["learner"]
    loop = max((a["env_steps"] / a["steps_per_second"]
                for a in r["actors"].values() if a.get("steps_per_second")),
               default=0.0)
    items = (stats["inserted"] / loop if stats.get("inserted") and loop
             else r["actor_steps_per_second"])
    batches = (stats["sampled_batches"] / learner["seconds"]
               if stats.get("sampled_batches") and learner.get("seconds")
               else learner.get("updates_per_second", 0.0))
    rows.append([n, count(stats.get("inserted")), fmt(items, ",.0f"),
                 fmt(items / 32, ",.0f"), count(stats.get("sampled_batches")),
                 fmt(batches, ",.0f"),
                 fmt(batches * out["spec"].get("batch_size", 0), ",.0f")])
  table(["actors", "items inserted", "inserted items/s", "insert calls/s",
         "batches sampled", "sample calls/s", "sampled items/s"], rows)

  print("### Where an actor's time goes (us per env step, share of the "
        "actor's loop time)\n")
  keys = [("act_s", "policy"), ("env_s", "env stepping"),
          ("adder_s", "adder (n-step)"),
          ("insert_send_s", "insert stacking + sends"),
          ("insert_wait_s", "insert replies (read one call later) + "
                            "limiter waits"),
          ("params_s", "parameter polls + fetches"), ("other_s", "other")]
  columns = [(f"on-{n}", on[n]["split"]) for n in counts if _ok(on.get(n))]
  columns += [(f"off-{n}", off[n]["split"]) for n in counts
              if _ok(off.get(n))]
  rows = []
  for key, name in keys + [("total_s", "total")]:
    cells = []
    for _, split in columns:
      if key not in split:
        cells.append("(in other)")
      else:
        share = "" if key == "total_s" else (
            f" ({pct(split[key] / split['total_s'])})")
        cells.append(f"{us(split[key])}{share}")
    rows.append([name] + cells)
  table(["per env step"] + [c for c, _ in columns], rows)
  print("(on-N: the CLI's summary has policy, env and insert wait "
        "(ActorReplay.wait_seconds: reading the previous insert's reply "
        "before the next is sent, and limiter waits); adder, insert "
        "stacking and sends and parameter fetches are in \"other\" there. "
        "off-N: the same loop with every part timed, the limiter off.)\n")

  p = out.get("probe")
  if _ok(p):
    lat, calls = p["latency"], p["calls"]
    print("### Parameter-update latency (idle Ray; median, p10-p90 over "
          f"{lat['total_s']['n']} repetitions; "
          f"{lat['params_bytes'] / 1024:.0f} KiB of parameters)\n")
    table(["step", "median ms", "p10-p90 ms"],
          [[name, ms(lat[key]["median"]),
            f"{ms(lat[key]['p10'])}-{ms(lat[key]['p90'])}"]
           for key, name in (
               ("put_s", "learner: device_get + ray.put"),
               ("publish_s", "coordinator.publish round trip"),
               ("fetch_s", "actor: latest_params + ray.get(ref) + "
                           "device_put"),
               ("total_s", "put to usable in the actor"))])
    print(f"An actor polls every {lat['poll_interval_s'] * 1e3:.0f} ms, so "
          "a new version is in use on average "
          f"{ms(lat['total_s']['median'] + lat['poll_interval_s'] / 2)} ms "
          "after the learner's put (plus the rest of the step in progress)."
          "\n")
    print("### Replay server, cost per call (one at a time: client round "
          f"trip; {calls['reps']} pipelined: wall per call, and the server "
          "process's CPU time per call = its work, which bounds its "
          "capacity)\n")
    rows = []
    for key, name in (
        ("empty", "empty (stats)"),
        ("insert", f"insert, {calls['items_per_insert']} transitions "
                   "stacked (the actors' call)"),
        ("sample", f"sample, {p['spec']['batch_size']} transitions"),
        ("sample_priorities",
         f"sample carrying {p['spec']['batch_size']} new priorities (the "
         "learner's one call per update)"),
        ("priorities", f"update_priorities alone, {p['spec']['batch_size']} "
                       "(part of the call above; not called remotely)")):
      server_s = calls[f"{key}_cpu_s"]
      rt = calls.get(f"{key}_round_trip_s")
      rows.append([name, ms(rt["median"]) if rt else "-",
                   ms(calls[f"{key}_wall_s"]), ms(server_s),
                   fmt(1 / server_s, ",.0f") if server_s else "-",
                   ms(calls.get(f"in_process_{key}_s"))])
    table(["call", "round trip ms (median)", "pipelined wall ms",
           "server CPU ms", "calls/s at 100% server CPU",
           "same call without Ray ms"], rows)
    learner_call = ("sample call carrying the previous batch's priorities"
                    if p["spec"].get("prioritized", True) else "sample call")
    print(f"Mixed as the learner-on ratio asks (per learner update: one "
          f"{learner_call} and "
          f"{_fraction(p['spec']['batch_size'] / p['spec']['samples_per_insert'] / calls['items_per_insert'])}"
          f" of an insert of {calls['items_per_insert']} stacked items, i.e. "
          f"one insert per {calls['mixed_updates_per_insert']} updates), "
          f"{calls['mixed_updates']} updates pipelined: server CPU "
          f"{ms(calls['mixed_cpu_per_update_s'])} ms, wall "
          f"{ms(calls['mixed_wall_per_update_s'])} ms per update.\n")
    if calls["samples_refused"]:
      print(f"(the limiter refused {calls['samples_refused']} sample calls)\n")

  m = out.get("model")
  if m:
    _print_model(m, out["cpu_count"])


def _print_model(m: Mapping[str, Any], cpu_count: int | None) -> None:
  i = m["inputs"]
  sp = i["one_actor_split_s_per_step"]
  n = m["num_actors"]
  spu = i["batch_size"] / i["samples_per_insert"]
  insert_share = _fraction(spu / i["items_per_insert"])
  learner_call = ("one sample call carrying the previous batch's new "
                  "priorities" if i.get("prioritized", True)
                  else "one sample call")
  print(f"### Model: {n} actors on a machine with >= {n + 1} cores\n")
  print(f"THIS IS A MODEL, NOT A MEASUREMENT: this machine has {cpu_count} "
        f"cores, so {n} actors cannot be measured here. It predicts from "
        f"the profile measured above, assuming the {n} actors, the replay "
        "server and the learner each have a core of their own (with "
        f"{n + 1} cores two of them share one).\n")
  print("Inputs (measured in this session):")
  print(f"- one actor, learner off: {i['one_actor_steps_per_second']:,.0f} "
        f"steps/s = {us(sp['total_s'])} us per step: policy "
        f"{us(sp['act_s'])}, env {us(sp['env_s'])}, adder "
        f"{us(sp['adder_s'])}, insert stacking + sends "
        f"{us(sp['insert_send_s'])}, insert replies (read one call later) "
        f"{us(sp['insert_wait_s'])}, parameter polls {us(sp['params_s'])}, "
        f"other {us(sp['other_s'])}")
  print(f"- its cycle: {i['items_per_insert']} steps, then it reads the "
        f"previous insert's reply and sends the next insert = "
        f"{ms(i['actor_cycle_s'])} ms, of which its own work "
        f"{ms(i['actor_work_s'])} ms (scales with cores) and waiting for "
        f"the reply {ms(i['actor_wait_s'])} ms; an insert's reply takes "
        f"the server's work {ms(i['insert_server_s'])} ms plus "
        f"{ms(i['insert_latency_s'])} ms of transport (its round trip less "
        "that work), in parallel with the actor's next "
        f"{i['items_per_insert']} steps")
  print(f"- replay server work per call (CPU): insert "
        f"{ms(i['insert_server_s'])} ms, sample carrying priorities "
        f"{ms(i['sample_priorities_server_s'])} ms (its parts: sample "
        f"{ms(i['sample_server_s'])} ms, update_priorities "
        f"{ms(i['priorities_server_s'])} ms); the learner's call's round "
        f"trip {ms(i['learner_call_round_trip_s'])} ms")
  print(f"- limiter: samples_per_insert {i['samples_per_insert']:g}, batch "
        f"{i['batch_size']}: one learner update ({learner_call}) per "
        f"{spu:g} env steps")
  lr = i["learner_updates_per_second"]
  print("- the learner's update rate when not waiting for samples (best "
        "learner-on run here, sharing the cores): "
        f"{fmt(lr, ',.0f') if lr is not None else 'not measured'} updates/s")
  print("\nResult, actors not held back by the learner (learner off, or a "
        "learner that keeps up):")
  print(f"- bound: min({n} x one actor = "
        f"{m['actors_alone_steps_per_second']:,.0f}, server inserting only = "
        f"{m['server_inserts_only_steps_per_second']:,.0f}) = "
        f"{m['bound_steps_per_second']:,.0f} steps/s = "
        f"{m['bound_speedup_over_one_actor']:.2f}x one actor")
  print(f"- the server keeps up with at most "
        f"{m['server_inserts_only_steps_per_second'] / i['one_actor_steps_per_second']:.1f}"
        " actors at one actor's full rate (a faster actor on a bigger "
        "machine lowers this: the server's cost per step is fixed)")
  print(f"- with queueing at the server (approximate mean value analysis, "
        f"{n} actors each with one insert in flight, a cycle = max(own "
        f"work, reply)): {m['predicted_steps_per_second']:,.0f}"
        f" steps/s = {m['predicted_speedup_over_one_actor']:.2f}x one actor "
        f"(an insert's mean reply {ms(m['insert_mean_reply_s'])} ms, "
        f"{m['inserts_at_server_mean']:.1f} inserts at the server on "
        f"average): {'MEETS' if m['meets_six_x'] else 'MISSES'} the >= "
        f"{SIX_X:g}x target")
  print(f"- the server is then {pct(m['server_insert_load'])} busy with "
        f"inserts; the rest serves {m['server_spare_updates_per_second']:,.0f}"
        f" learner updates/s; the limiter would allow "
        f"{m['ratio_updates_per_second']:,.0f}/s and the learner does "
        f"{m['learner_updates_per_second_used']:,.0f}/s: "
        f"{'fits' if m['learner_calls_fit'] else 'DOES NOT FIT'} (server "
        f"load {pct(m['server_total_load'])})")
  print(f"- a learner sample's reply: mean {ms(m['mean_sample_reply_s'])} ms,"
        f" worst case {ms(m['worst_sample_reply_s'])} ms (its priorities "
        "applied in the call, behind at most one insert per actor); the "
        "learner's sample call leaves when the previous update's priorities "
        "are known and is read when the next update starts, so it travels "
        "during one update: the learner is never starved while the limiter "
        "allows sampling as long as an update takes at least the worst "
        f"case: up to {m['never_starved_up_to_updates_per_second']:,.0f}"
        " updates/s")
  print("\nResult, learner on (the limiter ties the actors to the learner):")
  print(f"- per update the server does {learner_call} and {insert_share} of "
        f"an insert of {i['items_per_insert']} stacked items: "
        f"{ms(i['server_s_per_update_parts'])} ms of its CPU as the sum of "
        f"the parts, {ms(i['server_s_per_update_mixed'])} ms measured "
        "mixed; with the larger, at most "
        f"{m['learner_on_server_max_updates_per_second']:,.0f} updates/s = "
        f"{m['learner_on_server_max_updates_per_second'] * spu:,.0f} env "
        "steps/s, whatever the learner and the actors")
  print(f"- predicted with learner on: {m['learner_on_predicted_steps_per_second']:,.0f}"
        f" steps/s; {SIX_X:g}x one actor would need "
        f"{m['six_x_needs_updates_per_second']:,.0f} learner updates/s")
  print("(End of the model: figures above this section are measurements.)")
  print()

# --- main -------------------------------------------------------------------

def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4],
                 help="actor counts (default 1 2 4)")
  p.add_argument("--num-steps", type=int, default=20_000,
                 help="env steps per run, every configuration")
  p.add_argument("--replay", choices=["device", "reverb"], default="device",
                 help="replay backend (reverb needs the .venv python)")
  p.add_argument("--quick", action="store_true",
                 help="a check: actors 1 2, 5,000 steps, fewer repetitions")
  p.add_argument("--python", default=sys.executable,
                 help="interpreter of every run (default: this one)")
  p.add_argument("--publish-interval", type=float, default=0.02,
                 help="learner off: seconds between parameter versions the "
                      "driver publishes (0: only the first)")
  p.add_argument("--latency-reps", type=int, default=50)
  p.add_argument("--call-reps", type=int, default=300)
  p.add_argument("--model-actors", type=int, default=8)
  timing.add_run_args(p, "keep the CLI runs' folders (default: deleted)")
  p.set_defaults(timeout=600.0)
  p.add_argument("--_actors-only", type=int, default=None,
                 help=argparse.SUPPRESS)
  p.add_argument("--_probe", action="store_true", help=argparse.SUPPRESS)
  p.add_argument("--_out", default=None, help=argparse.SUPPRESS)
  args = p.parse_args()

  if args._actors_only is not None or args._probe:  # a child: nothing heavy yet
    if args._probe:
      result = probe(args.replay, args.latency_reps, args.call_reps,
                     args.model_actors)
    else:
      result = actors_only(args._actors_only, args.num_steps, args.replay,
                           args.publish_interval)
    with open(args._out, "w") as f:
      json.dump(result, f, indent=1)
    return

  if args.quick:
    args.actors, args.num_steps = [1, 2], 5_000
    args.latency_reps, args.call_reps = 20, 100
  counts = sorted(set(args.actors))
  timing.require_paths([args.python])
  stamp, log_dir, run_root = timing.start_session(NAME, f"{NAME}-")
  env = timing.child_env()
  env["PYTHONPATH"] = os.pathsep.join(
      [ROOT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
  print(f"{AGENT} on {ENV}: single-process baseline, then actors {counts} "
        f"learner on / learner off, probe, baseline again; "
        f"{args.num_steps:,} steps per run, replay {args.replay}, "
        f"{os.cpu_count()} cores; logs in {os.path.relpath(log_dir, ROOT)}",
        flush=True)
  out: dict[str, Any] = {
      "benchmark": NAME, "time": stamp, "agent": AGENT, "env": ENV,
      "num_steps": args.num_steps, "replay": args.replay,
      "actor_counts": counts, "publish_interval": args.publish_interval,
      "args": vars(args), "relay_git": timing.git_state(),
      "cpu_count": os.cpu_count(), "python": args.python,
      "single": [], "learner_on": [], "learner_off": [], "probe": None,
      "spec": {}}
  started = time.time()
  try:
    def single() -> None:
      r = run_cli(f"single-{len(out['single']) + 1}", "single", 0, args,
                  run_root, log_dir, env)
      out["single"].append(r)
      print(_describe(r), flush=True)

    single()
    for n in counts:
      r = run_cli(f"on-{n}", "distributed", n, args, run_root, log_dir, env)
      out["learner_on"].append(r)
      print(_describe(r), flush=True)
      r = run_child(["--_actors-only", str(n)], f"off-{n}", args, log_dir,
                    env)
      r["num_actors"] = n
      if _ok(r):
        r["actor_steps_per_second"] = sum(
            a.get("steps_per_second", 0.0) for a in r["actors"].values())
        r["split"] = actor_split(r["actors"], (
            "act_s", "env_s", "adder_s", "insert_send_s", "insert_wait_s",
            "params_s"))
        r["split_rate"] = (1.0 / r["split"]["total_s"] * n
                           if r["split"] else None)
      out["learner_off"].append(r)
      print(_describe(r), flush=True)
    r = run_child(["--_probe", "--model-actors", str(args.model_actors)],
                  "probe", args, log_dir, env)
    out["probe"] = r
    print(_describe(r), flush=True)
    single()
  finally:
    if not args.keep_runs:
      shutil.rmtree(run_root, ignore_errors=True)
  out["session_seconds"] = time.time() - started

  singles = [r for r in out["single"] if _ok(r)]
  mean = lambda xs: statistics.mean(xs) if xs else None  # pylint: disable=unnecessary-lambda-assignment
  out["baseline"] = {
      "steps_per_second": mean([r["steps_per_second"] for r in singles]),
      "steady_steps_per_second": mean(
          [r["train_csv"]["steady_steps_per_second"] for r in singles
           if r["train_csv"].get("steady_steps_per_second")])}
  if _ok(out["probe"]):
    out["spec"] = out["probe"]["spec"]
  one = next((r for r in out["learner_off"] if r["num_actors"] == 1), None)
  learner_rates = [r["learner_busy_updates_per_second"]
                   for r in out["learner_on"]
                   if _ok(r) and r.get("learner_busy_updates_per_second")]
  out["model"] = None
  if _ok(one) and one.get("split") and _ok(out["probe"]):
    out["model"] = model(one, out["probe"],
                         max(learner_rates) if learner_rates else None,
                         args.model_actors)
  report(out)
  path = timing.write_results(f"{NAME}-{stamp}", out)
  print(f"session {out['session_seconds']:.0f} s; wrote "
        f"{os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
  main()
