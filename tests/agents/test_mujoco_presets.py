"""The continuous agents' presets for MuJoCo HalfCheetah-v5: each applies
the shared locomotion settings, and D4PG's critic support holds the task's
discounted returns."""
from __future__ import annotations

import pytest

from building_blocks import actor_critic
from experiments import config as config_lib

ENV = "HalfCheetah-v5"


@pytest.mark.parametrize("agent", ["sac", "td3", "d4pg"])
def test_halfcheetah_preset_applies_the_locomotion_settings(agent):
  config = getattr(config_lib.default_config(agent, ENV), agent)
  for field, value in actor_critic.MUJOCO_LOCOMOTION.items():
    assert getattr(config, field) == value, field
  config.validate()


def test_d4pg_halfcheetah_support_holds_its_returns():
  config = config_lib.default_config("d4pg", ENV).d4pg
  # A step earns forward velocity - 0.1 |a|^2 (|a| <= 1 per dimension of
  # 6): random actions about -0.3 a step, the fastest published policies
  # about 12. Their discounted values, r / (1 - gamma), must lie inside
  # the support, not at its clipped ends.
  horizon = 1.0 / (1.0 - config.discount)
  assert config.v_min < -0.3 * horizon
  assert config.v_max > 12.0 * horizon
