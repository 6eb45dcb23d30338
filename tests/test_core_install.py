"""What the core install (no Reverb: Python 3.12+, Colab) can and cannot do."""
from __future__ import annotations

import pytest

from building_blocks import optional_deps
from tests.conftest import HAS_REVERB


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


def test_library_imports_without_touching_reverb():
  import agents  # noqa: F401  (the import is the check)
  import building_blocks.environment_loop  # noqa: F401  (the import is the check)
  import envs  # noqa: F401  (the import is the check)
  import experiments.config  # noqa: F401  (the import is the check)
  import replay.adders  # noqa: F401  (the import is the check)
  assert set(agents.AGENTS) == {"dqn"}
