"""The learner every host-side runner uses: any `Agent`'s update, jitted
once, fed from any `ReplayBackend`.

The update is dispatched asynchronously and not waited for: its results
(new priorities, new parameters) are collected at the start of the next
step, so the computation runs on XLA's threads while the actor keeps
stepping the environment; actors then see parameters one update old. An
on-policy agent (replay kind "rollouts") cannot act with stale parameters:
there every update is completed before `step` returns.

The jitted update donates the state and key buffers (updated in place on
an accelerator). What actors act with is a copy made inside the same
program, so a donated buffer is never one an actor still holds.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import threading

import chex
import jax
import jax.numpy as jnp
import numpy as np

from building_blocks import agent as agent_lib


class LearnerState(NamedTuple):
  """What a learner checkpoints: the agent's state and the update RNG."""
  agent: Any
  key: chex.PRNGKey


class Learner:
  """Samples from `replay`, applies `agent.update`, writes priorities back."""

  def __init__(self, agent: agent_lib.Agent, replay: agent_lib.ReplayBackend,
               key: chex.PRNGKey):
    def init(key):
      init_key, update_key = jax.random.split(key)
      state = LearnerState(agent.init(init_key), update_key)
      return state, _copy(state.agent.params)

    def step(state: LearnerState, batch: Any):
      key, update_key = jax.random.split(state.key)
      agent_state, metrics, priorities = agent.update(state.agent, batch,
                                                      update_key)
      return (LearnerState(agent_state, key), metrics, priorities,
              _copy(agent_state.params))

    self._replay = replay
    self._on_policy = agent.replay.kind == "rollouts"
    self._step = jax.jit(step, donate_argnums=0)
    # Initialisation runs once: compiled as one program (op by op it would
    # compile every small op separately, about a second on CPU), without
    # XLA's backend optimisation (about twice as fast to compile).
    self._state, self._params = jax.jit(init).lower(key).compile(
        compiler_options={"xla_backend_optimization_level": 0})(key)
    self._pending: tuple[Any, Any, Any] | None = None
    self._warm_up: threading.Thread | None = None
    self.num_steps = 0

  def warm_up(self, example_batch: Any) -> None:
    """Compiles the update in a background thread, by running it once on
    `example_batch` (shaped like what `replay.sample()` returns) and a copy
    of the state, while the caller goes on (acting, filling replay): XLA
    compiles without holding Python's lock. The first `step` waits for it.
    A batch of other shapes only costs a second compilation."""
    def run():
      jax.block_until_ready(self._step(_copy(self._state),
                                       self._update_input(example_batch)))

    self._warm_up = threading.Thread(target=run, daemon=True,
                                     name="learner-compile")
    self._warm_up.start()

  def step(self) -> dict[str, Any]:
    """One update on one sample; returns its metrics (device arrays)."""
    if self._warm_up is not None:
      self._warm_up.join()
      self._warm_up = None
    batch = self._replay.sample()
    self._complete_previous_step()
    keys = batch.keys
    self._state, metrics, priorities, params = self._step(
        self._state, self._update_input(batch))
    self._pending = (keys, priorities, params)
    self.num_steps += 1
    if self._on_policy:
      self._complete_previous_step()
    return metrics

  def _update_input(self, batch: Any) -> Any:
    """What `agent.update` takes, by the contract: transitions as the
    sampled batch (its probabilities feed importance weights; its host
    keys stay behind), a rollout as itself."""
    return batch.data if self._on_policy else batch._replace(keys=None)

  def _complete_previous_step(self) -> None:
    """Waits for the last dispatched update, then publishes its parameters
    and sends its priorities to replay."""
    if self._pending is None:
      return
    keys, priorities, params = self._pending
    self._pending = None
    if priorities is not None:
      self._replay.update_priorities(keys, np.asarray(priorities))
    else:
      jax.block_until_ready(params)
    self._params = params

  @property
  def params(self) -> Any:
    """The parameters actors should act with (the last completed update)."""
    return self._params

  def save(self) -> LearnerState:
    """The state after every update so far (priorities sent too)."""
    self._complete_previous_step()
    return self._state

  def restore(self, state: LearnerState) -> None:
    self._pending = None
    # Copied inside XLA: the state is donated to the next update, and on
    # CPU an array made from numpy may share the numpy memory.
    self._state = jax.jit(lambda s: jax.tree_util.tree_map(jnp.copy, s))(
        jax.tree_util.tree_map(jnp.asarray, state))
    self._params = _copy(self._state.agent.params)


def _copy(tree: Any) -> Any:
  return jax.tree_util.tree_map(jnp.copy, tree)
