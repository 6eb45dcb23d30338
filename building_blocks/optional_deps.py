"""Clear errors for features whose packages are not installed."""
from __future__ import annotations

import importlib
import types

REVERB_INSTALL_HINT = (
    "dm-reverb is not installed. Reverb ships wheels for CPython 3.9-3.11 "
    "only. Install Relay's Reverb profile on Python 3.11, as the README's "
    "setup command does:\n"
    "  python3.11 -m venv .venv && .venv/bin/pip install "
    "-c constraints-reverb.txt -e '.[reverb,test]'")


class MissingDependencyError(ImportError):
  """Raised when a feature needs a package that is not installed."""


def import_reverb() -> types.ModuleType:
  """Imports reverb, or raises MissingDependencyError saying how to get it.

  rlax (via distrax/tensorflow_probability) must be imported before
  TensorFlow: a newer tfp refuses an older TensorFlow imported first.
  """
  importlib.import_module("rlax")
  try:
    return importlib.import_module("reverb")
  except ImportError as e:
    raise MissingDependencyError(f"{REVERB_INSTALL_HINT}\n(cause: {e})") from e


def reverb_available() -> bool:
  """True when `import reverb` would work."""
  return importlib.util.find_spec("reverb") is not None
