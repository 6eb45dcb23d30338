"""The all-on-accelerator ("Anakin") runner: environments, rollouts, replay,
updates and evaluation of many seeds inside one compiled program.

Structure of the program, for one seed (Hessel et al., 2021, "Podracer
architectures for scalable RL"; Lu et al., 2022, PureJaxRL):

  chunk(state) = evaluate(scan(iteration, state, length=iterations_per_eval))
  iteration    = lax.scan of num_envs vmapped env steps with the agent's
                 policy, then the agent's `learn` on that rollout

The seeds are vmapped and the seed axis is sharded across local devices.
Two ways to run it:
- `make_train(config)` returns a pure `train(key, overrides=None)` for one
  seed that runs every chunk in one `lax.scan`: `jax.jit(jax.vmap(train))`
  trains many seeds, and `overrides` (e.g. {"learning_rate": lr}) lets a
  hyperparameter be vmapped too.
- `run(config)` (the CLI) compiles `chunk` once and calls it once per
  evaluation period, streaming the metrics of the previous chunk to the
  progress bar and the logs while the next one runs; it can stop early and
  on Ctrl-C, and stops at the first NaN loss.
"""
from __future__ import annotations

import dataclasses
import datetime
import importlib
import math
import os
from typing import Any, Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from building_blocks import anakin
from building_blocks import errors
from envs import jax_envs
from experiments import anakin_config as config_lib

# Agent name -> module with make_system(config, spec, num_iterations),
# imported on first use (DQN's pulls in the replay library).
SYSTEMS: dict[str, str] = {"ppo": "agents.ppo.anakin",
                           "dqn": "agents.dqn.anakin"}
RETURN_WINDOW = 10  # episodes in the "10-episode mean return"


class TrainingDivergedError(errors.RelayError, FloatingPointError):
  """A loss became NaN or infinite."""


class OutOfMemoryError(errors.RelayError, MemoryError):
  """The run would not fit in device memory."""


class EpisodeWindow(NamedTuple):
  """The returns of the last RETURN_WINDOW finished episodes (oldest first)."""
  returns: chex.Array  # [W] float32
  count: chex.Array    # int32 finished episodes so far

  @classmethod
  def empty(cls) -> "EpisodeWindow":
    return cls(jnp.zeros((RETURN_WINDOW,), jnp.float32),
               jnp.zeros((), jnp.int32))

  def mean(self) -> chex.Array:
    """Mean over the window; NaN before the first episode ends."""
    filled = jnp.minimum(self.count, RETURN_WINDOW)
    valid = jnp.arange(RETURN_WINDOW) >= RETURN_WINDOW - filled
    total = jnp.sum(jnp.where(valid, self.returns, 0.0))
    return jnp.where(filled > 0, total / jnp.maximum(filled, 1), jnp.nan)


def push_episodes(window: EpisodeWindow, done: chex.Array,
                  episode_return: chex.Array) -> EpisodeWindow:
  """Appends the returns of the episodes that ended in a rollout [T, N]
  (in time order, then environment order), keeping the last W."""
  chex.assert_equal_shape([done, episode_return])
  filled = jnp.minimum(window.count, RETURN_WINDOW)
  old_valid = jnp.arange(RETURN_WINDOW) >= RETURN_WINDOW - filled
  values = jnp.concatenate([window.returns, episode_return.reshape(-1)])
  valid = jnp.concatenate([old_valid, done.reshape(-1)])
  # Rank of each valid entry counted from the newest (1 = newest).
  rank = jnp.cumsum(valid[::-1].astype(jnp.int32))[::-1]
  keep = valid & (rank <= RETURN_WINDOW)
  position = jnp.where(keep, RETURN_WINDOW - rank, RETURN_WINDOW)
  returns = jnp.zeros((RETURN_WINDOW,), jnp.float32).at[position].set(
      values.astype(jnp.float32), mode="drop")
  return EpisodeWindow(returns, window.count + jnp.sum(done, dtype=jnp.int32))


class RunnerState(NamedTuple):
  """Everything one seed's program carries from iteration to iteration."""
  agent: Any
  env_state: Any
  observation: chex.ArrayTree
  key: chex.PRNGKey
  episodes: EpisodeWindow
  env_steps: chex.Array


class TrainOutput(NamedTuple):
  """What `train` returns for one seed (add a leading seed axis when vmapped).

  metrics: dict of [num_iterations] arrays, one entry per iteration:
    env_steps, mean_return_10 (NaN until an episode ends), episodes, and the
    agent's learner metrics (loss, ...).
  eval_return: [num_evals] mean greedy return after each evaluation period
    (NaN when eval_episodes is 0).
  """
  state: RunnerState
  metrics: dict[str, chex.Array]
  eval_return: chex.Array


@dataclasses.dataclass(frozen=True)
class Plan:
  """The shape of a run, derived from the config."""
  steps_per_iteration: int
  iterations_per_eval: int
  num_evals: int

  @property
  def num_iterations(self) -> int:
    return self.iterations_per_eval * self.num_evals

  @property
  def steps_per_eval(self) -> int:
    return self.steps_per_iteration * self.iterations_per_eval

  @property
  def total_steps(self) -> int:
    return self.steps_per_iteration * self.num_iterations


def make_environment(config: config_lib.AnakinConfig) -> jax_envs.JaxEnvironment:
  return jax_envs.make(config.env)


def make_plan(config: config_lib.AnakinConfig) -> Plan:
  """Iterations per evaluation and evaluations per run. The step budget is
  rounded down to whole iterations, and the iterations to whole evaluation
  periods (nearest), so every chunk has the same shape."""
  agent_config = config.agent_config()
  steps_per_iteration = agent_config.num_envs * agent_config.rollout_length
  num_iterations = max(1, config.num_steps // steps_per_iteration)
  per_eval = max(1, min(num_iterations,
                        round(config.eval_every / steps_per_iteration)))
  num_evals = max(1, round(num_iterations / per_eval))
  return Plan(steps_per_iteration, per_eval, num_evals)


def _make_system(config: config_lib.AnakinConfig,
                 env: jax_envs.JaxEnvironment, plan: Plan,
                 overrides: dict[str, Any] | None) -> anakin.AnakinSystem:
  agent_config = config.agent_config()
  if overrides:
    unknown = sorted(set(overrides) - {f.name for f in
                                       dataclasses.fields(agent_config)})
    if unknown:
      raise errors.ConfigError(
          f"Cannot override {unknown}: not fields of the {config.agent} config.")
    agent_config = dataclasses.replace(agent_config, **overrides)
  make_system = importlib.import_module(SYSTEMS[config.agent]).make_system
  return make_system(agent_config, env.environment_spec(), plan.num_iterations)


def _make_program(config: config_lib.AnakinConfig,
                  env: jax_envs.JaxEnvironment, plan: Plan):
  """Returns (init(key, overrides), chunk(state, overrides)) for one seed."""

  def init(key: chex.PRNGKey, overrides=None) -> RunnerState:
    system = _make_system(config, env, plan, overrides)
    agent_key, env_key, key = jax.random.split(key, 3)
    env_state, observation = jax.vmap(env.reset)(
        jax.random.split(env_key, system.num_envs))
    return RunnerState(system.init(agent_key), env_state, observation, key,
                       EpisodeWindow.empty(), jnp.zeros((), jnp.int32))

  def iteration(system: anakin.AnakinSystem, state: RunnerState):
    def env_step(carry, keys):
      agent_state, env_state, observation = carry
      action, extras = system.act(agent_state, keys[0], observation)
      env_state, timestep = jax.vmap(env.step)(keys[1:], env_state, action)
      out = (observation, action, timestep, extras)
      return (agent_state, env_state, timestep.observation), out

    key, learn_key, rollout_key = jax.random.split(state.key, 3)
    # All of the rollout's keys in one call ([T, 1 + num_envs]: the
    # policy's, then one per environment), not a chain of small splits
    # inside the loop: the same randomness, vectorised.
    step_keys = jax.random.split(
        rollout_key, (system.rollout_length, 1 + system.num_envs))
    (_, env_state, observation), (obs, action, ts, extras) = jax.lax.scan(
        env_step, (state.agent, state.env_state, state.observation),
        step_keys)
    rollout = anakin.Rollout(
        observation=obs, action=action, reward=ts.reward,
        terminated=ts.terminated, truncated=ts.truncated,
        final_observation=ts.final_observation, extras=extras,
        last_observation=observation)
    agent_state, learner_metrics = system.learn(state.agent, rollout,
                                                learn_key)
    done = jnp.logical_or(ts.terminated, ts.truncated)
    episodes = push_episodes(state.episodes, done, ts.episode_return)
    env_steps = state.env_steps + plan.steps_per_iteration
    metrics = dict(learner_metrics, env_steps=env_steps,
                   mean_return_10=episodes.mean(), episodes=episodes.count)
    return RunnerState(agent_state, env_state, observation, key, episodes,
                       env_steps), metrics

  def evaluate(system: anakin.AnakinSystem, agent_state, key) -> chex.Array:
    """Mean return of eval_episodes greedy episodes (one per env)."""
    num = config.eval_episodes
    reset_key, key = jax.random.split(key)
    env_state, observation = jax.vmap(env.reset)(
        jax.random.split(reset_key, num))

    def step(carry, _):
      env_state, observation, key, total, running = carry
      key, act_key, env_key = jax.random.split(key, 3)
      action = system.evaluation_act(agent_state, act_key, observation)
      env_state, ts = jax.vmap(env.step)(jax.random.split(env_key, num),
                                         env_state, action)
      total = total + jnp.where(running, ts.reward, 0.0)
      running = running & ~(ts.terminated | ts.truncated)
      return (env_state, ts.observation, key, total, running), None

    carry = (env_state, observation, key, jnp.zeros((num,), jnp.float32),
             jnp.ones((num,), bool))
    (_, _, _, total, _), _ = jax.lax.scan(step, carry, None,
                                          length=env.max_episode_steps)
    return jnp.mean(total)

  def chunk(state: RunnerState, overrides=None):
    system = _make_system(config, env, plan, overrides)
    state, metrics = jax.lax.scan(lambda s, _: iteration(system, s), state,
                                  None, length=plan.iterations_per_eval)
    if config.eval_episodes:
      eval_key, key = jax.random.split(state.key)
      state = state._replace(key=key)
      eval_return = evaluate(system, state.agent, eval_key)
    else:
      eval_return = jnp.full((), jnp.nan, jnp.float32)
    return state, metrics, eval_return

  return init, chunk


def check_config(config: config_lib.AnakinConfig
                 ) -> tuple[jax_envs.JaxEnvironment, Plan]:
  """Validates the config, the environment id and the agent/environment
  pair; returns the environment and the run's plan."""
  config.validate()
  env = make_environment(config)
  plan = make_plan(config)
  # Building the system checks the agent/environment pair (e.g. DQN needs
  # discrete actions) and the agent's derived settings.
  _make_system(config, env, plan, None)
  return env, plan


def make_train(config: config_lib.AnakinConfig
               ) -> Callable[..., TrainOutput]:
  """A pure `train(key, overrides=None) -> TrainOutput` for one seed.

  Example:
    train = make_train(default_config("ppo", "CartPole-v1"))
    out = jax.jit(jax.vmap(train))(jax.random.split(jax.random.PRNGKey(0), 8))
    out.metrics["mean_return_10"]  # [8, num_iterations]
  `overrides` maps agent config fields to (possibly traced) values, so a
  hyperparameter can be vmapped: jax.vmap(train, in_axes=(None, 0)).
  """
  env, plan = check_config(config)
  init, chunk = _make_program(config, env, plan)

  def train(key: chex.PRNGKey, overrides=None) -> TrainOutput:
    state = init(key, overrides)

    def body(state, _):
      state, metrics, eval_return = chunk(state, overrides)
      return state, (metrics, eval_return)

    state, (metrics, eval_return) = jax.lax.scan(body, state, None,
                                                 length=plan.num_evals)
    metrics = jax.tree_util.tree_map(
        lambda m: jnp.reshape(m, (plan.num_iterations,) + m.shape[2:]),
        metrics)
    return TrainOutput(state, metrics, eval_return)

  return train


def over_seeds(fn: Callable, num_seeds: int) -> Callable:
  """`fn` mapped over a leading seed axis of every argument and output.

  jax.vmap for several seeds; for one seed the function runs unbatched
  and the axis is removed and added back around it, which XLA compiles
  faster (measured on CPU: about 3 s less for PPO on CartPole) and is
  what a user's jax.jit(train) would compile.
  """
  if num_seeds > 1:
    return jax.vmap(fn)

  def single(*args):
    out = fn(*jax.tree_util.tree_map(lambda x: x[0], args))
    return jax.tree_util.tree_map(lambda x: jnp.expand_dims(x, 0), out)

  return single


def seed_keys(seed: int, num_seeds: int) -> chex.Array:
  """Key of seed i: fold_in(PRNGKey(seed), i), so seed i's run does not
  depend on how many seeds run beside it."""
  base = jax.random.PRNGKey(seed)
  return jax.vmap(lambda i: jax.random.fold_in(base, i))(
      jnp.arange(num_seeds))


def select_devices(config: config_lib.AnakinConfig) -> list[Any]:
  """The devices to shard the seeds over; the seed count must divide."""
  devices = jax.local_devices()
  wanted = config.num_devices or len(devices)
  if wanted > len(devices):
    raise errors.ConfigError(
        f"num_devices is {wanted} but only {len(devices)} local device(s) "
        f"exist ({devices[0].platform}).")
  if config.num_seeds % wanted:
    raise errors.ConfigError(
        f"num_seeds ({config.num_seeds}) does not divide across {wanted} "
        f"devices; use a multiple of {wanted} (e.g. "
        f"{wanted * max(1, math.ceil(config.num_seeds / wanted))}) or "
        f"--num-devices {math.gcd(config.num_seeds, wanted)}.")
  return devices[:wanted]


def seed_sharding(devices: list[Any]) -> jax.sharding.Sharding:
  """Splits the leading (seed) axis of every array across `devices`."""
  mesh = jax.sharding.Mesh(np.asarray(devices), ("seeds",))
  return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seeds"))


def _tree_bytes(tree: Any) -> int:
  return sum(int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize
             for x in jax.tree_util.tree_leaves(tree))


def available_memory(device: Any) -> tuple[int, str]:
  """(bytes, where) free for one device: the accelerator's limit, or the
  host's available RAM for CPU devices (shared by all of them)."""
  try:
    stats = device.memory_stats()
  except Exception:  # pylint: disable=broad-except
    stats = None
  if stats and "bytes_limit" in stats:
    free = stats["bytes_limit"] - stats.get("bytes_in_use", 0)
    return int(free), f"{device.device_kind} memory"
  pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
  return int(pages), "available host RAM"


def check_memory(config: config_lib.AnakinConfig, state_shapes: Any,
                 chunk_out_shapes: Any, devices: list[Any],
                 headroom: float = 0.8) -> int:
  """Estimates the program's memory and refuses runs that cannot fit.

  Estimate per device: the carried state twice (input and output of a
  chunk) plus one chunk's outputs plus one rollout's worth of activations,
  for the seeds that device holds. Returns the estimate in bytes.
  """
  agent_config = config.agent_config()
  state_bytes = _tree_bytes(state_shapes)
  rollout_bytes = (_tree_bytes(state_shapes.observation)
                   * agent_config.rollout_length * 4)
  out_bytes = _tree_bytes(chunk_out_shapes)
  total = 2 * state_bytes + out_bytes + rollout_bytes
  if devices[0].platform == "cpu":
    per_device = total  # CPU devices share the host's RAM
  else:
    per_device = total // len(devices)
  free, where = available_memory(devices[0])
  if per_device > headroom * free:
    gib = 1024 ** 3
    raise OutOfMemoryError(
        f"This run needs about {per_device / gib:.2f} GiB per device "
        f"({config.num_seeds} seeds; state {state_bytes / gib:.2f} GiB, of "
        f"which replay/rollout buffers dominate) but only {free / gib:.2f} "
        f"GiB of {where} is free ({headroom:.0%} usable). Use fewer seeds "
        "(--num-seeds), more devices, or a smaller replay (--dqn.max-replay-size).")
  return total


def default_run_dir(config: config_lib.AnakinConfig) -> str:
  now = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
  return os.path.join("runs", f"anakin-{config.agent}-{config.env}-{now}")


def first_nonfinite(losses: np.ndarray, env_steps: np.ndarray
                    ) -> tuple[int, int] | None:
  """(seed, env_step) of the first non-finite loss in [S, K] arrays."""
  bad = ~np.isfinite(losses)
  if not bad.any():
    return None
  seeds, iters = np.nonzero(bad)
  first = np.argmin(iters)
  return int(seeds[first]), int(env_steps[seeds[first], iters[first]])
