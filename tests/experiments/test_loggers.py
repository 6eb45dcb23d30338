"""A resumed run's logs (CSV and TensorBoard) hold every step exactly once.

A process killed with SIGKILL keeps the rows and events it wrote after its
last checkpoint; the resume repeats those steps. These tests check the two
ways the logs are cut back to the checkpoint: `rewind_csv` and
`TensorBoardLogger(purge_step=...)`, reading what is actually on disk.
"""
from __future__ import annotations

import csv
import os
import signal
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from experiments import loggers

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


# --------------------------------------------------------------------------
# rewind_csv


def _write_rows(path: str, steps: list[int]) -> None:
  logger = loggers.CSVLogger(path)
  for step in steps:
    logger.write({"actor_steps": step, "ret": np.float32(step / 2)})
  logger.close()


def _steps(path: str) -> list[int]:
  with open(path, newline="") as f:
    return [int(row["actor_steps"]) for row in csv.DictReader(f)]


def _read(path: str) -> bytes:
  with open(path, "rb") as f:
    return f.read()


def _leftovers(folder) -> list[str]:
  return sorted(p.name for p in folder.iterdir() if p.name != "train.csv")


def test_rewind_drops_rows_after_the_checkpoint_and_resume_continues(
    tmp_path):
  path = str(tmp_path / "logs" / "train.csv")
  _write_rows(path, list(range(10, 110, 10)))
  assert loggers.rewind_csv(path, "actor_steps", 60) == 4
  assert _steps(path) == [10, 20, 30, 40, 50, 60]
  # The resumed run appends after the cut: every step exactly once.
  _write_rows(path, [70, 80])
  assert _steps(path) == [10, 20, 30, 40, 50, 60, 70, 80]
  assert _leftovers(tmp_path / "logs") == []


def test_rewind_keeps_header_and_kept_rows_byte_for_byte(tmp_path):
  path = str(tmp_path / "train.csv")
  _write_rows(path, [1, 2, 3])
  before = _read(path)
  assert loggers.rewind_csv(path, "actor_steps", 2) == 1
  lines = before.split(b"\r\n")
  assert _read(path) == b"\r\n".join(lines[:3]) + b"\r\n"
  assert loggers.rewind_csv(path, "actor_steps", 0) == 2
  assert _read(path) == lines[0] + b"\r\n"  # Only the header is left.
  with open(path, newline="") as f:
    assert next(csv.reader(f)) == ["actor_steps", "ret"]


def test_rewind_compares_values_not_positions(tmp_path):
  path = str(tmp_path / "train.csv")
  _write_rows(path, [5, 1, 9, 3, 7, 2])
  assert loggers.rewind_csv(path, "actor_steps", 4) == 3
  assert _steps(path) == [1, 3, 2]


@pytest.mark.parametrize("cut", [1, 3, 8, 10])  # 10: between \r and \n.
def test_rewind_drops_a_half_written_last_row(tmp_path, cut):
  path = str(tmp_path / "train.csv")
  _write_rows(path, [1, 2])
  whole = _read(path)
  full_row = b"30000,1.5\r\n"
  with open(path, "ab") as f:  # What SIGKILL leaves: part of one row.
    f.write(full_row[:cut])
  # Even with no step after the checkpoint, the fragment goes.
  assert loggers.rewind_csv(path, "actor_steps", 10**9) == 1
  assert _read(path) == whole
  _write_rows(path, [3])
  assert _steps(path) == [1, 2, 3]


def test_rewind_drops_a_row_cut_inside_a_multiline_quoted_field(tmp_path):
  path = str(tmp_path / "train.csv")
  header_and_row = b'actor_steps,note\r\n1,"a\r\nb"\r\n'
  with open(path, "wb") as f:
    f.write(header_and_row + b'2,"c\r\n')  # Cut after a newline in quotes.
  assert loggers.rewind_csv(path, "actor_steps", 10) == 1
  assert _read(path) == header_and_row


def test_rewind_of_a_half_written_header_leaves_an_empty_log(tmp_path):
  path = str(tmp_path / "train.csv")
  with open(path, "wb") as f:
    f.write(b"actor_ste")
  assert loggers.rewind_csv(path, "actor_steps", 10) == 0
  assert _read(path) == b""
  _write_rows(path, [1])  # The logger writes a fresh header.
  assert _steps(path) == [1]


def test_rewind_of_a_missing_or_empty_file_is_a_no_op(tmp_path):
  missing = str(tmp_path / "logs" / "eval.csv")
  assert loggers.rewind_csv(missing, "actor_steps", 5) == 0
  assert not os.path.exists(missing)
  empty = tmp_path / "empty.csv"
  empty.write_bytes(b"")
  assert loggers.rewind_csv(str(empty), "actor_steps", 5) == 0
  assert _read(str(empty)) == b""


def test_rewind_with_nothing_to_drop_leaves_the_file_alone(tmp_path):
  path = str(tmp_path / "train.csv")
  _write_rows(path, [1, 2])
  inode = os.stat(path).st_ino
  assert loggers.rewind_csv(path, "actor_steps", 2) == 0
  assert os.stat(path).st_ino == inode  # Not rewritten.


def test_rewind_replaces_the_file_and_leaves_no_temp_file(tmp_path):
  path = str(tmp_path / "train.csv")
  _write_rows(path, [1, 2, 3])
  os.chmod(path, 0o640)
  inode = os.stat(path).st_ino
  assert loggers.rewind_csv(path, "actor_steps", 1) == 2
  # A new file was renamed over the log (not truncated in place), with the
  # log's permissions, and the temporary file is gone.
  assert os.stat(path).st_ino != inode
  assert os.stat(path).st_mode & 0o777 == 0o640
  assert _leftovers(tmp_path) == []


def test_a_failed_rewind_keeps_the_old_log_and_no_temp_file(
    tmp_path, monkeypatch):
  path = str(tmp_path / "train.csv")
  _write_rows(path, [1, 2, 3])
  before = _read(path)

  def crash(*args):
    raise OSError("disk gone")
  monkeypatch.setattr(loggers.os, "replace", crash)
  with pytest.raises(OSError, match="disk gone"):
    loggers.rewind_csv(path, "actor_steps", 1)
  assert _read(path) == before
  assert _leftovers(tmp_path) == []


def test_rewind_removes_the_temp_file_of_a_killed_rewind(tmp_path):
  path = str(tmp_path / "train.csv")
  _write_rows(path, [1, 2])
  (tmp_path / "train.csv.rewind-tmp").write_bytes(b"actor_steps,ret\r\n")
  assert loggers.rewind_csv(path, "actor_steps", 5) == 0
  assert _steps(path) == [1, 2]
  assert _leftovers(tmp_path) == []


def test_rewind_refuses_a_log_without_the_step_column(tmp_path):
  path = str(tmp_path / "train.csv")
  _write_rows(path, [1])
  with pytest.raises(ValueError, match="learner_step"):
    loggers.rewind_csv(path, "learner_step", 0)
  assert _steps(path) == [1]


# --------------------------------------------------------------------------
# TensorBoard


def _read_records(path: str) -> list[bytes]:
  """TFRecord framing: u64 length, u32 masked CRC, data, u32 masked CRC.

  Stops at a truncated last record, as TensorBoard does; checks CRCs so a
  file two writers clobbered would fail here.
  """
  from tensorboardX.record_writer import masked_crc32c
  data = _read(path)
  records, pos = [], 0
  while pos + 12 <= len(data):
    header = data[pos:pos + 8]
    (length,) = struct.unpack("<Q", header)
    (header_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
    assert header_crc == masked_crc32c(header), path
    if pos + 12 + length + 4 > len(data):
      break
    body = data[pos + 12:pos + 12 + length]
    (body_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
    assert body_crc == masked_crc32c(body), path
    records.append(body)
    pos += 16 + length
  return records


def _events(path: str) -> list:
  from tensorboardX.proto import event_pb2
  return [event_pb2.Event.FromString(r) for r in _read_records(path)]


def _event_files(directory: str) -> list[str]:
  names = sorted(os.listdir(directory))
  return [os.path.join(directory, n) for n in names if "tfevents" in n]


def _effective_scalars(run: str) -> dict[str, list[tuple[int, float]]]:
  """TensorBoard's view of one run (folder): files in name order; a
  SessionLog START at step S drops the points read before with step >= S."""
  from tensorboardX.proto import event_pb2
  series: dict[str, list[tuple[int, float]]] = {}
  for path in _event_files(run):
    for event in _events(path):
      if (event.HasField("session_log") and
          event.session_log.status == event_pb2.SessionLog.START):
        for tag, points in series.items():
          series[tag] = [(s, v) for s, v in points if s < event.step]
      for value in event.summary.value:
        point = (event.step, value.simple_value)
        series.setdefault(value.tag, []).append(point)
  return series


def _crash_then_resume(directory: str, prefixes=("train",)) -> None:
  """Steps 1..10 by a run that is then killed, 6..8 by a resume from 5."""
  crashed = [loggers.TensorBoardLogger(directory, p, "actor_steps")
             for p in prefixes]
  for step in range(1, 11):
    for sign, logger in enumerate(crashed):
      logger.write({"actor_steps": step, "ret": (-1.0) ** sign * step})
  # No close: SIGKILL closes nothing; each row is already flushed.
  resumed = [loggers.TensorBoardLogger(directory, p, "actor_steps",
                                       purge_step=6) for p in prefixes]
  for step in range(6, 9):
    for sign, logger in enumerate(resumed):
      logger.write({"actor_steps": step,
                    "ret": (-1.0) ** sign * (100.0 + step)})
  for logger in resumed + crashed:
    logger.close()


def _expected(sign: float = 1.0) -> list[tuple[int, float]]:
  return ([(s, sign * s) for s in range(1, 6)] +
          [(s, sign * (100.0 + s)) for s in range(6, 9)])


def test_purge_step_writes_a_session_start_before_any_scalar(tmp_path):
  from tensorboardX.proto import event_pb2
  _crash_then_resume(str(tmp_path))
  first, second = _event_files(str(tmp_path / "train"))
  assert not any(e.HasField("session_log") for e in _events(first))
  events = _events(second)
  assert events[0].file_version == "brain.Event:2"
  assert events[1].HasField("session_log")
  assert events[1].session_log.status == event_pb2.SessionLog.START
  assert events[1].step == 6
  assert [e.step for e in events[2:]] == [6, 7, 8]
  assert all(not e.HasField("session_log") for e in events[2:])


def test_purge_leaves_every_step_once(tmp_path):
  _crash_then_resume(str(tmp_path))
  run = str(tmp_path / "train")
  raw = [e.step for path in _event_files(run)
         for e in _events(path) if e.summary.value]
  assert raw == list(range(1, 11)) + [6, 7, 8]  # Both runs are on disk ...
  # ... but the reader's view has each step once, 6..8 from the resume.
  assert _effective_scalars(run) == {"train/ret": _expected()}


def test_tensorboard_itself_reads_every_step_once(tmp_path):
  event_accumulator = pytest.importorskip(
      "tensorboard.backend.event_processing.event_accumulator")
  _crash_then_resume(str(tmp_path), prefixes=("train", "eval"))
  for prefix, sign in (("train", 1.0), ("eval", -1.0)):
    accumulator = event_accumulator.EventAccumulator(
        str(tmp_path / prefix), size_guidance={event_accumulator.SCALARS: 0})
    accumulator.Reload()
    points = [(e.step, e.value)
              for e in accumulator.Scalars(f"{prefix}/ret")]
    assert points == _expected(sign), prefix


def test_train_and_eval_purges_do_not_touch_each_other(tmp_path):
  # In one folder (one TensorBoard run) the eval logger's purge record,
  # read after the resumed train file, deleted the resumed train points.
  _crash_then_resume(str(tmp_path), prefixes=("train", "eval"))
  assert sorted(os.listdir(tmp_path)) == ["eval", "train"]
  assert _effective_scalars(str(tmp_path / "train")) == {
      "train/ret": _expected()}
  assert _effective_scalars(str(tmp_path / "eval")) == {
      "eval/ret": _expected(-1.0)}


def test_loggers_opened_together_keep_separate_files(tmp_path):
  # tensorboardX's SummaryWriter names files by the second, so two opened
  # together in one folder shared (and clobbered) one file.
  first = loggers.TensorBoardLogger(str(tmp_path), "train", "actor_steps")
  second = loggers.TensorBoardLogger(str(tmp_path), "train", "actor_steps")
  for step in range(1, 4):
    first.write({"actor_steps": step, "ret": np.float32(step), "note": "x"})
  for step in range(4, 6):
    second.write({"actor_steps": step, "ret": step})
  first.close()
  second.close()
  files = _event_files(str(tmp_path / "train"))
  assert files == [first.path, second.path]  # Name order = creation order.
  assert _effective_scalars(str(tmp_path / "train")) == {
      "train/ret": [(s, float(s)) for s in range(1, 6)]}


def test_events_survive_sigkill(tmp_path):
  # A killed process flushes nothing on the way out: every row must already
  # be in the file, or steps before the checkpoint would be missing.
  script = textwrap.dedent(f"""
      import os, signal
      from experiments import loggers
      logger = loggers.TensorBoardLogger({str(tmp_path)!r}, "train", "s")
      for step in range(1, 6):
        logger.write({{"s": step, "ret": float(step)}})
      os.kill(os.getpid(), signal.SIGKILL)
      """)
  result = subprocess.run([sys.executable, "-c", script], cwd=REPO,
                          capture_output=True, timeout=60, check=False)
  assert result.returncode == -signal.SIGKILL, result.stderr.decode()
  assert _effective_scalars(str(tmp_path / "train")) == {
      "train/ret": [(s, float(s)) for s in range(1, 6)]}
