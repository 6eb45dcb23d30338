"""The agent contract: what an agent provides so that every runner can run it.

An agent is a handful of pure, jittable functions plus a description of the
data it learns from. It never steps an environment, never talks to replay
and never knows which runner drives it. Every runner (the single-process
runner with Reverb or device replay, the all-on-accelerator runner, and
later the distributed launcher) runs any `Agent` with no agent-specific
code:

  state = agent.init(key)
  action[B], extras = agent.policy(state.params, key, obs[B], step, evaluation)
  state, metrics, priorities = agent.update(state, batch, key)

`state` is any pytree with a `params` field (what actors act with).
`policy` is batched: one environment is a batch of one. `step` counts the
environment steps taken so far (for schedules such as epsilon decay);
`evaluation` is a Python bool (the evaluation policy, e.g. greedy).
`extras` is a dict of per-action arrays that on-policy agents store next to
the action (log-probabilities, values); value-based agents return {}.

What `batch` holds depends on `agent.replay.kind`:

- "transitions": a `ReplayBatch` of `replay.batch_size` n-step transitions
  (`types.Transition`, R and Gamma computed by the runner's adder with
  `replay.n_step` and `replay.discount`), sampled uniformly or by priority
  from a buffer of `replay.capacity` items once it holds `replay.min_size`,
  at `replay.samples_per_insert` sampled items per inserted one. `update`
  returns the new priorities of the batch's items (or None).
- "rollouts": a `Rollout` of `rollout_length` steps of `num_envs`
  environments (time-major), produced by the current parameters and
  consumed once, in order (a FIFO queue). `update` returns None priorities.

A runner builds the agent with `make_agent(config, spec, run)` (the factory
registered in `agents/__init__.py`); `run` tells it what the runner will do
(how many environments, how long its rollouts, how many updates in all), so
that e.g. a learning-rate schedule can span the run.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Literal, NamedTuple, Protocol

import chex

from building_blocks import specs

ReplayKind = Literal["transitions", "rollouts"]


class Rollout(NamedTuple):
  """`rollout_length` steps of `num_envs` environments, time-major [T, N].

  observation: what the actor saw; final_observation: what each step reached
  before any reset (differs from the next observation only where the
  episode ended); last_observation [N]: the observation after the last step
  (for bootstrapping); extras: what `policy` returned beside the action.
  """
  observation: chex.ArrayTree
  action: chex.Array
  reward: chex.Array
  terminated: chex.Array
  truncated: chex.Array
  final_observation: chex.ArrayTree
  extras: chex.ArrayTree
  last_observation: chex.ArrayTree


@dataclasses.dataclass(frozen=True)
class ReplaySpec:
  """What an agent learns from, and how it is sampled.

  kind: "transitions" (n-step transitions from a replay buffer) or
    "rollouts" (whole on-policy rollouts, each consumed once, FIFO).
  The other fields matter for "transitions" only:
  n_step, discount: the adder's horizon and gamma (see replay/nstep.py).
  capacity: items kept (the oldest go first); min_size: items stored before
    the first sample; batch_size: items per sample (one `update` call).
  samples_per_insert: sampled items per inserted item that the rate limiter
    keeps (32 with batch 32: one batch per environment step).
  prioritized, priority_exponent: P(i) = p_i^alpha / sum_k p_k^alpha
    (Schaul et al., 2016) instead of uniform sampling.
  """
  kind: ReplayKind
  n_step: int = 1
  discount: float = 1.0
  capacity: int = 1
  min_size: int = 1
  batch_size: int = 1
  samples_per_insert: float = 1.0
  prioritized: bool = False
  priority_exponent: float = 0.6

  @property
  def error_buffer(self) -> float:
    """Rate-limiter slack: samples may run 4 batches ahead or behind."""
    return 4.0 * self.batch_size


@dataclasses.dataclass(frozen=True)
class RunInfo:
  """What the runner will do, for agents whose schedules span the run."""
  num_envs: int
  rollout_length: int
  total_env_steps: int

  @property
  def num_rollouts(self) -> int:
    """Rollouts the run collects (each `num_envs x rollout_length` steps)."""
    return max(1, self.total_env_steps // (self.num_envs * self.rollout_length))


class Agent(NamedTuple):
  """An agent as every runner sees it (see the module docstring)."""
  init: Callable[[chex.PRNGKey], Any]
  policy: Callable[..., tuple[chex.Array, dict[str, chex.Array]]]
  update: Callable[[Any, Any, chex.PRNGKey], tuple[Any, dict[str, chex.Array], Any]]
  replay: ReplaySpec


AgentFactory = Callable[[Any, specs.EnvironmentSpec, RunInfo], Agent]


class ReplayBackend(Protocol):
  """What a runner asks of replay, whichever replay it is (a Reverb table,
  the in-JAX device buffer, a queue for rollouts). Runners never ask which
  backend they hold.

  insert(item, priority): stores one item (a Transition or a Rollout,
    without a batch axis); never blocks.
  insert_many(stacked, count): `insert(item, None)` of `count` items given
    stacked (each leaf with a leading axis of `count`), in order.
  ready(): True when the rate limiter allows one sample now.
  sample(): one batch (transitions: `ReplayBatch` of `batch_size` items;
    rollouts: `ReplayBatch` whose data is the oldest Rollout).
  update_priorities(keys, priorities): new p_i for a sampled batch's keys
    (host keys, uint64 for Reverb); a no-op for uniform replay and queues.
  checkpoint(): writes the contents to the run's replay folder.
  size(): items stored now.
  flush(): makes sure every inserted item can be sampled.
  close(): frees the memory, stops the server; safe to call twice.
  restored: True when it started from a checkpoint.
  description: one line for the run's log (what and where).
  max_priority: the priority new items get (prioritized replay).
  """
  restored: bool
  description: str

  def insert(self, item: Any, priority: float | None = None) -> None: ...
  def insert_many(self, stacked: Any, count: int) -> None: ...
  def ready(self) -> bool: ...
  def sample(self) -> Any: ...
  def update_priorities(self, keys: Any, priorities: Any) -> None: ...
  def checkpoint(self) -> None: ...
  def size(self) -> int: ...
  def flush(self) -> None: ...
  def close(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class Preset:
  """Tuned settings for one environment: fields of the agent's config and
  of the runner's (num_envs, rollout_length)."""
  agent: dict[str, Any] = dataclasses.field(default_factory=dict)
  runner: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class AgentEntry:
  """One line of the agent registry (agents/__init__.py).

  config_cls: the agent's hyperparameter dataclass (with `validate(prefix)`
    and `STATIC_FIELDS`, the fields that cannot be vmapped).
  make_agent: the factory `make_agent(config, spec, run) -> Agent`.
  runner_defaults: num_envs and rollout_length this agent wants when the
    user does not choose.
  presets: per environment id, tuned agent and runner settings.
  runners: the runners this agent fits ("single", "anakin", "distributed");
    another one is refused with `unsupported_reason` before anything is
    written.
  unsupported_reason: why the other runners do not fit (for the error).
  """
  config_cls: type
  make_agent: AgentFactory
  runner_defaults: dict[str, Any]
  presets: dict[str, Preset] = dataclasses.field(default_factory=dict)
  description: str = ""
  runners: tuple[str, ...] = ("single", "anakin", "distributed")
  unsupported_reason: str = ""
