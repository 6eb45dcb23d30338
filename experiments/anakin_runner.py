"""The host side of an all-on-accelerator run: compile the program
(experiments/anakin_program.py) once, call it once per evaluation period,
stream its metrics to the progress bar and the run folder's logs, stop
early, on Ctrl-C or at a NaN loss. Writes the same run folder as the
single-process runner (logs, plot, checkpoints, summary)."""
from __future__ import annotations

import concurrent.futures
import csv
import os
import time
from typing import Any

import jax
import numpy as np

from experiments import anakin_program as program
from experiments import checkpointing
from experiments import plotting
from experiments import run_folder
from experiments import run_logs
from experiments import stopping


def _compile(init_all, lowered_chunk, keys, sharding):
  """Returns (initial state, compiled chunk).

  The chunk's XLA compilation (seconds on a CPU) runs in a second thread,
  while this thread compiles and runs the initialisation: XLA compiles
  without holding Python's lock, so the two overlap. Initialisation runs
  once, so it is compiled with XLA's backend optimisation off, which
  compiles it about twice as fast.
  """
  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    future = pool.submit(lowered_chunk.compile)
    init_compiled = jax.jit(init_all, out_shardings=sharding).lower(
        keys).compile(compiler_options={"xla_backend_optimization_level": 0})
    state = init_compiled(jax.device_put(keys, sharding))
    return state, future.result()


def _fmt(value: float) -> str:
  value = float(value)
  return "-" if np.isnan(value) else f"{value:.6g}"


def final_table(path: str, final_return: np.ndarray, eval_return: np.ndarray,
                steps_to_target: np.ndarray | None) -> str:
  """Writes final_returns.csv (one row per seed); returns it as text."""
  header = ["seed", "mean_return_10", "eval_return"]
  if steps_to_target is not None:
    header.append("steps_to_target")
  rows = []
  for seed in range(len(final_return)):
    row = [str(seed), _fmt(final_return[seed]), _fmt(eval_return[seed])]
    if steps_to_target is not None:
      value = steps_to_target[seed]
      row.append("-" if value < 0 else str(int(value)))
    rows.append(row)
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)
  widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
  lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
  shown = rows if len(rows) <= 20 else rows[:10] + [["..."] * len(header)] + rows[-5:]
  lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in shown]
  with np.errstate(all="ignore"):
    finite = final_return[np.isfinite(final_return)]
  if len(finite):
    lines.append(f"mean {finite.mean():.1f}, min {finite.min():.1f}, "
                 f"max {finite.max():.1f} over {len(finite)} seeds")
  return "\n".join(lines)


def run(config: Any, start_time: float | None = None
        ) -> run_folder.RunSummary:
  """Trains config.num_seeds seeds in one compiled program; see the module
  docstring. Raises RelayError for bad input (before anything is written),
  stopping.TrainingDivergedError at a NaN loss (the logs up to then stay).
  On Ctrl-C it stops after the current period, writes everything and
  returns a summary with interrupted=True."""
  start = time.time() if start_time is None else start_time
  run_logs.check_available(config)  # before minutes of tracing
  env, plan = program.check_config(config)
  devices = program.select_devices(config)
  sharding = program.seed_sharding(devices)
  init, chunk = program._make_program(config, env, plan)  # pylint: disable=protected-access
  init_all = program.over_seeds(lambda key: init(key), config.num_seeds)
  chunk_all = program.over_seeds(lambda state: chunk(state), config.num_seeds)
  keys = program.seed_keys(config.seed, config.num_seeds)
  state_shapes = jax.eval_shape(init_all, keys)
  # Traced and lowered once: its output shapes feed the memory check.
  abstract = jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
      state_shapes)
  lowered_chunk = jax.jit(chunk_all, in_shardings=sharding,
                          out_shardings=sharding, donate_argnums=0).lower(
                              abstract)
  out_shapes = lowered_chunk.out_info
  program.check_memory(config, state_shapes, out_shapes, devices)

  config, run_dir = run_folder.create(config)
  compile_start = time.perf_counter()
  state, compiled = _compile(init_all, lowered_chunk, keys, sharding)
  compile_seconds = time.perf_counter() - compile_start

  metric_names = sorted(k for k in out_shapes[1]
                        if k not in ("env_steps", "mean_return_10", "episodes"))
  logs = run_logs.for_config(config, run_dir)
  num_seeds = config.num_seeds
  bar = None
  if config.progress:
    from tqdm import tqdm  # pylint: disable=g-import-not-at-top
    bar = tqdm(total=plan.total_steps * num_seeds, unit="step",
               unit_scale=True, dynamic_ncols=True,
               desc=f"{config.agent} {config.env} x{num_seeds}")
  history_returns, history_steps = [], []
  reached = np.zeros((num_seeds,), bool)  # seeds that hit the target
  target = config.stop_at_return
  seconds_to_target = None
  stopped_early = interrupted = False
  run_start = time.perf_counter()
  last_eval = np.full((num_seeds,), np.nan)
  done_periods = 0

  def handle(metrics, eval_return) -> bool:
    """Logs one period's results; True when the run should stop."""
    nonlocal seconds_to_target, last_eval, done_periods, reached
    metrics = jax.device_get(metrics)
    eval_return = np.asarray(jax.device_get(eval_return))
    done_periods += 1
    steps = np.asarray(metrics["env_steps"])          # [S, K]
    returns = np.asarray(metrics["mean_return_10"])   # [S, K]
    bad = program.first_nonfinite(np.asarray(metrics["loss"]), steps)
    if bad is not None:
      seed, step = bad
      raise stopping.TrainingDivergedError(
          f"The {config.agent} loss of seed {seed} became NaN/inf by env step "
          f"{step} (the update ending there). Training stopped; the logs up "
          f"to the last good period are in {run_dir}. Lower the learning rate "
          "or the reward scale, or check the environment's rewards.")
    history_returns.append(returns)
    history_steps.append(steps)
    last_eval = eval_return
    rows = []
    for seed in range(num_seeds):
      rows.append({"seed": seed, "env_steps": int(steps[seed, -1]),
                   "episodes": int(metrics["episodes"][seed, -1]),
                   "mean_return_10": float(returns[seed, -1]),
                   **{k: float(np.asarray(metrics[k])[seed, -1])
                      for k in metric_names}})
      logs.train(rows[-1], tensorboard=num_seeds == 1)
      if config.eval_episodes:
        logs.evaluation({"seed": seed, "env_steps": int(steps[seed, -1]),
                         "eval_mean_return": float(eval_return[seed])},
                        tensorboard=num_seeds == 1)
    if num_seeds > 1:  # TensorBoard and W&B get the mean over seeds
      with np.errstate(all="ignore"):
        logs.train({k: float(np.nanmean([r[k] for r in rows]))
                    for k in rows[0] if k != "seed"}, csv=False)
        if config.eval_episodes:
          logs.evaluation({"env_steps": int(steps[0, -1]),
                           "eval_mean_return": float(np.nanmean(eval_return))},
                          csv=False)
    if bar is not None:
      with np.errstate(all="ignore"):
        finite = returns[:, -1][np.isfinite(returns[:, -1])]
      elapsed = time.perf_counter() - run_start
      bar.update(int(steps[:, -1].sum()) - bar.n)
      postfix = {"return10": f"{np.median(finite):.1f}" if len(finite) else "-",
                 "min": f"{finite.min():.1f}" if len(finite) else "-",
                 "sps": f"{bar.n / max(elapsed, 1e-9):,.0f}"}
      if config.eval_episodes:
        postfix["eval"] = f"{np.nanmean(eval_return):.1f}"
      bar.set_postfix(postfix, refresh=False)
    if target is not None and seconds_to_target is None:
      reached |= (np.nan_to_num(returns, nan=-np.inf) >= target).any(axis=1)
      if reached.all():
        seconds_to_target = time.time() - start
        return True
    return False

  pending = None
  try:
    with stopping.StopRequest() as stop_requested:
      for _ in range(plan.num_evals):
        state, metrics, eval_return = compiled(state)
        if pending is not None and handle(*pending):
          pending = (metrics, eval_return)
          stopped_early = True
          break
        pending = (metrics, eval_return)
        if stop_requested():
          interrupted = True
          break
      if pending is not None:
        handle(*pending)
        pending = None
  finally:
    jax.block_until_ready(state)
    run_seconds = time.perf_counter() - run_start
    if bar is not None:
      bar.close()
    logs.close()

  env_steps_done = plan.warmup_steps + done_periods * plan.steps_per_eval
  if history_returns:
    returns = np.concatenate(history_returns, axis=1)
    steps = np.concatenate(history_steps, axis=1)
    env_steps_done = int(steps[0, -1])
  else:
    returns = np.full((num_seeds, 1), np.nan)
    steps = np.zeros((num_seeds, 1), np.int64)
  steps_to_target = (None if target is None
                     else _steps_to_target(returns, steps, target))
  plot_path = plotting.plot_learning_curve(
      logs.train_csv, logs.eval_csv, os.path.join(run_dir, "learning_curve.png"),
      f"{config.agent} on {config.env} ({num_seeds} seed"
      f"{'s' if num_seeds > 1 else ''}, all on {jax.default_backend()})",
      target)
  table = final_table(os.path.join(run_dir, "final_returns.csv"),
                      returns[:, -1], last_eval, steps_to_target)
  checkpoint_dir = _save_state(run_dir, state, env_steps_done)
  steps_per_second = env_steps_done * num_seeds / max(run_seconds, 1e-9)
  summary = run_folder.RunSummary(
      run_dir=run_dir, runner="anakin", agent=config.agent, env=config.env,
      num_seeds=num_seeds, env_steps=env_steps_done,
      final_mean_return=[_none_if_nan(x) for x in returns[:, -1]],
      final_eval_return=[_none_if_nan(x) for x in last_eval],
      steps_to_target=(None if steps_to_target is None else
                       [int(s) if s >= 0 else None for s in steps_to_target]),
      seconds_to_target=seconds_to_target,
      wall_seconds=time.time() - start, steps_per_second=steps_per_second,
      interrupted=interrupted, plot_path=plot_path,
      checkpoint_dir=checkpoint_dir,
      extra={"compile_seconds": compile_seconds, "run_seconds": run_seconds,
             "stopped_early": stopped_early, "table": table})
  summary.write()
  return summary


def _none_if_nan(value: float) -> float | None:
  value = float(value)
  return None if np.isnan(value) else value


def _steps_to_target(mean_return: np.ndarray, env_steps: np.ndarray,
                     target: float) -> np.ndarray:
  """First env step at which each seed's 10-episode mean reached `target`
  ([S, K] arrays); -1 where it never did."""
  with np.errstate(invalid="ignore"):
    reached = mean_return >= target
  first = np.argmax(reached, axis=1)
  hit = reached.any(axis=1)
  return np.where(hit, env_steps[np.arange(len(first)), first], -1)


def _save_state(run_dir: str, state: program.RunnerState, step: int) -> str:
  """The final agent state of every seed (parameters, optimiser state;
  not the replay), with orbax, in checkpoints/."""
  checkpointer = checkpointing.Checkpointer(os.path.join(run_dir, "checkpoints"))
  try:
    checkpointer.save(step, jax.device_get(state.agent), {"env_steps": step})
  finally:
    checkpointer.close()
  return checkpointer.directory
