"""Shared test setup: markers for Reverb-only and slow learning tests."""
from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from building_blocks import optional_deps  # pylint: disable=wrong-import-position

HAS_REVERB = optional_deps.reverb_available()

requires_reverb = pytest.mark.skipif(
    not HAS_REVERB, reason="needs dm-reverb (the Python 3.11 Reverb profile)")


def pytest_configure(config):
  config.addinivalue_line("markers", "learning: trains an agent to its "
                          "reference return (minutes)")
  config.addinivalue_line(
      "markers", "family_learning: one learning test per agent of the "
      "families added after DQN and PPO (all on the accelerator, pure JAX, "
      "no Reverb); CI runs them in the core profile only, to stay within "
      "its time budget")
  config.addinivalue_line(
      "markers", "notebooks: runs a notebook of examples/notebooks/ top to "
      "bottom in a Jupyter kernel; CI runs them in the core profile (Python "
      "3.12+, as on Colab) only")
