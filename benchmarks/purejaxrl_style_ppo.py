"""PureJaxRL-style PPO baseline on gymnax CartPole-v1, for comparison with Relay.

A standalone re-implementation (not a copy) of the algorithm and default settings
of PureJaxRL's ``purejaxrl/ppo.py`` (Lu et al. 2022, "Discovered Policy
Optimisation"), used to measure Relay's speed against it on the same machine in
the same session:

* gymnax ``CartPole-v1`` (auto-reset; ``done`` includes the 500-step time
  limit, as in gymnax 0.0.x), wrapped in a log wrapper that records the return
  of each finished episode (``returned_episode_returns`` / ``returned_episode``).
* Separate actor and critic MLPs (flax linen), 2 x 64 tanh units each,
  orthogonal init (sqrt(2) hidden, 0.01 actor head, 1.0 critic head), zero
  biases; categorical policy (distrax).
* 4 envs x 128 steps per update, 5e5 total steps (976 updates), GAE
  (gamma 0.99, lambda 0.95) by a reverse ``lax.scan``, 4 epochs x 4 shuffled
  minibatches, clip 0.2, PPO2-style clipped value loss, vf 0.5, entropy 0.01,
  ``optax.chain(clip_by_global_norm(0.5), adam(lr, eps=1e-5))`` with lr 2.5e-4
  annealed linearly to 0 over all updates.
* The whole run (init + ``lax.scan`` over updates) is one ``train(rng)``
  function, ``jax.jit``-ed; several seeds are run as
  ``jax.jit(jax.vmap(train))(rngs)``, as PureJaxRL does. Like PureJaxRL, the
  train function returns the log wrapper's per-step info as its metrics.

Timing: time is measured from process launch, taken from ``/proc/self/stat``
(process start) and ``/proc/uptime``, so interpreter start-up counts; where
``/proc`` is unavailable it falls back to the time at the top of this script
(interpreter start-up before that is then not included). Compile time is
``jax.jit(train).lower(rngs).compile()``; run time is one call of the compiled
function up to ``block_until_ready``.

Install and run (from the repository root):
    .venv-core/bin/pip install --no-deps gymnax==0.0.9   # i.e. pip install gymnax
    .venv-core/bin/python benchmarks/purejaxrl_style_ppo.py
    .venv-core/bin/python benchmarks/purejaxrl_style_ppo.py --num-seeds 8 \
        --json /tmp/purejaxrl_ppo.json

gymnax 0.0.9 has PureJaxRL's API (``step`` returns 5 values), does not pin jax
and works with jax 0.12; its other dependencies (flax, gymnasium, matplotlib,
seaborn) are expected to be present. A plain ``pip install gymnax`` picks
gymnax 1.0.1, which requires jax < 0.12 and would downgrade jax. gymnax 1.x
returns ``terminated`` and ``truncated`` separately; this script accepts that
too (``done`` = either, as in 0.0.x).
``--debug`` adds PureJaxRL's ``DEBUG`` host callback that prints every
finished episode (on by default in PureJaxRL's ``__main__``).
"""

from __future__ import annotations

import os
import time


def _launch_perf_counter() -> tuple[float, bool]:
  """Returns (perf_counter value at process launch, whether /proc was used)."""
  now = time.perf_counter()
  try:
    with open("/proc/uptime") as f:
      uptime = float(f.read().split()[0])
    with open("/proc/self/stat") as f:
      stat = f.read()
    # Fields after "(comm)": state is field 3, starttime (clock ticks after
    # boot) is field 22, i.e. index 19 of the part after the last ")".
    start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
    age = uptime - start_ticks / os.sysconf("SC_CLK_TCK")  # 10 ms resolution
    return now - max(age, 0.0), True
  except (OSError, ValueError, IndexError):
    return now, False


T_LAUNCH, LAUNCH_FROM_PROC = _launch_perf_counter()
T_SCRIPT = time.perf_counter()  # Top of script, before importing jax.

import argparse  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import warnings  # noqa: E402
from typing import Any, Callable, NamedTuple  # noqa: E402

import distrax  # noqa: E402
import flax  # noqa: E402
import flax.linen as nn  # noqa: E402
import gymnax  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import struct  # noqa: E402
from flax.linen.initializers import constant, orthogonal  # noqa: E402
from flax.training.train_state import TrainState  # noqa: E402

T_IMPORTED = time.perf_counter()
GYMNAX_VERSION = getattr(  # 0.0.9 has no __version__.
    gymnax, "__version__", None) or importlib.metadata.version("gymnax")

TARGET_RETURN = 475.0
WINDOW = 10  # Episodes in the moving mean of returns.


# --------------------------------------------------------------------------- #
# Configuration (PureJaxRL ppo.py CartPole defaults)
# --------------------------------------------------------------------------- #
def default_config(total_timesteps: float = 5e5) -> dict[str, Any]:
  return {
      "LR": 2.5e-4,
      "NUM_ENVS": 4,
      "NUM_STEPS": 128,
      "TOTAL_TIMESTEPS": total_timesteps,
      "UPDATE_EPOCHS": 4,
      "NUM_MINIBATCHES": 4,
      "GAMMA": 0.99,
      "GAE_LAMBDA": 0.95,
      "CLIP_EPS": 0.2,
      "ENT_COEF": 0.01,
      "VF_COEF": 0.5,
      "MAX_GRAD_NORM": 0.5,
      "ENV_NAME": "CartPole-v1",
      "ANNEAL_LR": True,
      "DEBUG": False,
  }


# --------------------------------------------------------------------------- #
# Environment wrapper: episode-return logging on top of gymnax's auto-reset
# --------------------------------------------------------------------------- #
@struct.dataclass
class EpisodeLogState:
  env_state: Any
  episode_return: jax.Array  # Running return of the current episode.
  episode_length: jax.Array
  returned_episode_return: jax.Array  # Return of the last finished episode.
  returned_episode_length: jax.Array
  timestep: jax.Array  # Vector-env steps taken so far (per env).


class EpisodeLogWrapper:
  """Tracks per-episode returns; info gets the last finished episode's return.

  ``returned_episode`` in info is True on the step an episode ends, and
  ``returned_episode_returns`` then holds that episode's return (until the
  next episode ends). Observations are flattened, as PureJaxRL's
  FlattenObservationWrapper does (a no-op for CartPole's flat observation).
  """

  def __init__(self, env: Any):
    self._env = env

  def __getattr__(self, name: str) -> Any:
    return getattr(self._env, name)

  def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, EpisodeLogState]:
    obs, env_state = self._env.reset(key, params)
    zero_f, zero_i = jnp.float32(0.0), jnp.int32(0)
    state = EpisodeLogState(env_state, zero_f, zero_i, zero_f, zero_i, zero_i)
    return jnp.reshape(obs, (-1,)), state

  def step(
      self, key: jax.Array, state: EpisodeLogState, action: jax.Array, params: Any
  ) -> tuple[jax.Array, EpisodeLogState, jax.Array, jax.Array, dict[str, jax.Array]]:
    out = self._env.step(key, state.env_state, action, params)
    if len(out) == 6:  # gymnax >= 1.0: (obs, state, reward, term, trunc, info).
      obs, env_state, reward, terminated, truncated, info = out
      done = jnp.logical_or(terminated, truncated)
      info = {k: v for k, v in info.items()
              if k not in ("terminated", "truncated", "final_observation")}
    else:  # gymnax 0.0.x (PureJaxRL's API): done includes the time limit.
      obs, env_state, reward, done, info = out
    ret = state.episode_return + reward
    length = state.episode_length + 1
    not_done = 1 - done
    new_state = EpisodeLogState(
        env_state=env_state,
        episode_return=ret * not_done,
        episode_length=length * not_done,
        returned_episode_return=jnp.where(done, ret, state.returned_episode_return),
        returned_episode_length=jnp.where(done, length, state.returned_episode_length),
        timestep=state.timestep + 1,
    )
    info = dict(info)
    info["returned_episode_returns"] = new_state.returned_episode_return
    info["returned_episode_lengths"] = new_state.returned_episode_length
    info["timestep"] = new_state.timestep
    info["returned_episode"] = done
    return jnp.reshape(obs, (-1,)), new_state, reward, done, info


# --------------------------------------------------------------------------- #
# Network: separate actor and critic MLPs
# --------------------------------------------------------------------------- #
def _dense(features: int, scale: float) -> nn.Dense:
  return nn.Dense(features, kernel_init=orthogonal(scale), bias_init=constant(0.0))


class ActorCritic(nn.Module):
  num_actions: int

  @nn.compact
  def __call__(self, obs: jax.Array) -> tuple[distrax.Categorical, jax.Array]:
    hidden_scale = float(np.sqrt(2.0))
    a = nn.tanh(_dense(64, hidden_scale)(obs))
    a = nn.tanh(_dense(64, hidden_scale)(a))
    logits = _dense(self.num_actions, 0.01)(a)
    c = nn.tanh(_dense(64, hidden_scale)(obs))
    c = nn.tanh(_dense(64, hidden_scale)(c))
    value = _dense(1, 1.0)(c)
    return distrax.Categorical(logits=logits), jnp.squeeze(value, axis=-1)


class Transition(NamedTuple):
  done: jax.Array
  action: jax.Array
  value: jax.Array
  reward: jax.Array
  log_prob: jax.Array
  obs: jax.Array
  info: dict[str, jax.Array]


# --------------------------------------------------------------------------- #
# Training function (one jit-able function of the PRNG key)
# --------------------------------------------------------------------------- #
def make_train(config: dict[str, Any]) -> Callable[[jax.Array], dict[str, Any]]:
  num_envs, num_steps = config["NUM_ENVS"], config["NUM_STEPS"]
  num_minibatches, epochs = config["NUM_MINIBATCHES"], config["UPDATE_EPOCHS"]
  num_updates = int(config["TOTAL_TIMESTEPS"]) // num_steps // num_envs
  batch_size = num_envs * num_steps
  assert batch_size % num_minibatches == 0
  config["NUM_UPDATES"] = num_updates
  config["MINIBATCH_SIZE"] = batch_size // num_minibatches

  base_env, env_params = gymnax.make(config["ENV_NAME"])
  env = EpisodeLogWrapper(base_env)
  network = ActorCritic(base_env.action_space(env_params).n)
  gamma, lam, clip_eps = config["GAMMA"], config["GAE_LAMBDA"], config["CLIP_EPS"]

  def lr_schedule(count: jax.Array) -> jax.Array:
    # optax counts gradient steps; anneal once per update (epochs x minibatches).
    frac = 1.0 - (count // (num_minibatches * epochs)) / num_updates
    return config["LR"] * frac

  lr = lr_schedule if config["ANNEAL_LR"] else config["LR"]
  tx = optax.chain(
      optax.clip_by_global_norm(config["MAX_GRAD_NORM"]),
      optax.adam(learning_rate=lr, eps=1e-5),
  )

  def loss_fn(
      params: Any, batch: Transition, advantages: jax.Array, targets: jax.Array
  ) -> tuple[jax.Array, tuple[jax.Array, jax.Array, jax.Array]]:
    pi, value = network.apply(params, batch.obs)
    log_prob = pi.log_prob(batch.action)
    # PPO2-style clipped value loss.
    value_clipped = batch.value + jnp.clip(value - batch.value, -clip_eps, clip_eps)
    value_loss = 0.5 * jnp.maximum(
        jnp.square(value - targets), jnp.square(value_clipped - targets)).mean()
    # Clipped surrogate objective with per-minibatch advantage normalisation.
    ratio = jnp.exp(log_prob - batch.log_prob)
    adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    actor_loss = -jnp.minimum(
        ratio * adv, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv).mean()
    entropy = pi.entropy().mean()
    total = actor_loss + config["VF_COEF"] * value_loss - config["ENT_COEF"] * entropy
    return total, (value_loss, actor_loss, entropy)

  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

  def gae(traj: Transition, last_value: jax.Array) -> tuple[jax.Array, jax.Array]:
    def backward(carry: tuple[jax.Array, jax.Array], t: Transition):
      next_adv, next_value = carry
      not_done = 1.0 - t.done
      delta = t.reward + gamma * next_value * not_done - t.value
      adv = delta + gamma * lam * not_done * next_adv
      return (adv, t.value), adv

    # unroll=16 as in PureJaxRL.
    _, advantages = jax.lax.scan(
        backward, (jnp.zeros_like(last_value), last_value), traj,
        reverse=True, unroll=16)
    return advantages, advantages + traj.value

  def train(rng: jax.Array) -> dict[str, Any]:
    rng, init_rng, reset_rng = jax.random.split(rng, 3)
    obs_shape = base_env.observation_space(env_params).shape
    params = network.init(init_rng, jnp.zeros(obs_shape))
    train_state = TrainState.create(apply_fn=network.apply, params=params, tx=tx)
    obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_rng, num_envs), env_params)

    def update_step(runner, _):
      def env_step(runner, _):
        train_state, env_state, obs, rng = runner
        rng, act_rng, step_rng = jax.random.split(rng, 3)
        pi, value = network.apply(train_state.params, obs)
        action = pi.sample(seed=act_rng)
        log_prob = pi.log_prob(action)
        next_obs, env_state, reward, done, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(step_rng, num_envs), env_state, action, env_params)
        transition = Transition(done, action, value, reward, log_prob, obs, info)
        return (train_state, env_state, next_obs, rng), transition

      runner, traj = jax.lax.scan(env_step, runner, None, num_steps)
      train_state, env_state, last_obs, rng = runner
      _, last_value = network.apply(train_state.params, last_obs)
      advantages, targets = gae(traj, last_value)

      def epoch(carry, _):
        train_state, rng = carry
        rng, perm_rng = jax.random.split(rng)
        perm = jax.random.permutation(perm_rng, batch_size)
        # Flatten (steps, envs) -> batch, shuffle, split into minibatches.
        flat = jax.tree.map(
            lambda x: x.reshape((batch_size,) + x.shape[2:]),
            (traj, advantages, targets))
        minibatches = jax.tree.map(
            lambda x: jnp.take(x, perm, axis=0).reshape(
                (num_minibatches, -1) + x.shape[1:]),
            flat)

        def minibatch_step(train_state, mb):
          (loss, aux), grads = grad_fn(train_state.params, *mb)
          return train_state.apply_gradients(grads=grads), (loss, aux)

        train_state, losses = jax.lax.scan(minibatch_step, train_state, minibatches)
        return (train_state, rng), losses

      (train_state, rng), _ = jax.lax.scan(
          epoch, (train_state, rng), None, epochs)
      metric = traj.info  # Per-step log info, (num_steps, num_envs) leaves.

      if config["DEBUG"]:
        def print_episodes(info: dict[str, np.ndarray]) -> None:
          finished = info["returned_episode"]
          returns = info["returned_episode_returns"][finished]
          steps = info["timestep"][finished] * num_envs
          for s, r in zip(steps, returns):
            print(f"global step={s}, episodic return={r}")

        jax.debug.callback(print_episodes, metric)

      return (train_state, env_state, last_obs, rng), metric

    rng, loop_rng = jax.random.split(rng)
    runner = (train_state, env_state, obs, loop_rng)
    runner, metrics = jax.lax.scan(update_step, runner, None, num_updates)
    return {"runner_state": runner, "metrics": metrics}

  return train


# --------------------------------------------------------------------------- #
# Learning-curve analysis (host side, numpy)
# --------------------------------------------------------------------------- #
def analyse_seed(finished: np.ndarray, returns: np.ndarray, num_envs: int,
                 window: int = WINDOW, target: float = TARGET_RETURN) -> dict[str, Any]:
  """Episode statistics for one seed from (updates, steps, envs) metrics.

  The moving mean covers the last ``window`` finished episodes (all envs,
  in order of env steps; within a vector step in env order). The env step of
  an episode end is the number of env transitions taken so far, i.e.
  (vector step index + 1) * num_envs.
  """
  num_updates, num_steps, _ = finished.shape
  flat_done = finished.reshape(num_updates * num_steps, num_envs)
  flat_ret = returns.reshape(num_updates * num_steps, num_envs)
  t_idx, e_idx = np.nonzero(flat_done)  # Row-major: by step, then env.
  ep_returns = flat_ret[t_idx, e_idx].astype(np.float64)
  ep_steps = (t_idx + 1) * num_envs
  # Per-update mean of the returns of the episodes that ended in that update.
  per_update = np.full(num_updates, np.nan)
  upd = t_idx // num_steps
  sums = np.bincount(upd, weights=ep_returns, minlength=num_updates)
  counts = np.bincount(upd, minlength=num_updates)
  has = counts > 0
  per_update[has] = sums[has] / counts[has]
  # Moving mean of the last `window` episodes, defined once `window` ended.
  if len(ep_returns) >= window:
    csum = np.concatenate([[0.0], np.cumsum(ep_returns)])
    moving = (csum[window:] - csum[:-window]) / window
    moving_steps = ep_steps[window - 1:]
  else:
    moving, moving_steps = np.zeros(0), np.zeros(0, dtype=np.int64)
  hit = np.nonzero(moving >= target)[0]
  return {
      "episodes": int(len(ep_returns)),
      "per_update_mean_return": per_update,
      "moving_mean": moving,
      "moving_mean_steps": moving_steps,
      "steps_to_target": int(moving_steps[hit[0]]) if len(hit) else None,
      "final_moving_mean": float(moving[-1]) if len(moving) else float("nan"),
  }


# --------------------------------------------------------------------------- #
# Main
# --------------------------------------------------------------------------- #
def parse_args() -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--num-seeds", type=int, default=1,
                 help="seeds run in parallel with jax.vmap (1: no vmap)")
  p.add_argument("--total-timesteps", type=float, default=5e5)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--debug", action="store_true",
                 help="PureJaxRL's DEBUG callback: print every finished episode")
  p.add_argument("--json", type=str, default=None, help="write results here")
  return p.parse_args()


def main() -> None:
  args = parse_args()
  config = default_config(args.total_timesteps)
  config["DEBUG"] = args.debug
  train = make_train(config)
  num_envs, num_seeds = config["NUM_ENVS"], args.num_seeds
  steps_per_seed = config["NUM_UPDATES"] * config["NUM_STEPS"] * num_envs

  # PureJaxRL: jax.jit(make_train(config))(rng) for one seed,
  # jax.jit(jax.vmap(make_train(config)))(rngs) for several.
  rng = jax.random.PRNGKey(args.seed)
  if num_seeds == 1:
    fn, rngs = train, rng
  else:
    fn, rngs = jax.vmap(train), jax.random.split(rng, num_seeds)

  t = time.perf_counter()
  compiled = jax.jit(fn).lower(rngs).compile()
  compile_s = time.perf_counter() - t

  t = time.perf_counter()
  out = jax.block_until_ready(compiled(rngs))
  run_s = time.perf_counter() - t

  metrics = jax.device_get(out["metrics"])
  finished = np.asarray(metrics["returned_episode"])
  returns = np.asarray(metrics["returned_episode_returns"])
  metrics_bytes = sum(np.asarray(x).nbytes for x in jax.tree.leaves(metrics))
  if num_seeds == 1:
    finished, returns = finished[None], returns[None]
  seeds = [analyse_seed(finished[i], returns[i], num_envs) for i in range(num_seeds)]

  import_s = T_IMPORTED - T_LAUNCH
  startup_s = T_SCRIPT - T_LAUNCH
  for s in seeds:
    s["time_to_target_s"] = (
        None if s["steps_to_target"] is None else
        import_s + compile_s + run_s * s["steps_to_target"] / steps_per_seed)

  print(f"versions: jax {jax.__version__}, flax {flax.__version__}, "
        f"distrax {distrax.__version__}, optax {optax.__version__}, "
        f"gymnax {GYMNAX_VERSION}, "
        f"backend {jax.default_backend()}")
  print(f"config: num_seeds={num_seeds} seed={args.seed} "
        f"updates={config['NUM_UPDATES']} steps_per_seed={steps_per_seed} "
        f"debug={args.debug} "
        f"metrics_bytes={metrics_bytes}")
  print(f"import_s={import_s:.2f} (interpreter startup {startup_s:.2f}, "
        f"launch from {'/proc' if LAUNCH_FROM_PROC else 'script top'})")
  print(f"compile_s={compile_s:.2f}")
  print(f"run_s={run_s:.2f} steps_per_s_per_seed={steps_per_seed / run_s:.0f} "
        f"steps_per_s_total={num_seeds * steps_per_seed / run_s:.0f}")
  # A few points of the per-update mean episode return (mean over seeds).
  per_update = np.stack([s["per_update_mean_return"] for s in seeds])
  with warnings.catch_warnings():  # Updates with no finished episode: NaN.
    warnings.simplefilter("ignore", RuntimeWarning)
    curve = np.nanmean(per_update, axis=0)
  marks = np.unique(np.linspace(0, config["NUM_UPDATES"] - 1, 11).astype(int))
  print("per-update mean episode return (mean over seeds): " + ", ".join(
      f"{(u + 1) * config['NUM_STEPS'] * num_envs}:{curve[u]:.1f}" for u in marks))
  for i, s in enumerate(seeds):
    tt = s["time_to_target_s"]
    print(f"seed[{i}]: episodes={s['episodes']} "
          f"steps_to_{TARGET_RETURN:.0f}={s['steps_to_target']} "
          f"est_time_to_{TARGET_RETURN:.0f}_s={'n/a' if tt is None else f'{tt:.2f}'} "
          f"final_{WINDOW}ep_mean={s['final_moving_mean']:.1f}")
  reached = [s["time_to_target_s"] for s in seeds if s["time_to_target_s"] is not None]
  if reached:
    print(f"reached {TARGET_RETURN:.0f}: {len(reached)}/{num_seeds} seeds, "
          f"est_time_to_{TARGET_RETURN:.0f}_s median={np.median(reached):.2f}")
  else:
    print(f"reached {TARGET_RETURN:.0f}: 0/{num_seeds} seeds")

  wall_s = time.perf_counter() - T_LAUNCH
  if args.json:
    result = {
        "versions": {"jax": jax.__version__, "flax": flax.__version__,
                     "distrax": distrax.__version__, "optax": optax.__version__,
                     "gymnax": GYMNAX_VERSION},
        "config": {k: v for k, v in config.items()},
        "num_seeds": num_seeds, "seed": args.seed,
        "steps_per_seed": steps_per_seed,
        "startup_s": startup_s, "import_s": import_s, "compile_s": compile_s,
        "run_s": run_s,
        "steps_per_s_per_seed": steps_per_seed / run_s,
        "steps_per_s_total": num_seeds * steps_per_seed / run_s,
        "seeds": [{
            "episodes": s["episodes"],
            "steps_to_target": s["steps_to_target"],
            "time_to_target_s": s["time_to_target_s"],
            "final_moving_mean": s["final_moving_mean"],
            "per_update_mean_return": [
                None if np.isnan(x) else float(x) for x in s["per_update_mean_return"]],
            "moving_mean_steps": s["moving_mean_steps"].tolist(),
            "moving_mean": s["moving_mean"].tolist(),
        } for s in seeds],
        "wall_s_before_json": wall_s,
    }
    with open(args.json, "w") as f:
      json.dump(result, f)
    wall_s = time.perf_counter() - T_LAUNCH
  print(f"wall_s={wall_s:.2f}")


if __name__ == "__main__":
  main()
