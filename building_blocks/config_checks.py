"""Range checks shared by the dataclass configs; each raises ConfigError
naming the first bad field as `<prefix><field>`."""
from __future__ import annotations

from typing import Any, Iterable

from building_blocks import errors


def require_positive_ints(config: Any, names: Iterable[str],
                          prefix: str = "") -> None:
  """Every field in `names` is an integer >= 1."""
  for name in names:
    value = getattr(config, name)
    if not isinstance(value, int) or value < 1:
      raise errors.ConfigError(
          f"{prefix}{name} must be an integer >= 1, got {value!r}.")


def require(config: Any, checks: Iterable[tuple[str, bool, str]],
            prefix: str = "") -> None:
  """`checks` holds (field, holds, rule) triples; the first that does not
  hold raises "<field> must be <rule>, got <value>"."""
  for name, ok, rule in checks:
    if not ok:
      raise errors.ConfigError(
          f"{prefix}{name} must be {rule}, got {getattr(config, name)!r}.")
