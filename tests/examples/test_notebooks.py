"""The notebooks in examples/notebooks/: each runs top to bottom in a fresh
Jupyter kernel (the way Colab runs it), its stored .ipynb is exactly its
paired .py (jupytext percent format, the file reviewed in diffs) with no
outputs, and each starts with the same setup cell, whose error in a kernel
without Relay says what to do."""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

jupytext = pytest.importorskip("jupytext", reason="needs the test extra")
nbclient = pytest.importorskip("nbclient", reason="needs the test extra")
nbformat = pytest.importorskip("nbformat", reason="needs the test extra")

NOTEBOOK_DIR = os.path.join(ROOT, "examples", "notebooks")
SOURCES = sorted(glob.glob(os.path.join(NOTEBOOK_DIR, "[0-9][0-9]_*.py")))
NAMES = [os.path.basename(path)[:-3] for path in SOURCES]
CELL_TIMEOUT_S = 600  # a hung cell fails the test instead of CI's limit


def _cells(notebook) -> list[tuple[str, str]]:
  return [(cell.cell_type, cell.source) for cell in notebook.cells]


def _first_code_cell(name: str) -> str:
  notebook = jupytext.read(os.path.join(NOTEBOOK_DIR, name + ".py"))
  return next(c.source for c in notebook.cells if c.cell_type == "code")


def test_there_are_notebooks():
  assert len(SOURCES) >= 5, SOURCES


@pytest.mark.parametrize("name", NAMES)
def test_stored_notebook_is_its_paired_script_without_outputs(name):
  source = jupytext.read(os.path.join(NOTEBOOK_DIR, name + ".py"))
  stored_path = os.path.join(NOTEBOOK_DIR, name + ".ipynb")
  assert os.path.exists(stored_path), (
      f"{name}.ipynb is missing: run `jupytext --sync "
      f"examples/notebooks/{name}.py`")
  stored = nbformat.read(stored_path, as_version=4)
  assert _cells(stored) == _cells(source), (
      f"{name}.ipynb differs from {name}.py: edit the .py and run "
      f"`jupytext --sync examples/notebooks/{name}.py`")
  for cell in stored.cells:
    assert not cell.get("outputs"), f"{name}.ipynb stores outputs"
    assert cell.get("execution_count") is None, f"{name}.ipynb stores counts"


@pytest.mark.parametrize("name", NAMES)
def test_every_notebook_starts_with_the_same_setup_cell(name):
  assert _first_code_cell(name) == _first_code_cell(NAMES[0])


def test_setup_cell_without_relay_says_what_to_do():
  """A kernel whose Python lacks Relay (here: no site-packages at all)."""
  result = subprocess.run(
      [sys.executable, "-I", "-S", "-c", _first_code_cell(NAMES[0])],
      capture_output=True, text=True, timeout=60, cwd="/")
  assert result.returncode != 0
  assert "ModuleNotFoundError" in result.stderr
  assert "relay-rl) is not installed" in result.stderr, result.stderr
  assert "pip install" in result.stderr and "jupyter lab" in result.stderr


@pytest.mark.notebooks
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(name, tmp_path):
  """Executes every cell in a new kernel, in an empty working folder (the
  runs it trains land there); a cell that raises fails the test with the
  cell and its traceback."""
  notebook = jupytext.read(os.path.join(NOTEBOOK_DIR, name + ".py"))
  client = nbclient.NotebookClient(
      notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
      resources={"metadata": {"path": str(tmp_path)}})
  start = time.perf_counter()
  client.execute()
  seconds = time.perf_counter() - start
  print(f"{name}: {seconds:.1f} s")
  errors = [output for cell in notebook.cells
            for output in cell.get("outputs", [])
            if output.get("output_type") == "error"]
  assert not errors, errors
