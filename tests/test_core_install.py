"""What the core install (no Reverb: Python 3.12+, Colab) can and cannot do."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from building_blocks import optional_deps
from tests.conftest import HAS_REVERB, ROOT

# The library's modules that must import without Reverb, besides every module
# of building_blocks (the probe finds those itself, see _IMPORT_PROBE).
_CORE_MODULES = (
    "agents",
    "agents.dqn",
    "agents.ppo",
    "envs",
    "envs.gymnasium_adapter",
    "envs.jax_envs",
    "replay.adders",
    "replay.nstep",
    "replay.codec",
    "replay.device_buffer",
    "replay.device_replay",
    "experiments.config",
)
# Modules that every building_blocks listing must include, so that an empty
# or wrong listing cannot pass.
_KNOWN_BUILDING_BLOCKS = ("building_blocks.core", "building_blocks.specs",
                          "building_blocks.types",
                          "building_blocks.environment_loop",
                          "building_blocks.optional_deps")
_RELAY_PACKAGES = ("agents", "building_blocks", "envs", "replay", "experiments")
_WATCHED = ("reverb", "tensorflow")

# Run in a fresh interpreter (this test process may already hold Reverb).
# Imports every module named on the command line and every building_blocks
# module, recording each import statement of a watched package (which module
# ran it, and which one first loaded it), then prints one JSON line.
_IMPORT_PROBE = textwrap.dedent("""
    import builtins, importlib, json, pkgutil, sys

    WATCHED = {watched!r}
    imported_by = set()  # (package, module whose import statement names it)
    loaded_by = {{}}  # package -> the module whose import first loaded it
    _import = builtins.__import__

    def _recording_import(name, globals=None, locals=None, fromlist=(),
                          level=0):
      top = name.partition(".")[0]
      if level or top not in WATCHED:
        return _import(name, globals, locals, fromlist, level)
      importer = (globals or {{}}).get("__name__", "?")
      imported_by.add((top, importer))
      was_loaded = top in sys.modules
      module = _import(name, globals, locals, fromlist, level)
      if not was_loaded and top in sys.modules:
        loaded_by.setdefault(top, importer)
      return module

    builtins.__import__ = _recording_import
    import building_blocks
    modules = sorted(m.name for m in pkgutil.iter_modules(
        building_blocks.__path__, "building_blocks."))
    modules += sys.argv[1:]
    for module in modules:
      importlib.import_module(module)
    print(json.dumps({{
        "modules": modules,
        "loaded": {{top: sorted(m for m in sys.modules
                               if m == top or m.startswith(top + "."))
                   for top in WATCHED}},
        "loaded_by": loaded_by,
        "imported_by": sorted(imported_by),
    }}))
""").format(watched=_WATCHED)


@pytest.mark.skipif(HAS_REVERB, reason="checks the install without Reverb")
def test_reverb_features_say_how_to_get_reverb(capsys, tmp_path):
  from experiments import train
  with pytest.raises(optional_deps.MissingDependencyError,
                     match="Python 3.11"):
    optional_deps.import_reverb()
  code = train.main(["--replay", "reverb", "--run-dir", str(tmp_path / "r"),
                     "--no-progress"])
  assert code == train.EXIT_BAD_INPUT
  err = capsys.readouterr().err
  assert "dm-reverb is not installed" in err
  assert "constraints-reverb.txt" in err
  assert not (tmp_path / "r").exists()


def _offenders(report: dict) -> list[str]:
  """What the probe saw that the core library must not do."""
  offenders = []
  for top, importer in report["imported_by"]:
    if importer.partition(".")[0] in _RELAY_PACKAGES:
      offenders.append(f"{importer} imports {top}")
  if report["loaded"]["reverb"]:
    offenders.append("reverb is in sys.modules (loaded by "
                     f"{report['loaded_by'].get('reverb', 'importlib')}): "
                     f"{report['loaded']['reverb'][:5]}")
  # rlax -> distrax -> tensorflow_probability tries `import tensorflow` to
  # copy docstrings, and succeeds wherever TensorFlow is installed (the Reverb
  # profile). That load is not the library's doing; any other is.
  tf_loader = report["loaded_by"].get("tensorflow", "importlib")
  if (report["loaded"]["tensorflow"]
      and not tf_loader.startswith("tensorflow_probability.")):
    offenders.append(f"tensorflow is in sys.modules (loaded by {tf_loader})")
  return offenders


def test_library_imports_without_touching_reverb():
  """The library's non-Reverb modules import neither Reverb nor TensorFlow.

  In the core install an eager `import reverb` would fail outright; in the
  Reverb profile it would succeed silently, so the probe looks at what a
  fresh interpreter has loaded after importing them.
  """
  result = subprocess.run(
      [sys.executable, "-c", _IMPORT_PROBE, *_CORE_MODULES], cwd=ROOT,
      capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, (
      f"importing the core modules failed:\n{result.stderr[-4000:]}")
  report = json.loads(result.stdout.strip().splitlines()[-1])
  modules = report["modules"]
  assert set(_KNOWN_BUILDING_BLOCKS) <= set(modules), modules
  offenders = _offenders(report)
  assert not offenders, "\n".join(offenders)
