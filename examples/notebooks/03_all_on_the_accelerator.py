# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # All on the accelerator: seeds and a hyperparameter grid in one program
#
# Relay's "anakin" runner puts the whole training loop inside one compiled
# JAX program: JAX-native environments stepped in a vectorised `lax.scan`,
# the agent's policy and update, the replay in device memory and the
# bookkeeping of returns. Because a run is then one pure function of its
# random key (and of any hyperparameter you pass it), `jax.vmap` trains many
# runs side by side. This notebook trains PPO on CartPole-v1 for 4 learning
# rates x 16 seeds, 64 runs in one compiled program, times it, and reports
# the result the way Agarwal et al. (2021) recommend: the interquartile mean
# (IQM) over seeds with stratified-bootstrap 95% confidence intervals, for
# the final return and along the learning curves.
#
# Run on Colab: File → Open notebook → GitHub, paste the repository's
# address; run all cells. Locally: see the setup cell.

# %%
# Setup. On Colab this installs Relay (the core profile: newest JAX, no
# Reverb) from its repository; anywhere else Relay must already be installed
# in this kernel's Python, and the error below says how.
import importlib.metadata
import subprocess
import sys

RELAY_SOURCE = "git+https://github.com/relay-rl/relay"  # the repository (or a fork)
try:
  print("Relay", importlib.metadata.version("relay-rl"))
except importlib.metadata.PackageNotFoundError:
  if "google.colab" not in sys.modules:
    raise ModuleNotFoundError(
        f"Relay (relay-rl) is not installed for this kernel's Python "
        f"({sys.executable}). From a checkout of the repository run\n"
        "  python3.12 -m venv .venv-core && .venv-core/bin/pip install "
        "-c constraints-core.txt -e '.[distributed,compare,watch,notebooks]'\n"
        "then start Jupyter from that environment (.venv-core/bin/jupyter lab) "
        "or choose its Python as this notebook's kernel.") from None
  subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                  f"relay-rl[distributed,compare,watch] @ {RELAY_SOURCE}"],
                 check=True)
  print("Relay", importlib.metadata.version("relay-rl"))

# %% [markdown]
# ## Imports
#
# `make_train` builds the compiled program's Python function, `seed_keys`
# the random keys of a batch of seeds, and `interval_estimates` is Relay's
# wrapper around [rliable](https://github.com/google-research/rliable) (the
# library of Agarwal et al.), the same code the comparison tool
# (`python -m experiments.compare`) uses. JAX picks the accelerator if there
# is one; the line below says which device this kernel got.

# %%
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from experiments import interval_estimates
from experiments.anakin_program import make_train, seed_keys
from experiments.config import default_config

print("JAX", jax.__version__, "on", jax.devices())

# %% [markdown]
# ## One run as a pure function
#
# `default_config("ppo", "CartPole-v1", runner="anakin")` is PPO with its
# tuned CartPole preset (8 environments x 32 steps per rollout, then 10
# epochs of 8 minibatches: 80 gradient steps per 256 environment steps).
# `make_train(config)` returns `train(key, overrides)`: one seed's whole run,
# a pure function. `overrides` maps fields of the agent's config to values
# that may be traced arrays, so a hyperparameter can be an input of the
# program rather than a constant baked into it.
#
# The budget here is 20,000 environment steps per run, small enough for CI
# (CartPole's best possible return is 500; a random policy gets about 22).
# Evaluation episodes are switched off (`eval_episodes=0`): the curves below
# use the training return, the mean of each run's last 10 episodes.

# %%
NUM_STEPS = 20_000   # per run
NUM_SEEDS = 16
LEARNING_RATES = np.array([3e-4, 1e-3, 3e-3, 1e-2])

config = default_config("ppo", "CartPole-v1", runner="anakin",
                        num_steps=NUM_STEPS, eval_every=0, eval_episodes=0)
train = make_train(config)
print(f"{config.runner_setting('num_envs')} environments x "
      f"{config.runner_setting('rollout_length')} steps per rollout; "
      f"preset learning rate {config.ppo.learning_rate:g}")

# %% [markdown]
# ## Seeds x learning rates: two vmaps, one program
#
# The inner `vmap` maps `train` over the seeds' keys (the learning rate held
# fixed), the outer one over the learning rates (the keys held fixed), so
# the output has a leading `[learning rate, seed]` pair of axes. Every
# learning rate sees the same 16 seeds (same initial networks, same
# environment randomness at the start), which makes the comparison paired.
# Compiling once and running once are timed separately: `lower(...).compile()`
# is the XLA compilation, the call afterwards is pure training.

# %%
sweep = jax.vmap(jax.vmap(train, in_axes=(0, None)), in_axes=(None, 0))
keys = seed_keys(0, NUM_SEEDS)
overrides = {"learning_rate": jnp.asarray(LEARNING_RATES, jnp.float32)}

start = time.perf_counter()
compiled = jax.jit(sweep).lower(keys, overrides).compile()
compile_seconds = time.perf_counter() - start

start = time.perf_counter()
out = jax.block_until_ready(compiled(keys, overrides))
run_seconds = time.perf_counter() - start

returns = np.asarray(out.metrics["mean_return_10"])   # [lr, seed, iteration]
env_steps = np.asarray(out.metrics["env_steps"])[0, 0]  # [iteration], per run
num_runs = returns.shape[0] * returns.shape[1]
total_steps = num_runs * int(env_steps[-1])
print(f"{num_runs} runs ({len(LEARNING_RATES)} learning rates x {NUM_SEEDS} "
      f"seeds) of {int(env_steps[-1]):,} steps: compile {compile_seconds:.1f} s, "
      f"run {run_seconds:.1f} s, {total_steps / run_seconds:,.0f} env steps/s "
      "(learning included)")

# %% [markdown]
# ## Final return per learning rate: IQM with 95% intervals
#
# Each run's score is its last 10-episode mean return. For every learning
# rate, `interval_estimates.final_iqm_interval` takes the scores as a
# `[runs, tasks]` matrix (16 x 1 here) and returns the interquartile mean,
# the mean of the middle half of the runs (robust to a stray seed, yet less
# noisy than the median), with a stratified-bootstrap 95% percentile
# interval: the runs are resampled with replacement 10,000 times and the
# IQM recomputed each time.

# %%
final = returns[:, :, -1]                                # [lr, seed]
assert np.isfinite(final).all(), "every run finished episodes"
intervals = [interval_estimates.final_iqm_interval(scores[:, None], reps=10_000)
             for scores in final]
for lr, scores, interval in zip(LEARNING_RATES, final, intervals):
  print(f"learning rate {lr:.0e}: IQM {interval.point:5.1f} "
        f"[{interval.low:5.1f}, {interval.high:5.1f}]; "
        f"{np.mean(scores >= 475):4.0%} of seeds at 475 or more")

# %%
iqms = np.array([i.point for i in intervals])
errors = np.array([[i.point - i.low for i in intervals],
                   [i.high - i.point for i in intervals]])
jitter = np.random.default_rng(0).uniform(0.9, 1.1, final.shape[1])
fig, ax = plt.subplots(figsize=(6, 4))
for lr, scores in zip(LEARNING_RATES, final):
  ax.scatter(lr * jitter, scores, s=10, color="0.6", zorder=1)
ax.errorbar(LEARNING_RATES, iqms, yerr=errors, fmt="o-", color="C0",
            capsize=4, zorder=2, label=f"IQM, 95% CI ({NUM_SEEDS} seeds)")
ax.axhline(22, color="0.4", linestyle=":", label="random policy (about 22)")
ax.set_xscale("log")
ax.set_xlabel("learning rate")
ax.set_ylabel(f"10-episode mean return at {int(env_steps[-1]):,} steps")
ax.set_title("PPO on CartPole-v1: final return against learning rate")
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# The grey dots are the individual seeds. In this budget too small a
# learning rate has not learnt enough yet, and too large a one keeps up at
# first, then falls behind and spreads out over the seeds; the preset's
# 1e-3 is at the top. Intervals that do not overlap mark differences the 16
# seeds support; overlapping ones are a reason to run more seeds before
# concluding.

# %% [markdown]
# ## Learning curves: IQM band over seeds
#
# `interval_estimates.curve_iqm_interval` does the same at every point of the
# learning curve (`[runs, tasks, steps]` scores; pointwise intervals, 2,000
# bootstrap replicates). The 10-episode mean is undefined until a run's
# first episode ends, so the curves start at the first iteration where every
# run has one.

# %%
complete = np.isfinite(returns).all(axis=(0, 1))
first = int(np.argmax(complete))
assert complete[first:].all() and first < 5, first
fig, ax = plt.subplots(figsize=(7, 4))
for i, lr in enumerate(LEARNING_RATES):
  curve = interval_estimates.curve_iqm_interval(
      returns[i, :, None, first:], reps=2_000)
  ax.plot(env_steps[first:], curve.point, color=f"C{i}",
          label=f"learning rate {lr:.0e}")
  ax.fill_between(env_steps[first:], curve.low, curve.high, color=f"C{i}",
                  alpha=0.2)
ax.set_xlabel("environment steps (per run)")
ax.set_ylabel(f"10-episode mean return (IQM over {NUM_SEEDS} seeds)")
ax.set_title(f"PPO on CartPole-v1, {num_runs} runs in one compiled program")
ax.legend(loc="upper left")
plt.show()

# %% [markdown]
# These checks make CI fail if the program stops learning: the best learning
# rate must reach an IQM of 400 (its IQM is close to 500 here), every
# learning rate must be far above a random policy, and, at this budget, the
# smallest learning rate must be clearly behind the best one (with many more
# steps every learning rate here catches up).

# %%
best = int(np.argmax(iqms))
assert iqms[best] >= 400, iqms
assert (iqms > 100).all(), iqms
if NUM_STEPS <= 20_000:
  assert iqms[0] < iqms[best] - 50, iqms
print(f"best learning rate in this grid: {LEARNING_RATES[best]:.0e}")

# %% [markdown]
# ## Bigger: more steps, more seeds, a GPU
#
# Nothing in the program depends on the sizes above. With `NUM_STEPS =
# 100_000` the same sweep took 29 s to compile and 137 s to run on this
# project's 2-core CPU (with other work running beside it), and every learning
# rate solved the task: an IQM of 500 for all four (1e-2: 15 of 16 seeds at
# 475 or more, the lowest at 451). A budget that still separates the
# settings, as 20,000 steps does, is the one that tells them apart. The
# command line runs one configuration the same way, with a progress bar and
# a run folder (logs, plot, checkpoints):
#
# ```bash
# python -m experiments.train --runner anakin --agent ppo --env CartPole-v1 --num-seeds 64 --num-steps 100000
# python examples/anakin_sweep.py   # 8 seeds, then a learning-rate sweep, from Python
# ```
#
# On a CPU the 64 runs share two cores, so the run time grows in proportion
# to the number of runs. On a GPU the vmapped runs are computed side by side
# on the device, so the same cell can train far more seeds at once (set
# `NUM_SEEDS` to a few hundred, and the intervals above narrow). On Colab:
# Runtime → Change runtime type → GPU, then check the device printed by the
# imports cell. With several accelerators the command line also shards the
# seeds across them (`--num-devices`). The README's "GPU" paragraph (under
# "Figures") names the benchmark commands for measuring this
# (`benchmarks/ppo_cartpole.py --num-seeds N`); no GPU figures have been
# taken for Relay yet.
