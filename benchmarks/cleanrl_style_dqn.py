"""CleanRL-style DQN baseline on CartPole-v1, written for comparison with Relay.

This is a standalone, minimal re-implementation of the algorithm in CleanRL's
``dqn_jax.py`` (single environment, uniform replay, hard target-network copy,
linear epsilon-greedy schedule), written with dm-haiku + optax instead of flax.
It serves as the speed baseline in Relay's benchmark. Its hyperparameters are
CleanRL's ``dqn_jax.py`` defaults (network 120-84 ReLU with flax's default
LeCun-normal init, Adam 2.5e-4, buffer 10k, batch 128, target copy every 500
steps, train every 10 steps after 10k learning-starts, epsilon 1.0 -> 0.05 over
half the run, 500k steps).

Time is measured from process launch (``t0`` is taken before any import), so
import and JIT-compilation time count.

Run:
    python benchmarks/cleanrl_style_dqn.py --seed 1
    python benchmarks/cleanrl_style_dqn.py --stop-at-target --verbose

Output:
    REACHED target=475 step=<global_step> seconds=<s>   (once, if reached)
    DONE steps=<n> seconds=<s> steps_per_sec=<n / env-loop time> reached=<bool>
"""

import time

t0 = time.time()  # Before all other imports: import time counts towards "seconds".

import argparse
import collections
import sys
from typing import Callable, Deque, NamedTuple, Tuple

import gymnasium as gym
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax


# --------------------------------------------------------------------------- #
# Command line (CleanRL dqn_jax.py defaults)
# --------------------------------------------------------------------------- #
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--env-id", type=str, default="CartPole-v1")
    p.add_argument("--total-timesteps", type=int, default=500_000)
    p.add_argument("--learning-rate", type=float, default=2.5e-4)
    p.add_argument("--buffer-size", type=int, default=10_000)
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--tau", type=float, default=1.0)
    p.add_argument("--target-network-frequency", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--start-e", type=float, default=1.0)
    p.add_argument("--end-e", type=float, default=0.05)
    p.add_argument("--exploration-fraction", type=float, default=0.5)
    p.add_argument("--learning-starts", type=int, default=10_000)
    p.add_argument("--train-frequency", type=int, default=10)
    p.add_argument("--target", type=float, default=475.0,
                   help="mean of the last 10 episode returns to reach")
    p.add_argument("--stop-at-target", action="store_true",
                   help="exit as soon as the target is reached")
    p.add_argument("--verbose", action="store_true",
                   help="print one line per completed episode")
    return p.parse_args()


# --------------------------------------------------------------------------- #
# Replay buffer: plain numpy ring buffer, uniform sampling with replacement
# --------------------------------------------------------------------------- #
class Batch(NamedTuple):
    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    next_obs: np.ndarray
    done: np.ndarray


class ReplayBuffer:
    def __init__(self, capacity: int, obs_shape: Tuple[int, ...]) -> None:
        self.capacity = capacity
        self.obs = np.zeros((capacity, *obs_shape), dtype=np.float32)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=np.float32)
        self.action = np.zeros((capacity,), dtype=np.int32)
        self.reward = np.zeros((capacity,), dtype=np.float32)
        self.done = np.zeros((capacity,), dtype=np.float32)
        self.pos = 0
        self.full = False

    def add(self, obs: np.ndarray, next_obs: np.ndarray, action: int,
            reward: float, done: bool) -> None:
        i = self.pos
        self.obs[i] = obs
        self.next_obs[i] = next_obs
        self.action[i] = action
        self.reward[i] = reward
        self.done[i] = float(done)
        self.pos = (self.pos + 1) % self.capacity
        self.full = self.full or self.pos == 0

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        upper = self.capacity if self.full else self.pos
        idx = rng.integers(0, upper, size=batch_size)
        return Batch(self.obs[idx], self.action[idx], self.reward[idx],
                     self.next_obs[idx], self.done[idx])


# --------------------------------------------------------------------------- #
# Q-network and learner
# --------------------------------------------------------------------------- #
def make_q_network(num_actions: int) -> hk.Transformed:
    def forward(obs: jnp.ndarray) -> jnp.ndarray:
        # flax.linen.Dense default: LeCun normal (truncated) weights, zero bias.
        w_init = hk.initializers.VarianceScaling(1.0, "fan_in", "truncated_normal")
        return hk.nets.MLP([120, 84, num_actions], w_init=w_init,
                           activation=jax.nn.relu)(obs)

    return hk.without_apply_rng(hk.transform(forward))


class TrainState(NamedTuple):
    params: hk.Params
    target_params: hk.Params
    opt_state: optax.OptState


def make_update_fn(q_net: hk.Transformed, optimizer: optax.GradientTransformation,
                   gamma: float) -> Callable[[TrainState, Batch], Tuple[TrainState, jnp.ndarray]]:
    """One gradient step on the MSE TD loss with a max over target Q-values."""

    def loss_fn(params: hk.Params, target_params: hk.Params, batch: Batch) -> jnp.ndarray:
        q_next = q_net.apply(target_params, batch.next_obs).max(axis=-1)
        td_target = batch.reward + (1.0 - batch.done) * gamma * q_next
        td_target = jax.lax.stop_gradient(td_target)
        q_all = q_net.apply(params, batch.obs)
        q_pred = jnp.take_along_axis(q_all, batch.action[:, None], axis=-1)[:, 0]
        return jnp.mean((q_pred - td_target) ** 2)

    @jax.jit
    def update(state: TrainState, batch: Batch) -> Tuple[TrainState, jnp.ndarray]:
        loss, grads = jax.value_and_grad(loss_fn)(state.params, state.target_params, batch)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return state._replace(params=params, opt_state=opt_state), loss

    return update


def make_greedy_fn(q_net: hk.Transformed) -> Callable[[hk.Params, np.ndarray], jnp.ndarray]:
    @jax.jit
    def greedy(params: hk.Params, obs: jnp.ndarray) -> jnp.ndarray:
        return jnp.argmax(q_net.apply(params, obs), axis=-1)

    return greedy


def linear_schedule(start_e: float, end_e: float, duration: float, t: int) -> float:
    slope = (end_e - start_e) / duration
    return max(slope * t + start_e, end_e)


# --------------------------------------------------------------------------- #
# Training loop
# --------------------------------------------------------------------------- #
def main() -> None:
    args = parse_args()
    np_rng = np.random.default_rng(args.seed)
    key = jax.random.PRNGKey(args.seed)

    env = gym.make(args.env_id)
    obs, _ = env.reset(seed=args.seed)
    env.action_space.seed(args.seed)
    num_actions = int(env.action_space.n)

    q_net = make_q_network(num_actions)
    params = q_net.init(key, jnp.asarray(obs[None], dtype=jnp.float32))
    optimizer = optax.adam(args.learning_rate)
    state = TrainState(params=params,
                       target_params=jax.tree_util.tree_map(jnp.copy, params),
                       opt_state=optimizer.init(params))
    update = make_update_fn(q_net, optimizer, args.gamma)
    greedy = make_greedy_fn(q_net)

    buffer = ReplayBuffer(args.buffer_size, env.observation_space.shape)
    returns: Deque[float] = collections.deque(maxlen=10)
    episode_return = 0.0
    reached = False
    exploration_steps = args.exploration_fraction * args.total_timesteps

    loop_start = time.time()
    global_step = 0
    for global_step in range(args.total_timesteps):
        epsilon = linear_schedule(args.start_e, args.end_e, exploration_steps, global_step)
        if np_rng.random() < epsilon:
            action = int(env.action_space.sample())
        else:
            action = int(jax.device_get(greedy(state.params, obs[None]))[0])

        next_obs, reward, terminated, truncated, _ = env.step(action)
        episode_return += float(reward)
        # done = terminated only: truncation still bootstraps from the real
        # final observation, which gymnasium returns directly as next_obs.
        buffer.add(obs, next_obs, action, float(reward), bool(terminated))
        obs = next_obs

        if terminated or truncated:
            returns.append(episode_return)
            mean10 = float(np.mean(returns))
            if args.verbose:
                print(f"episode step={global_step} return={episode_return:.1f} "
                      f"mean10={mean10:.1f}", flush=True)
            if not reached and len(returns) == returns.maxlen and mean10 >= args.target:
                reached = True
                print(f"REACHED target={args.target:g} step={global_step} "
                      f"seconds={time.time() - t0:.2f}", flush=True)
                if args.stop_at_target:
                    sys.exit(0)
            episode_return = 0.0
            obs, _ = env.reset()

        if global_step > args.learning_starts:
            if global_step % args.train_frequency == 0:
                batch = buffer.sample(np_rng, args.batch_size)
                state, _ = update(state, batch)
            if global_step % args.target_network_frequency == 0:
                state = state._replace(target_params=optax.incremental_update(
                    state.params, state.target_params, args.tau))

    loop_seconds = time.time() - loop_start
    steps = args.total_timesteps
    env.close()
    print(f"DONE steps={steps} seconds={time.time() - t0:.2f} "
          f"steps_per_sec={steps / loop_seconds:.1f} reached={reached}", flush=True)


if __name__ == "__main__":
    main()
