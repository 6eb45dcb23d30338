"""Clear errors for features whose packages are not installed."""
from __future__ import annotations

import importlib
import types

REVERB_INSTALL_HINT = (
    "dm-reverb is not installed. Reverb ships wheels for CPython 3.9-3.11 "
    "only. Install Relay's Reverb profile on Python 3.11, as the README's "
    "setup command does:\n"
    "  python3.11 -m venv .venv && .venv/bin/pip install "
    "-c constraints-reverb.txt -e '.[reverb,test]'\n"
    "Or train without Reverb, with replay in device memory: --replay device "
    "(the default, --replay auto, picks it when Reverb is missing).")


WANDB_INSTALL_HINT = (
    "Weights & Biases logging (--wandb) needs the wandb package, which "
    "Relay's 'wandb' extra installs:\n"
    "  .venv-core/bin/pip install -c constraints-core.txt -e '.[wandb]'\n"
    "  (Python 3.11 with Reverb: .venv/bin/pip install "
    "-c constraints-reverb.txt -e '.[wandb]')\n"
    "Or train without it (drop --wandb): logs/*.csv and tensorboard/ are "
    "always written.")

WATCH_INSTALL_HINT = (
    "{what} needs {package}, which Relay's 'watch' extra installs:\n"
    "  .venv-core/bin/pip install -c constraints-core.txt -e '.[watch]'\n"
    "  (Python 3.11 with Reverb: .venv/bin/pip install "
    "-c constraints-reverb.txt -e '.[watch]')")


class MissingDependencyError(ImportError):
  """Raised when a feature needs a package that is not installed."""


def import_wandb() -> types.ModuleType:
  """Imports wandb, or raises MissingDependencyError naming the extra."""
  try:
    return importlib.import_module("wandb")
  except ImportError as e:
    raise MissingDependencyError(f"{WANDB_INSTALL_HINT}\n(cause: {e})") from e


def import_for_watch(module: str, what: str, package: str
                     ) -> types.ModuleType:
  """Imports `module` for `experiments.watch`, or raises
  MissingDependencyError saying that `what` needs `package` (the 'watch'
  extra)."""
  try:
    return importlib.import_module(module)
  except ImportError as e:
    hint = WATCH_INSTALL_HINT.format(what=what, package=package)
    raise MissingDependencyError(f"{hint}\n(cause: {e})") from e


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


def resolve_replay_backend(choice: str) -> str:
  """"reverb" or "device" for a config's `replay` choice.

  "reverb" imports Reverb (MissingDependencyError, with the install hint,
  if it is not there); "device" needs nothing beyond the core install;
  "auto" is "reverb" when Reverb imports, else "device".
  """
  if choice == "device":
    return "device"
  if choice == "reverb":
    import_reverb()
    return "reverb"
  if choice == "auto":
    if not reverb_available():
      return "device"
    try:
      import_reverb()
    except MissingDependencyError:
      return "device"
    return "reverb"
  raise ValueError(f"unknown replay backend {choice!r}; "
                   "choose auto, reverb or device.")
