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
  code = train.main(["--run-dir", str(tmp_path / "r"), "--no-progress"])
  assert code == train.EXIT_BAD_INPUT
  err = capsys.readouterr().err
  assert "dm-reverb is not installed" in err
  assert "constraints-reverb.txt" in err
  assert not (tmp_path / "r").exists()


def test_library_imports_without_touching_reverb():
  import agents  # pylint: disable=unused-import
  import building_blocks.environment_loop  # pylint: disable=unused-import
  import envs  # pylint: disable=unused-import
  import experiments.config  # pylint: disable=unused-import
  import replay.adders  # pylint: disable=unused-import
  assert set(agents.AGENTS) == {"dqn"}
