"""CSV and TensorBoard loggers (rows of scalars, one call per row)."""
from __future__ import annotations

import csv
import os
from typing import Any, Mapping, Sequence

from building_blocks import core


class CSVLogger(core.Logger):
  """Appends rows to a CSV file; the header is fixed by the first row.

  Appending (never truncating) means a resumed run continues the same file
  and an interrupted run keeps every row it wrote: each row is flushed.
  """

  def __init__(self, path: str):
    self.path = path
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    self._fields: list[str] | None = None
    if os.path.exists(path) and os.path.getsize(path) > 0:
      with open(path, newline="") as f:
        self._fields = next(csv.reader(f))
    self._file = open(path, "a", newline="")  # pylint: disable=consider-using-with
    self._writer: csv.DictWriter | None = None
    if self._fields is not None:
      self._writer = csv.DictWriter(self._file, self._fields,
                                    extrasaction="ignore")

  def write(self, data: Mapping[str, Any]) -> None:
    if self._writer is None:
      self._fields = list(data.keys())
      self._writer = csv.DictWriter(self._file, self._fields,
                                    extrasaction="ignore")
      self._writer.writeheader()
    self._writer.writerow({k: _scalar(v) for k, v in data.items()})
    self._file.flush()

  def close(self) -> None:
    if not self._file.closed:
      self._file.close()


class TensorBoardLogger(core.Logger):
  """Writes each numeric field as a scalar at step `data[step_key]`."""

  def __init__(self, directory: str, prefix: str, step_key: str):
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    self._writer = SummaryWriter(directory)
    self._prefix = prefix
    self._step_key = step_key

  def write(self, data: Mapping[str, Any]) -> None:
    step = int(data.get(self._step_key, 0))
    for key, value in data.items():
      value = _scalar(value)
      if isinstance(value, (int, float)) and key != self._step_key:
        self._writer.add_scalar(f"{self._prefix}/{key}", value, step)

  def close(self) -> None:
    self._writer.close()


class MultiLogger(core.Logger):
  """Sends every row to several loggers."""

  def __init__(self, loggers: Sequence[core.Logger]):
    self._loggers = list(loggers)

  def write(self, data: Mapping[str, Any]) -> None:
    for logger in self._loggers:
      logger.write(data)

  def close(self) -> None:
    for logger in self._loggers:
      logger.close()


def _scalar(value: Any) -> Any:
  """numpy/jax scalars -> Python numbers, so CSV and TB see plain values."""
  if hasattr(value, "item") and getattr(value, "size", 2) == 1:
    return value.item()
  return value
