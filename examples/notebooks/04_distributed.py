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
# # Distributed training on Ray
#
# This notebook launches Relay's distributed runner on this machine: Ray
# starts a replay server, a learner, two actor processes, an evaluator and a
# coordinator, and PPO learns CartPole-v1 from the experience the actors
# send. You follow the run's progress live (each actor's environment steps
# per second, the learner's updates, the replay, the evaluations), read the
# run folder it leaves, plot its learning curve with each actor's episodes in
# their own colour, check that no process of the run outlives it, and finally
# stop a second run with Ctrl-C and continue it with `--resume`. It takes a
# minute or so on a 2-core machine, most of it Ray and the processes of the
# three launches starting up.
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
# ## Launching from the command line
#
# A distributed run is started with the same command as every other run,
# `python -m experiments.train --runner distributed ...`, and this notebook
# starts it as a subprocess of the kernel. That is deliberate: before it
# starts any thread, the command line moves itself into a private network
# namespace whose only interface is loopback (what `unshare -rn` does, see
# `experiments/network_isolation.py`), so the ports that a local Ray and a
# Reverb replay server open on every interface cannot be reached from
# outside the machine, whereas Ray started inside this kernel (which already
# runs threads, in the machine's network) would listen on the machine's
# network.
#
# The helpers below start the command in a process group of its own and print
# its output as it arrives. Its progress bar redraws a single line with `\r`,
# which a notebook cannot show, so `launch` prints a snapshot of it at most
# once a second, and every other line as it comes. (With `--no-progress` the
# command prints only its opening lines, the evaluation lines and the final
# summary.)
# `launch` also records the processes the run starts: the command's
# descendants in `/proc`, so that other Ray runs on the same machine are not
# mistaken for this one's. If the cell fails or you interrupt the kernel, its
# `finally` stops the run: first Ctrl-C (the run saves a checkpoint and stops
# its processes), then SIGKILL for whatever is left.

# %%
import collections
import contextlib
import glob
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import types

import matplotlib.pyplot as plt
import pandas as pd

from experiments.distributed import ray_cluster

# Everything the runs write stays in this working folder: the run folders
# (relative --run-dir) and JAX's compilation cache (the command line's
# default cache is ~/.cache/relay/jax).
COMMAND = [sys.executable, "-m", "experiments.train"]
LOCAL_FILES = ["--compilation-cache-dir", "jax_cache"]
PROGRESS_LINE = re.compile(
    r"(\d+)/(\d+) \[([\d:]+)<[^,\]]*, [^,\]]*(?:, (.*))?\]\s*$")
# Ray's own start-up messages (its log lines and notices), not shown.
RAY_NOTICE = re.compile(r"^\[\d{4}-\d\d-\d\d |^Token authentication|"
                        r"RuntimeWarning: os\.fork\(\)|^  self\.pid = ")
RAY_MARKERS = ("ray::", "raylet", "gcs_server", "/ray/")


def process_table():
  """{pid: (parent pid, start time, command line)} of every process."""
  table = {}
  for name in os.listdir("/proc"):
    if name.isdigit():
      try:
        with open(f"/proc/{name}/stat") as f:
          fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{name}/cmdline", "rb") as f:
          command = f.read().replace(b"\0", b" ").decode(errors="replace")
      except OSError:
        continue  # it ended meanwhile
      table[int(name)] = (int(fields[1]), fields[19], command.strip())
  return table


def descendants(root):
  """What `root` started, directly or not: {(pid, start time): command}."""
  table = process_table()
  children = collections.defaultdict(list)
  for pid, (parent, _, _) in table.items():
    children[parent].append(pid)
  found, todo = {}, list(children[root])
  while todo:
    pid = todo.pop()
    found[(pid, table[pid][1])] = table[pid][2]
    todo += children[pid]
  return found


def still_running(processes):
  """Those of `processes` that still exist (same pid, same start time)."""
  table = process_table()
  return {key: command for key, command in processes.items()
          if key[0] in table and table[key[0]][1] == key[1]}


def ray_names(processes):
  """The Ray processes among `processes`, in short."""
  names = collections.Counter()
  for command in processes.values():
    if any(marker in command for marker in RAY_MARKERS):
      words = command.split()
      word = next((w for w in words if w.startswith("ray::") or "/ray/" in w),
                  words[0])
      names[os.path.basename(word)] += 1
  return ", ".join(f"{name} x{n}" if n > 1 else name
                   for name, n in sorted(names.items())) or "none"


def ray_session_folders(launcher_pid):
  """The launcher's Ray session folder (logs, sockets), while it exists."""
  pattern = os.path.join(tempfile.gettempdir(),
                         ray_cluster.SESSION_PREFIX + "*",
                         ray_cluster.OWNER_FILE)
  found = []
  for owner_file in glob.glob(pattern):
    with contextlib.suppress(OSError), open(owner_file) as f:
      if f.read().strip() == str(launcher_pid):
        found.append(os.path.dirname(owner_file))
  return found


def logged_steps(run_dir):
  """The environment step of the last episode in the run's logs/train.csv."""
  try:
    with open(os.path.join(run_dir, "logs", "train.csv")) as f:
      header, *rows = f.read().splitlines()
    return int(rows[-1].split(",")[header.split(",").index("env_steps")])
  except (FileNotFoundError, ValueError, IndexError):
    return 0  # no episode logged yet (or its row is being written)


def launch(*args, snapshot_every=1.0, interrupt_when=None):
  """Runs `python -m experiments.train ARGS`, printing its output as it
  comes; sends it SIGINT (what Ctrl-C sends) once `interrupt_when()` is
  true. Returns its exit code, its output lines (progress snapshots and
  Ray's start-up messages left out) and the processes it started."""
  proc = subprocess.Popen(
      COMMAND + list(args) + LOCAL_FILES, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
      start_new_session=True)
  run = types.SimpleNamespace(pid=proc.pid, returncode=None, lines=[],
                              ray_notices=[], processes={}, interrupted=False)
  pending, shown_at, shown_steps, looked_at = b"", 0.0, None, 0.0
  try:
    while True:
      if select.select([proc.stdout], [], [], 0.2)[0]:
        chunk = os.read(proc.stdout.fileno(), 1 << 16)
        if not chunk:
          break  # the command closed its output: it is ending
        *complete, pending = re.split(rb"[\r\n]", pending + chunk)
        for raw in complete:
          line = raw.decode(errors="replace").rstrip()
          bar = PROGRESS_LINE.search(line)
          if bar is None and RAY_NOTICE.search(line):
            run.ray_notices.append(line)
          elif bar is None and line.strip():
            print(line)
            run.lines.append(line)
          elif bar is not None:
            steps, total = int(bar[1]), int(bar[2])
            if shown_steps is None:
              shown_steps = steps  # the bar's first, empty drawing
            elif steps > shown_steps and (
                time.time() - shown_at >= snapshot_every or steps == total):
              print(f"{steps:>7,}/{total:,} steps  {bar[3]}  {bar[4] or ''}")
              shown_at, shown_steps = time.time(), steps
      elif proc.poll() is not None:
        break
      if interrupt_when and not run.interrupted and interrupt_when():
        print(">>> sending SIGINT (Ctrl-C)")
        proc.send_signal(signal.SIGINT)
        run.interrupted = True
      if time.time() - looked_at >= 1.0:
        run.processes.update(descendants(proc.pid))
        looked_at = time.time()
    run.returncode = proc.wait()
    if run.ray_notices:
      print(f"({len(run.ray_notices)} lines of Ray's start-up messages not "
            "shown; they are in .ray_notices of the result)")
    return run
  finally:
    if proc.poll() is None:  # this cell failed or was interrupted
      proc.send_signal(signal.SIGINT)  # the run checkpoints and stops
      try:
        proc.wait(timeout=30)
      except subprocess.TimeoutExpired:
        pass
      finally:  # then SIGKILL for whatever is left
        left = [pid for pid, _ in still_running(run.processes)]
        for pid in [proc.pid, *left]:
          with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        proc.wait()
    proc.stdout.close()


# A new run never reuses a folder: the time in the names lets this notebook
# run again in the same working folder.
STARTED = time.strftime("%Y%m%d-%H%M%S")


def summary_of(run_dir):
  with open(os.path.join(run_dir, "summary.json")) as f:
    return json.load(f)

# %% [markdown]
# ## A run with two actors
#
# PPO on CartPole-v1 with two actor processes, each stepping 8 environments
# (the PPO preset for CartPole), for 20,000 environment steps, evaluating the
# greedy policy (10 episodes) every 2,500 steps. The run folder is relative,
# so it lands in this notebook's working folder. Ray's session files (logs,
# sockets) go to a folder of the run's own in the system's temporary folder,
# which the run removes when it ends (and keeps, for its logs, if the run
# fails).
#
# The first seconds go to starting Ray and the processes and compiling the
# learner's update; then each progress snapshot shows the steps taken, the
# time since the processes were started, and
#
# - `env`: environment steps per second, all actors together and (in
#   brackets) each actor's own;
# - `learn`: the learner's updates per second (one PPO update per rollout);
# - `replay`: items held by the replay server, with inserts per second and
#   sampled batches per second (PPO's replay is a queue of rollouts, each
#   used once, so it stays nearly empty);
# - `mean10`: the mean return of the last 10 training episodes, `eval` the
#   latest evaluation;
# - `lag`: how many learner updates the parameters the actors act with are
#   behind the newest ones (the actors fetch new parameters without waiting
#   for them).
#
# On a 2-core machine the command warns that two actors and a learner want
# three cores: they share the two.

# %%
RUN = f"runs/ppo-two-actors-{STARTED}"
BUDGET = 20_000
run = launch("--runner", "distributed", "--agent", "ppo",
             "--env", "CartPole-v1", "--num-actors", "2",
             "--num-steps", str(BUDGET),
             "--eval-every", "2500", "--run-dir", RUN)
assert run.returncode == 0, f"the run failed with exit code {run.returncode}"

# %% [markdown]
# ## What the run folder holds
#
# The distributed runner leaves the same run folder as the other runners:
# `config.json`, `logs/train.csv` (one row per episode, with the actor that
# played it), `logs/eval.csv`, `tensorboard/`, `learning_curve.png`,
# `checkpoints/`, `replay/` and `summary.json`. The summary also says where
# each process's time went.

# %%
summary = summary_of(RUN)
extra = summary["extra"]
print(f"{summary['env_steps']:,} environment steps, {extra['episodes']} "
      f"episodes, by {extra['num_actors']} actors in "
      f"{summary['wall_seconds']:.1f} s from launch")
for actor_id, actor in sorted(extra["actors"].items()):
  print(f"  actor {actor_id}: {actor['env_steps']:,} steps at "
        f"{actor['steps_per_second']:,.0f}/s; of its time, acting "
        f"{actor['act_s']:.1f} s, environments {actor['env_s']:.1f} s, "
        f"waiting for the replay server {actor['insert_wait_s']:.1f} s")
learner = extra["learner"]
print(f"  learner: {extra['learner_steps']} updates at "
      f"{learner['updates_per_second']:.1f}/s, its first "
      f"{learner['first_update_s']:.1f} s after it started; "
      f"{learner['sample_wait_s']:.1f} s of {learner['seconds']:.1f} s "
      f"waiting for rollouts")
print(f"  mean parameter lag: {extra['mean_param_lag']:.2f} learner updates")
replay = extra["replay_stats"]
print(f"  replay ({extra['replay']}): {replay['inserted']} rollouts inserted, "
      f"{replay['sampled_batches']} sampled, {replay['size']} left")
print(f"  final evaluation return {summary['final_eval_return'][0]:.1f}")
assert sum(a["env_steps"] for a in extra["actors"].values()) == BUDGET

# %% [markdown]
# ## The learning curve
#
# Each dot is a training episode, coloured by the actor that played it (both
# actors act with the learner's newest parameters, so their returns rise
# together); the black line is the 10-episode mean and the red one the
# greedy evaluations, with their lowest and highest episode shaded. Most runs
# evaluate at 500 (CartPole-v1's maximum) well within this budget, but not
# every one: the actors' timing differs from run to run, and a PPO run can
# also dip again after reaching 500, so the check below asks only for a
# clear sign of learning.

# %%
train = pd.read_csv(os.path.join(RUN, "logs", "train.csv"))
evals = pd.read_csv(os.path.join(RUN, "logs", "eval.csv"))
fig, ax = plt.subplots(figsize=(9, 4.5))
for actor_id, episodes in train.groupby("actor"):
  ax.scatter(episodes["env_steps"], episodes["episode_return"], s=10,
             alpha=0.6, label=f"actor {actor_id} ({len(episodes)} episodes)")
ax.plot(train["env_steps"], train["mean_return_10"], color="black", lw=1,
        label="10-episode mean")
ax.plot(evals["env_steps"], evals["eval_mean_return"], "o-", color="tab:red",
        label="evaluation (greedy, 10 episodes)")
ax.fill_between(evals["env_steps"], evals["eval_min_return"],
                evals["eval_max_return"], color="tab:red", alpha=0.15)
ax.set(xlabel="environment steps", ylabel="episode return",
       title="PPO on CartPole-v1, 2 actors")
ax.legend(loc="upper left", fontsize="small")
plt.show()

best = evals["eval_mean_return"].max()
print(f"best evaluation: {best:.1f} (CartPole-v1's maximum is 500, "
      "random play about 20)")
assert best >= 200, evals  # random play scores about 20
assert set(train["actor"]) == {0, 1}  # both actors' episodes are logged

# %% [markdown]
# ## Nothing left behind
#
# When the run ends, the launcher stops every process it started and shuts
# its Ray down; a small reaper process, started by the command line, ends
# anything still in the run's network namespace once the launcher is gone,
# even if the launcher itself was killed. Here are the Ray processes the run
# had while it trained, and what is left of them now.

# %%
def check_nothing_left(run, wait_s=15.0):
  """Waits up to `wait_s` for every process of `run` to end (the reaper
  takes a moment after the launcher); kills and complains about any left."""
  deadline = time.time() + wait_s
  while still_running(run.processes) and time.time() < deadline:
    time.sleep(0.2)
  left = still_running(run.processes)
  for pid, _ in left:
    with contextlib.suppress(ProcessLookupError):
      os.kill(pid, signal.SIGKILL)
  assert not left, f"processes of the run left behind: {left}"
  assert not ray_session_folders(run.pid), "Ray's session folder left behind"


print(f"while it ran: {len(run.processes)} processes; Ray's: "
      f"{ray_names(run.processes)}")
assert any(c.startswith("ray::ActorWorker") for c in run.processes.values())
check_nothing_left(run)
print(f"now: {len(still_running(run.processes))} of them running, "
      "and no Ray session folder of the run")

# %% [markdown]
# ## Stopping a run early, and resuming it
#
# Ctrl-C sends the launcher SIGINT. The run then stops: the actors finish
# the few hundred steps they were granted and stop, the learner writes a
# checkpoint at the step reached, the logs are closed, every process ends,
# and the command exits with code 130, printing the command that continues
# it. We start a second run with a budget of 30,000 steps and send it SIGINT
# once its log shows an episode past step 2,000 (it stops a little later, at
# the step its actors had reached).

# %%
STOPPED = f"runs/ppo-stopped-{STARTED}"
STOPPED_BUDGET = 30_000
stopped = launch("--runner", "distributed", "--agent", "ppo",
                 "--env", "CartPole-v1", "--num-actors", "2",
                 "--num-steps", str(STOPPED_BUDGET), "--eval-every", "0",
                 "--run-dir", STOPPED,
                 interrupt_when=lambda: logged_steps(STOPPED) >= 2_000)
print("exit code:", stopped.returncode)
assert stopped.returncode == 130, stopped.lines
stopped_at = summary_of(STOPPED)["env_steps"]
checkpoints = sorted(int(name) for name in
                     os.listdir(os.path.join(STOPPED, "checkpoints"))
                     if name.isdigit())
print(f"stopped at step {stopped_at:,}; checkpoints at steps {checkpoints}")
assert summary_of(STOPPED)["interrupted"]
assert 0 < stopped_at < STOPPED_BUDGET and checkpoints[-1] == stopped_at

# %% [markdown]
# `--resume RUN_DIR` continues it: every setting comes from the folder's
# `config.json`, the learner restores its parameters, optimiser state and
# counters from the checkpoint, and the actors take the steps left of the
# budget (`--num-steps` could raise it). The logs continue where they
# stopped, so every episode is logged once. Episodes cut by Ctrl-C are not
# logged: every environment starts a new episode on resuming, so the next
# episodes end only some hundred steps per environment later.

# %%
resumed = launch("--resume", STOPPED)
assert resumed.returncode == 0, resumed.lines
assert any(line.startswith(f"Resumed at step {stopped_at}")
           for line in resumed.lines), resumed.lines
summary = summary_of(STOPPED)
episodes = pd.read_csv(os.path.join(STOPPED, "logs", "train.csv"))
print(f"{stopped_at:,} steps before Ctrl-C + "
      f"{summary['env_steps'] - stopped_at:,} after resuming = "
      f"{summary['env_steps']:,} (budget {STOPPED_BUDGET:,}); "
      f"{len(episodes)} episodes logged, each once")
assert summary["env_steps"] == STOPPED_BUDGET and not summary["interrupted"]
assert list(episodes["episodes"]) == list(range(1, len(episodes) + 1))
assert episodes["env_steps"].is_monotonic_increasing
check_nothing_left(stopped)
check_nothing_left(resumed)

fig, ax = plt.subplots(figsize=(9, 3.5))
before = episodes["env_steps"] <= stopped_at
ax.scatter(episodes["env_steps"][before], episodes["episode_return"][before],
           s=10, label="before Ctrl-C")
ax.scatter(episodes["env_steps"][~before], episodes["episode_return"][~before],
           s=10, label="after --resume")
ax.axvline(stopped_at, color="gray", ls="--")
ax.set(xlabel="environment steps", ylabel="episode return",
       title="One run in two launches")
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# ## On a Ray cluster
#
# The same command runs on an existing Ray cluster: start one with
# `ray start --head` on one machine and `ray start --address HEAD:6379` on
# the others, then add `--ray-address HEAD:6379` to the command above. The
# actors then spread over the cluster's nodes, and the run uses the
# cluster's own ports instead of a private namespace on this machine; with a
# Reverb replay server on another machine it asks for
# `--listen-beyond-loopback` (or use `--replay device`, whose data travels
# only over Ray's connections). More actors than cores only share them, so
# on a 2-core machine like this one two actors are as many as pay off.
