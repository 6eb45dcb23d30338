"""Adders for a batch of environments stepped together: what a host-side
runner writes into replay, by the agent's replay kind.

- "transitions": one `NStepTransitionAdder` per environment (n-step
  transitions, replay/nstep.py); each finished transition is inserted.
- "rollouts": `RolloutAdder` stacks `rollout_length` steps of all
  environments into one time-major `Rollout` and inserts it as one item.

Both take, per step, the actions, the policy's extras, the timestep each
environment returned and, where an episode ended, the FIRST timestep of the
environment's next episode (the runner resets it at once).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import numpy as np

from building_blocks import agent as agent_lib
from building_blocks import types
from replay import adders

Insert = Callable[[Any], None]


class VectorNStepAdder:
  """n-step transitions of each environment, inserted as they complete."""

  def __init__(self, num_envs: int, n_step: int, discount: float,
               insert: Insert):
    sink = lambda transition, priority: insert(transition)  # pylint: disable=unnecessary-lambda-assignment
    self._adders = [adders.NStepTransitionAdder(sink, n_step, discount)
                    for _ in range(num_envs)]

  def start(self, timesteps: Sequence[types.TimeStep]) -> None:
    for adder, timestep in zip(self._adders, timesteps):
      adder.add_first(timestep)

  def add(self, actions: np.ndarray, extras: Any,
          timesteps: Sequence[types.TimeStep],
          restarts: Sequence[types.TimeStep | None]) -> None:
    del extras  # transitions store no policy extras
    for i, (adder, timestep) in enumerate(zip(self._adders, timesteps)):
      adder.add(actions[i], timestep)
      if restarts[i] is not None:
        adder.add_first(restarts[i])

  def reset(self) -> None:
    """Drops the partial windows (an interrupted run's cut-off episodes)."""
    for adder in self._adders:
      adder.reset()


class RolloutAdder:
  """Collects `rollout_length` steps of every environment, then inserts
  them as one time-major `Rollout` [T, N, ...] (see building_blocks/agent.py):
  terminated where an episode ended with discount 0, truncated where it
  ended with discount > 0 (a time limit), final_observation the observation
  each step reached before any reset, last_observation the one after the
  last step."""

  def __init__(self, rollout_length: int, insert: Insert):
    self._length = rollout_length
    self._insert = insert
    self._steps: list[tuple[Any, ...]] = []
    self._observation: np.ndarray | None = None

  def start(self, timesteps: Sequence[types.TimeStep]) -> None:
    self._steps = []
    self._observation = np.stack([t.observation for t in timesteps])

  def add(self, actions: np.ndarray, extras: Any,
          timesteps: Sequence[types.TimeStep],
          restarts: Sequence[types.TimeStep | None]) -> None:
    reward = np.asarray([t.reward for t in timesteps], np.float32)
    ended = np.asarray([t.last() for t in timesteps])
    discount = np.asarray([t.discount for t in timesteps], np.float32)
    final = np.stack([t.observation for t in timesteps])
    self._steps.append((self._observation, actions, reward,
                        ended & (discount == 0), ended & (discount != 0),
                        final, extras))
    self._observation = np.stack([
        r.observation if r is not None else t.observation
        for t, r in zip(timesteps, restarts)])
    if len(self._steps) == self._length:
      columns = list(zip(*self._steps))
      stack = lambda xs: jax.tree_util.tree_map(lambda *x: np.stack(x), *xs)  # pylint: disable=unnecessary-lambda-assignment
      self._insert(agent_lib.Rollout(
          observation=np.stack(columns[0]), action=np.stack(columns[1]),
          reward=np.stack(columns[2]), terminated=np.stack(columns[3]),
          truncated=np.stack(columns[4]), final_observation=np.stack(columns[5]),
          extras=stack(columns[6]), last_observation=self._observation))
      self._steps = []

  def reset(self) -> None:
    """Drops the partial rollout."""
    self._steps = []


def make_adder(spec: agent_lib.ReplaySpec, num_envs: int, rollout_length: int,
               insert: Insert) -> VectorNStepAdder | RolloutAdder:
  """The adder for an agent's replay kind."""
  if spec.kind == "transitions":
    return VectorNStepAdder(num_envs, spec.n_step, spec.discount, insert)
  if spec.kind == "rollouts":
    return RolloutAdder(rollout_length, insert)
  raise ValueError(f"unknown replay kind {spec.kind!r}")


def example_item(agent: agent_lib.Agent, env_spec: Any, num_envs: int,
                 rollout_length: int) -> Any:
  """One replay item (no batch axis) with the shapes and dtypes stored: a
  Transition, or a Rollout [T, N] whose action and extras shapes are what
  the agent's policy returns for N observations."""
  obs = np.zeros(env_spec.observations.shape, env_spec.observations.dtype)
  if agent.replay.kind == "transitions":
    action = np.zeros(env_spec.actions.shape, env_spec.actions.dtype)
    return types.Transition(observation=obs, action=action,
                            reward=np.float32(0), discount=np.float32(0),
                            next_observation=obs)

  def act(key, observations):
    return agent.policy(agent.init(key).params, key, observations, 0, False)

  observations = np.zeros((num_envs,) + obs.shape, obs.dtype)
  actions, extras = jax.eval_shape(act, jax.random.PRNGKey(0), observations)
  lead = (rollout_length, num_envs)
  zeros = lambda shape, dtype: np.zeros(shape, dtype)  # pylint: disable=unnecessary-lambda-assignment
  per_step = lambda x: zeros((rollout_length,) + x.shape, x.dtype)  # pylint: disable=unnecessary-lambda-assignment
  return agent_lib.Rollout(
      observation=zeros(lead + obs.shape, obs.dtype),
      action=per_step(actions), reward=zeros(lead, np.float32),
      terminated=zeros(lead, bool), truncated=zeros(lead, bool),
      final_observation=zeros(lead + obs.shape, obs.dtype),
      extras=jax.tree_util.tree_map(per_step, extras),
      last_observation=observations)
