"""The API reference builds from the docstrings (pdoc), as a user builds it:

  python -m pdoc agents building_blocks envs replay experiments -o api-reference

A module that fails to import, or a public module, class or function without
a docstring, fails this test (and so CI)."""
from __future__ import annotations

import importlib
import warnings

import pytest

pdoc = pytest.importorskip("pdoc", reason="needs the test extra (pdoc)")
import pdoc.doc  # pylint: disable=g-import-not-at-top,wrong-import-position
import pdoc.extract  # pylint: disable=g-import-not-at-top,wrong-import-position

PACKAGES = ("agents", "building_blocks", "envs", "replay", "experiments")
# pdoc's own limits, not problems of the docstrings: string annotations of
# NamedTuple fields it cannot evaluate, and the config fields that
# experiments.config makes per registered agent at import time.
TOLERATED = ("Error parsing type annotation", "Cannot determine where")


def _modules() -> list[str]:
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    return list(pdoc.extract.walk_specs(list(PACKAGES)))


def test_reference_builds_with_every_module(tmp_path):
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    pdoc.pdoc(*PACKAGES, output_directory=tmp_path)
  problems = [str(w.message) for w in caught
              if "pdoc" in w.filename and
              not str(w.message).startswith(TOLERATED)]
  assert not problems, problems
  pages = {str(p.relative_to(tmp_path))[:-5].replace("/", ".")
           for p in tmp_path.rglob("*.html")}
  missing = set(_modules()) - pages
  assert not missing, f"modules without a page: {sorted(missing)}"
  assert len(pages) > 50


def test_every_public_module_class_and_function_has_a_docstring():
  undocumented = []
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for name in _modules():
      module = pdoc.doc.Module(importlib.import_module(name))
      if not module.docstring.strip():
        undocumented.append(name)
      for member in module.flattened_own_members:
        if (isinstance(member, (pdoc.doc.Function, pdoc.doc.Class)) and
            not member.name.startswith("_") and not member.docstring.strip()):
          undocumented.append(member.fullname)
  assert not undocumented, (
      "public names without a docstring (say what it is and does): "
      f"{undocumented}")
