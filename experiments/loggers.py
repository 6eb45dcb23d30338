"""CSV, TensorBoard and Weights & Biases loggers (rows of scalars, one call
per row).

CSV and TensorBoard are written so that a resumed run can make its logs
agree with its checkpoint: `rewind_csv` cuts a CSV back to the checkpoint's
step, and `TensorBoardLogger(purge_step=...)` marks the events after it as
orphaned. W&B cannot delete what it was sent (see `WandbRun`).
"""
from __future__ import annotations

import csv
import itertools
import os
import re
import socket
import stat
import struct
import time
from typing import Any, BinaryIO, Mapping, Sequence

from building_blocks import core
from building_blocks import errors
from building_blocks import optional_deps

_REWIND_SUFFIX = ".rewind-tmp"


class CSVLogger(core.Logger):
  """Appends rows to a CSV file; the header is fixed by the first row.

  Appending (never truncating) means a resumed run continues the same file
  and an interrupted run keeps every row it wrote: each row is flushed.
  A resume must call `rewind_csv` *before* opening the logger, so the rows
  written after the checkpoint by a killed process are not repeated.
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


def rewind_csv(path: str, step_key: str, last_step: int) -> int:
  """Drops the rows of a CSV log whose `step_key` is after `last_step`.

  Why: a process killed with SIGKILL keeps every row it flushed after its
  last checkpoint; the resumed run restarts from that checkpoint and logs
  those steps again, so without this cut the learning curve would step
  backwards. Call it before a `CSVLogger` opens the file (the logger appends
  to the file it opened; the rewind replaces the file).

  Keeps the header and every row with `step_key` <= `last_step` (by value,
  not by position, so it does not rely on the rows being sorted), and drops
  a partially written last row (SIGKILL can cut a row anywhere, including
  inside a quoted field that spans lines). The file is rewritten atomically:
  a temporary file in the same folder is written, fsynced and `os.replace`d
  over the log, so a crash during the rewind leaves either the old or the
  new log, never a mix. The file is untouched when nothing needs dropping.

  Returns the number of data rows dropped (a cut-off row counts as one; a
  cut-off header does not, it just leaves an empty file). A missing file
  returns 0. Raises ValueError if the header has no `step_key` column or a
  complete row's step is not a number: guessing would silently lose or keep
  the wrong data.
  """
  tmp = path + _REWIND_SUFFIX
  if os.path.exists(tmp):  # Left by a rewind killed before its rename: the
    os.remove(tmp)         # log itself is still the old, intact file.
  try:
    with open(path, "rb") as f:
      raw = f.read()
  except FileNotFoundError:
    return 0
  if not raw:
    return 0
  # surrogateescape round-trips any byte, so kept rows are copied verbatim.
  text = raw.decode("utf-8", errors="surrogateescape")
  records, partial = _split_csv_records(text)
  kept: list[str] = []
  dropped = 0
  step_column: int | None = None
  for index, (fields, source) in enumerate(records):
    if index == 0:
      if step_key not in fields:
        raise ValueError(f"{path}: no {step_key!r} column in header {fields}")
      step_column = fields.index(step_key)
      kept.append(source)
      continue
    if not fields:  # A blank line: no row, nothing to keep.
      continue
    assert step_column is not None
    value = fields[step_column] if step_column < len(fields) else ""
    try:
      step = float(value)
    except ValueError:
      raise ValueError(f"{path}: row {index} has {step_key}={value!r}, "
                       "not a number") from None
    if step <= last_step:
      kept.append(source)
    else:
      dropped += 1
  if partial and records:  # A cut-off row (a cut-off header is not a row).
    dropped += 1
  new_text = "".join(kept)
  if new_text == text:
    return 0
  _atomic_write(path, new_text.encode("utf-8", errors="surrogateescape"))
  return dropped


def _split_csv_records(text: str) -> tuple[list[tuple[list[str], str]], bool]:
  """Parses CSV text into (fields, exact source text) per complete record.

  Returns the records and whether a partial record was cut off the end. A
  record is complete when it ends with a newline outside quotes; the strict
  dialect makes an unterminated quote at the end an error rather than a
  silently shortened field.
  """
  end = text.rfind("\n") + 1
  partial = end < len(text)
  # Only \n ends a line (our rows end with \r\n); a quoted field that
  # spans lines is joined back by the csv reader.
  lines = [line + "\n" for line in text[:end].split("\n")[:-1]]
  reader = csv.reader(iter(lines), strict=True)
  records: list[tuple[list[str], str]] = []
  consumed = 0
  while True:
    try:
      fields = next(reader)
    except StopIteration:
      break
    except csv.Error:
      if reader.line_num < len(lines):
        raise  # Malformed in the middle: not a crash artefact, so say so.
      partial = True  # A quoted field still open at the end: cut off.
      break
    records.append((fields, "".join(lines[consumed:reader.line_num])))
    consumed = reader.line_num
  return records, partial


def _atomic_write(path: str, data: bytes) -> None:
  """Replaces `path` by `data` so that a crash leaves the old or new file.

  The temporary name is fixed, so a crash between writing and renaming
  leaves one stale file that the next rewind removes, not a new one each
  time.
  """
  tmp = path + _REWIND_SUFFIX
  mode = stat.S_IMODE(os.stat(path).st_mode)
  try:
    with open(tmp, "wb") as f:
      f.write(data)
      f.flush()
      os.fchmod(f.fileno(), mode)
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
  _fsync_directory(os.path.dirname(path) or ".")


def _fsync_directory(directory: str) -> None:
  """Makes a rename durable; a no-op where folders cannot be opened."""
  try:
    fd = os.open(directory, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass
  finally:
    os.close(fd)


_event_file_counter = itertools.count()


class TensorBoardLogger(core.Logger):
  """Writes each numeric field as a scalar at step `data[step_key]`.

  Events go to `directory/prefix/` (one TensorBoard run per prefix, with
  tags `prefix/field`), not to `directory/` itself, because TensorBoard
  treats a folder as one run: its Python loader reads a run's files one
  after another and applies a purge to every tag of the run, so the eval
  logger's purge record (read after the resumed train logger's file) would
  delete the resumed train points, and a file written while a newer file
  exists in the same folder stops being read.

  `purge_step`: when resuming from a checkpoint at step S, pass S + 1. The
  new event file then starts with a SessionLog START event at that step,
  which tells TensorBoard to discard the events with step >= S + 1 read
  from the run's earlier files (those a killed process wrote after its
  checkpoint), so every step appears once. This is the record
  tensorboardX's `SummaryWriter(purge_step=...)` writes, and TensorBoard's
  Python loader honours it. (Its Rust data server does not read the record;
  it drops, per tag, the points at and after a step that is written again,
  so there only the killed run's points between S and the resumed run's
  first point of a tag can remain.)

  The events are written here, synchronously, rather than through
  `SummaryWriter`, because SummaryWriter (tensorboardX 2.6) (a) names its
  file by the second, host and suffix only, so two writers opened in one
  folder in the same second open one file twice and overwrite each other's
  records; and (b) queues events in a background thread and flushes every
  `flush_secs` (120 s), so SIGKILL loses events from before the checkpoint,
  leaving holes a resume cannot refill. Here every logger gets its own
  file, named so files sort by creation time (TensorBoard reads a run's
  files in name order), and each row is one record, flushed like a CSV row.
  """

  def __init__(self, directory: str, prefix: str, step_key: str,
               purge_step: int | None = None):
    # pylint: disable=g-import-not-at-top
    from tensorboardX import record_writer, summary
    from tensorboardX.proto import event_pb2, summary_pb2
    # pylint: enable=g-import-not-at-top
    self._event_pb2 = event_pb2
    self._summary_pb2 = summary_pb2
    self._scalar_summary = summary.scalar
    self._masked_crc32c = record_writer.masked_crc32c
    self._prefix = prefix
    self._step_key = step_key
    self.directory = os.path.join(directory, prefix)
    self.path, self._file = _create_event_file(self.directory, prefix)
    self._write_event(event_pb2.Event(wall_time=time.time(),
                                      file_version="brain.Event:2"))
    if purge_step is not None:
      self._write_event(event_pb2.Event(
          wall_time=time.time(), step=int(purge_step),
          session_log=event_pb2.SessionLog(
              status=event_pb2.SessionLog.START)))
    self._file.flush()

  def write(self, data: Mapping[str, Any]) -> None:
    step = int(data.get(self._step_key, 0))
    values = []
    for key, value in data.items():
      value = _scalar(value)
      if isinstance(value, (int, float)) and key != self._step_key:
        tag = f"{self._prefix}/{key}"
        values.extend(self._scalar_summary(tag, value).value)
    if not values:
      return
    self._write_event(self._event_pb2.Event(
        wall_time=time.time(), step=step,
        summary=self._summary_pb2.Summary(value=values)))
    self._file.flush()

  def close(self) -> None:
    if not self._file.closed:
      self._file.close()

  def _write_event(self, event: Any) -> None:
    """One TFRecord: length, its masked CRC32C, data, its masked CRC32C."""
    data = event.SerializeToString()
    header = struct.pack("<Q", len(data))
    # One write call per record, so a kill cuts at most the last record.
    crc = self._masked_crc32c
    self._file.write(header + struct.pack("<I", crc(header)) + data +
                     struct.pack("<I", crc(data)))


def _create_event_file(directory: str, prefix: str) -> tuple[str, BinaryIO]:
  """Creates a new event file whose name sorts after every earlier one.

  The name keeps TensorBoard's `events.out.tfevents.<seconds>.<host>` form,
  then adds nanoseconds (fixed width, so same-second files sort by time),
  the process id, a per-process counter and the prefix; exclusive creation
  guarantees no two loggers ever share a file.
  """
  os.makedirs(directory, exist_ok=True)
  host = socket.gethostname()
  while True:
    now = time.time_ns()
    name = (f"events.out.tfevents.{now // 10**9:010d}.{host}.{now:020d}."
            f"{os.getpid()}.{next(_event_file_counter)}.{prefix}")
    path = os.path.join(directory, name)
    try:
      return path, open(path, "xb")  # pylint: disable=consider-using-with
    except FileExistsError:
      continue


class WandbRun:
  """One Weights & Biases run, shared by the loggers of a run folder
  (`logger(prefix)`, one per log: train, eval).

  `wandb.init` gets the run's id (`run_id`, kept in the run folder, so a
  resumed run continues the same W&B run), `mode` ("offline": written under
  `directory`/wandb/ and nothing sent; "online"; "disabled"), and leaves
  the process alone: no console capture, and a run of its own even where
  the caller has a W&B run open (`reinit="create_new"`, W&B >= 0.19.10).

  Each logger's rows go to keys `prefix/field` (TensorBoard's tags), with
  `prefix/<step_key>` declared as their x-axis (`define_metric`), rather
  than W&B's own `step`: that one must only increase, while a run's train
  and eval rows, its resumed rows and a distributed run's actors' rows do
  not come in step order. W&B has no way to delete what it was sent, so
  after a crash and `--resume` the steps between the checkpoint and the
  crash are in the W&B run twice (CSV and TensorBoard are rewound).
  """

  def __init__(self, directory: str, run_id: str, project: str,
               entity: str | None, mode: str, name: str,
               config: Mapping[str, Any] | None = None):
    wandb = optional_deps.import_wandb()
    kwargs: dict[str, Any] = dict(
        project=project, entity=entity, mode=mode, id=run_id, name=name,
        resume="allow", dir=directory, config=dict(config or {}),
        settings=wandb.Settings(console="off"))
    if _version_tuple(wandb.__version__) >= (0, 19, 10):
      kwargs["reinit"] = "create_new"
    self.run_id = run_id
    try:
      self._run = wandb.init(**kwargs)
    except Exception as e:  # pylint: disable=broad-except
      raise errors.LoggerError(
          f"Weights & Biases could not start the run in {mode} mode: {e}"
          + (" (--wandb-mode offline needs no account: it writes the run "
             "locally, for `wandb sync` later)" if mode == "online" else "")
      ) from e
    self._closed = False

  def logger(self, prefix: str, step_key: str) -> WandbLogger:
    """A logger of this run whose rows go to `prefix/field`, plotted
    against `prefix/<step_key>`."""
    return WandbLogger(self._run, prefix, step_key)

  def close(self) -> None:
    """Finishes the run (offline: its files are complete)."""
    if not self._closed:
      self._closed = True
      self._run.finish()


class WandbLogger(core.Logger):
  """Logs each numeric field of a row to a W&B run as `prefix/field`, the
  same names TensorBoardLogger writes (`step_key` included: it is the
  x-axis of the others). Closing it leaves the run open (`WandbRun.close`
  finishes it)."""

  def __init__(self, run: Any, prefix: str, step_key: str):
    self._run = run
    self._prefix = prefix
    step = f"{prefix}/{step_key}"
    run.define_metric(step)
    run.define_metric(f"{prefix}/*", step_metric=step)

  def write(self, data: Mapping[str, Any]) -> None:
    values = {}
    for key, value in data.items():
      value = _scalar(value)
      if isinstance(value, (int, float)):
        values[f"{self._prefix}/{key}"] = value
    if values:
      self._run.log(values)


def _version_tuple(version: str) -> tuple[int, ...]:
  """(0, 19, 10) for "0.19.10" (or "0.19.10rc1")."""
  return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


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
