"""The host side of an all-on-accelerator run: compile once, call the
compiled chunk once per evaluation period, stream its metrics to the
progress bar and the files, stop early, on Ctrl-C or at a NaN loss."""
from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import time
from typing import Any

import jax
import numpy as np

from building_blocks import errors
from experiments import anakin_config as config_lib
from experiments import anakin_outputs as outputs
from experiments import anakin_runner as runner
from experiments import single_process


@dataclasses.dataclass
class AnakinResult:
  """What a finished (or stopped) run reports; arrays are [num_seeds]."""
  run_dir: str
  final_mean_return: np.ndarray
  final_eval_return: np.ndarray
  steps_to_target: np.ndarray | None
  env_steps_per_seed: int
  compile_seconds: float
  run_seconds: float
  steps_per_second: float
  seconds_to_target: float | None
  stopped_early: bool
  interrupted: bool
  curves_path: str
  plot_path: str
  table_path: str
  table: str
  state: Any = dataclasses.field(repr=False, default=None)


def _prepare_run_dir(config: config_lib.AnakinConfig) -> str:
  run_dir = config.run_dir or runner.default_run_dir(config)
  if os.path.exists(run_dir):
    raise errors.RunDirectoryError(
        f"Run folder {run_dir!r} exists already; Relay never overwrites a "
        "run. Choose another --run-dir.")
  os.makedirs(run_dir)
  with open(os.path.join(run_dir, "config.json"), "w") as f:
    f.write(dataclasses.replace(config, run_dir=run_dir).to_json())
  return run_dir


def _progress_bar(config, total):
  if not config.progress:
    return None
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  return tqdm(total=total, unit="step", unit_scale=True, dynamic_ncols=True,
              desc=f"{config.agent} {config.env} x{config.num_seeds}")


def _compile(init_all, lowered_chunk, keys, sharding):
  """Returns (initial state, compiled chunk).

  The chunk's XLA compilation (seconds on a CPU) runs in a second thread,
  while this thread compiles and runs the initialisation: XLA compiles
  without holding Python's lock, so the two overlap. Initialisation runs
  once, so it is compiled with XLA's backend optimisation off, which
  compiles it about twice as fast.
  """
  lowered = lowered_chunk
  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    future = pool.submit(lowered.compile)
    init_compiled = jax.jit(init_all, out_shardings=sharding).lower(
        keys).compile(compiler_options={"xla_backend_optimization_level": 0})
    state = init_compiled(jax.device_put(keys, sharding))
    return state, future.result()


def _steps_to_target(mean_return: np.ndarray, env_steps: np.ndarray,
                     target: float) -> np.ndarray:
  """First env step at which each seed's 10-episode mean reached `target`
  ([S, K] arrays); -1 where it never did."""
  with np.errstate(invalid="ignore"):
    reached = mean_return >= target
  first = np.argmax(reached, axis=1)
  hit = reached.any(axis=1)
  return np.where(hit, env_steps[np.arange(len(first)), first], -1)


def run(config: config_lib.AnakinConfig,
        launch_time: float | None = None) -> AnakinResult:
  """Trains config.num_seeds seeds; see the module docstring."""
  start = time.time() if launch_time is None else launch_time
  env, plan = runner.check_config(config)
  devices = runner.select_devices(config)
  sharding = runner.seed_sharding(devices)
  init, chunk = runner._make_program(config, env, plan)  # pylint: disable=protected-access
  init_all = runner.over_seeds(lambda key: init(key), config.num_seeds)
  chunk_all = runner.over_seeds(lambda state: chunk(state), config.num_seeds)
  keys = runner.seed_keys(config.seed, config.num_seeds)
  state_shapes = jax.eval_shape(init_all, keys)
  # Traced and lowered once: its output shapes feed the memory check.
  abstract = jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
      state_shapes)
  lowered_chunk = jax.jit(chunk_all, in_shardings=sharding,
                          out_shardings=sharding, donate_argnums=0).lower(
                              abstract)
  out_shapes = lowered_chunk.out_info
  runner.check_memory(config, state_shapes, out_shapes, devices)

  run_dir = _prepare_run_dir(config)
  single_process.enable_compilation_cache(config.compilation_cache_dir)
  compile_start = time.perf_counter()
  state, compiled = _compile(init_all, lowered_chunk, keys, sharding)
  compile_seconds = time.perf_counter() - compile_start

  metric_names = sorted(k for k in out_shapes[1]
                        if k not in ("env_steps", "mean_return_10"))
  curves = outputs.CurveWriter(os.path.join(run_dir, "learning_curves.csv"),
                               metric_names)
  bar = _progress_bar(config, plan.total_steps * config.num_seeds)
  history_returns, history_steps = [], []
  reached = np.zeros((config.num_seeds,), bool)  # seeds that hit the target
  target = config.stop_at_return
  seconds_to_target = None
  stopped_early = interrupted = False
  run_start = time.perf_counter()
  last_eval = np.full((config.num_seeds,), np.nan)
  done_periods = 0

  def handle(metrics, eval_return) -> bool:
    """Logs one period's results; True when the run should stop."""
    nonlocal seconds_to_target, last_eval, done_periods, reached
    metrics = jax.device_get(metrics)
    eval_return = np.asarray(jax.device_get(eval_return))
    done_periods += 1
    steps = np.asarray(metrics["env_steps"])          # [S, K]
    returns = np.asarray(metrics["mean_return_10"])   # [S, K]
    bad = runner.first_nonfinite(np.asarray(metrics["loss"]), steps)
    if bad is not None:
      seed, step = bad
      raise runner.TrainingDivergedError(
          f"The {config.agent} loss of seed {seed} became NaN/inf by env step "
          f"{step} (the update ending there). Training stopped; curves up to "
          f"the last good period are in {run_dir}. Lower the learning rate "
          "or the reward scale, or check the environment's rewards.")
    history_returns.append(returns)
    history_steps.append(steps)
    last_eval = eval_return
    curves.write(steps[:, -1], returns[:, -1], eval_return,
                 {k: np.asarray(metrics[k])[:, -1] for k in metric_names})
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
    with single_process.StopRequest() as stop_requested:
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
    curves.close()

  env_steps_done = done_periods * plan.steps_per_eval
  returns = np.concatenate(history_returns, axis=1) if history_returns else \
      np.full((config.num_seeds, 1), np.nan)
  steps = np.concatenate(history_steps, axis=1) if history_steps else \
      np.zeros((config.num_seeds, 1), np.int64)
  steps_to_target = (None if target is None
                     else _steps_to_target(returns, steps, target))
  plot_path = outputs.plot_seeds(
      curves.path, os.path.join(run_dir, "learning_curve.png"),
      f"{config.agent} on {config.env}", target)
  table_path = os.path.join(run_dir, "final_returns.csv")
  table = outputs.write_table(table_path, returns[:, -1], last_eval,
                              steps_to_target)
  _save_state(run_dir, state, env_steps_done)
  with open(os.path.join(run_dir, "summary.json"), "w") as f:
    json.dump({"compile_seconds": compile_seconds, "run_seconds": run_seconds,
               "env_steps_per_seed": env_steps_done,
               "num_seeds": config.num_seeds,
               "steps_per_second": env_steps_done * config.num_seeds / max(run_seconds, 1e-9),
               "seconds_to_target": seconds_to_target,
               "stopped_early": stopped_early, "interrupted": interrupted},
              f, indent=2)
  return AnakinResult(
      run_dir=run_dir, final_mean_return=returns[:, -1],
      final_eval_return=last_eval, steps_to_target=steps_to_target,
      env_steps_per_seed=env_steps_done, compile_seconds=compile_seconds,
      run_seconds=run_seconds,
      steps_per_second=env_steps_done * config.num_seeds / max(run_seconds, 1e-9),
      seconds_to_target=seconds_to_target, stopped_early=stopped_early,
      interrupted=interrupted, curves_path=curves.path, plot_path=plot_path,
      table_path=table_path, table=table, state=state)


def _save_state(run_dir: str, state: runner.RunnerState, step: int) -> None:
  """The final agent state of every seed (parameters, optimiser, replay),
  with orbax, in checkpoints/."""
  from experiments import checkpointing  # pylint: disable=g-import-not-at-top
  checkpointer = checkpointing.Checkpointer(os.path.join(run_dir, "checkpoints"))
  try:
    checkpointer.save(step, jax.device_get(state.agent), {"env_steps": step})
  finally:
    checkpointer.close()
