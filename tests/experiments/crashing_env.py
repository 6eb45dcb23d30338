"""A gymnasium environment that raises after a number of steps, for the
distributed runner's crash tests: `gym.make("tests.experiments.crashing_env:RelayCrashing-v0")`
imports this module in whichever process makes it (each actor's)."""
from __future__ import annotations

import os

import gymnasium as gym
from gymnasium.envs.classic_control import cartpole

# Steps each environment instance takes before it raises; the launcher
# sets it through the environment of the processes it starts.
CRASH_AFTER_ENV = "RELAY_TEST_CRASH_AFTER"


class CrashingCartPole(cartpole.CartPoleEnv):
  """CartPole whose step() raises RuntimeError after RELAY_TEST_CRASH_AFTER
  steps (never, when unset)."""

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self._steps = 0
    self._crash_after = int(os.environ.get(CRASH_AFTER_ENV, "0")) or None

  def step(self, action):
    self._steps += 1
    if self._crash_after is not None and self._steps > self._crash_after:
      raise RuntimeError(f"test environment crashed at step {self._steps}")
    return super().step(action)


gym.register(id="RelayCrashing-v0", entry_point=CrashingCartPole,
             max_episode_steps=500)
