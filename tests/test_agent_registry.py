"""agents.register: an agent defined outside the package joins the
registry; a taken name is refused unless replace=True; a built-in agent is
never replaced."""
from __future__ import annotations

import dataclasses

import pytest

import agents
from building_blocks import errors


def _entry(description: str):
  return dataclasses.replace(agents.get("dqn"), description=description)


@pytest.fixture
def name():
  yield "test_registry_agent"
  agents.REGISTRY.pop("test_registry_agent", None)


def test_register_then_get(name):
  agents.register(name, _entry("first"))
  assert agents.get(name).description == "first"


def test_a_taken_name_is_refused_unless_replaced(name):
  agents.register(name, _entry("first"))
  with pytest.raises(errors.ConfigError, match="replace=True"):
    agents.register(name, _entry("second"))
  assert agents.get(name).description == "first"
  agents.register(name, _entry("second"), replace=True)
  assert agents.get(name).description == "second"


@pytest.mark.parametrize("replace", [False, True])
def test_a_built_in_agent_is_never_replaced(replace):
  before = agents.get("dqn")
  with pytest.raises(errors.ConfigError, match="built-in"):
    agents.register("dqn", _entry("mine"), replace=replace)
  assert agents.get("dqn") is before
