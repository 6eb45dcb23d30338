"""D4PG hyperparameters. The defaults (the shared actor-critic defaults,
with 3-step returns where the paper used 5, and 51 atoms on [-1000, 0],
which bound Pendulum's discounted returns) reach a 10-episode mean training
return of -200 on Pendulum-v1 within 20k environment steps; `PRESETS`
holds the settings of other environments."""
from __future__ import annotations

import dataclasses
from typing import Any

from building_blocks import actor_critic
from building_blocks import agent as agent_lib
from building_blocks import config_checks
from building_blocks import errors


@dataclasses.dataclass
class D4PGConfig(actor_critic.ActorCriticConfig):
  """D4PG: a deterministic policy, a categorical distributional critic over
  num_atoms evenly spaced returns in [v_min, v_max], n-step returns."""

  num_atoms: int = 51
  """Atoms of the critic's return distribution."""
  v_min: float = -1000.0
  """Smallest return the critic represents (the first atom)."""
  v_max: float = 0.0
  """Largest return the critic represents (the last atom)."""
  exploration_noise: float = 0.2
  """Standard deviation of the Gaussian noise added to the policy's actions while training (actions in [-1, 1] units)."""

  STATIC_FIELDS = actor_critic.ActorCriticConfig.STATIC_FIELDS + (
      "num_atoms",)

  def validate(self, prefix: str = "d4pg.") -> None:
    """Raises ConfigError naming the first out-of-range field, or atoms
    that do not make a support."""
    super().validate(prefix)
    if (not isinstance(self.num_atoms, int) or
        isinstance(self.num_atoms, bool) or self.num_atoms < 2):
      raise errors.ConfigError(
          f"{prefix}num_atoms must be an integer >= 2 (the critic's support "
          f"needs at least two returns), got {self.num_atoms!r}.")
    if not self.v_min < self.v_max:
      raise errors.ConfigError(
          f"{prefix}v_min ({self.v_min}) must be smaller than {prefix}v_max "
          f"({self.v_max}): the atoms are evenly spaced from v_min to "
          "v_max. Set them to bound the returns of the environment.")
    if not self.v_min <= 0 <= self.v_max:
      raise errors.ConfigError(
          f"The critic's support [{prefix}v_min, {prefix}v_max] = "
          f"[{self.v_min}, {self.v_max}] must contain 0 (the value after an "
          "episode's end); widen it, e.g. to "
          f"{prefix}v_min = {min(self.v_min, 0.0)}, {prefix}v_max = "
          f"{max(self.v_max, 0.0)}.")
    config_checks.require(self, [
        ("exploration_noise", self.exploration_noise >= 0, ">= 0"),
    ], prefix)


# The runner settings D4PG asks for when the user gives none: one
# environment; in the all-on-accelerator runner 8 steps per rollout (one
# replay sample of 8 minibatches per rollout: one gradient step per
# environment step).
RUNNER_DEFAULTS: dict[str, Any] = dict(num_envs=1, rollout_length=8)

# Settings that differ from the defaults, per environment id.
# MountainCarContinuous-v0 is a hard-exploration task: independent random
# actions almost never reach the goal (0.5% of 999-step episodes), random
# actions held for 16 steps of the environment reach it in about 90% of
# them (and earn about 75 on average). 10k such warm-up steps fill replay
# with successes before learning starts.
# The critic's support covers its returns: the goal's +100 and at worst
# -0.1 per step of full force.
# HalfCheetah-v5: CleanRL's MuJoCo settings (as SAC and TD3 use there),
# and a support for its discounted returns: a step earns its forward
# velocity minus 0.1 |a|^2, about -0.3 under random actions (a value of
# about -30 at gamma = 0.99) and up to about 12 for the fastest published
# policies (about 1,200); [-100, 1300] holds both with room to spare.
PRESETS: dict[str, agent_lib.Preset] = {
    "MountainCarContinuous-v0": agent_lib.Preset(agent=dict(
        warmup_steps=10_000, min_replay_size=10_000, warmup_action_repeat=16,
        v_min=-100.0, v_max=100.0)),
    "HalfCheetah-v5": agent_lib.Preset(agent=dict(
        actor_critic.MUJOCO_LOCOMOTION, v_min=-100.0, v_max=1300.0)),
}
