"""How a run stops: Ctrl-C as a request, the errors that end a run, and the
exit codes the command line returns for each (the same for every runner)."""
from __future__ import annotations

import signal
import threading
from typing import Any

from building_blocks import errors

EXIT_OK = 0
EXIT_BAD_INPUT = 2      # a RelayError or a missing optional package
EXIT_DIVERGED = 3       # a loss became NaN or infinite
EXIT_INTERRUPTED = 130  # Ctrl-C (the run saved what it had)


class TrainingDivergedError(errors.RelayError, FloatingPointError):
  """A loss became NaN or infinite."""


class StopRequest:
  """Turns Ctrl-C into a request to stop at the next safe point.

  The first SIGINT only sets `requested`: the run finishes what it is
  doing (an environment step, or a compiled period), logs it, and then
  saves, so counters, logs and checkpoint always agree. A second SIGINT
  raises KeyboardInterrupt at once. Outside the main thread (where Python
  cannot install handlers) SIGINT keeps its default behaviour. The handler
  is installed only inside the `with` block and the previous one restored.
  """

  def __init__(self):
    self.requested = False
    self._previous: Any = None

  def _handle(self, signum: int, frame: Any) -> None:
    del signum, frame
    if self.requested:
      raise KeyboardInterrupt
    self.requested = True

  def __call__(self) -> bool:
    return self.requested

  def __enter__(self) -> "StopRequest":
    if threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGINT, self._handle)
    return self

  def __exit__(self, *exc: Any) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGINT, self._previous)
      self._previous = None
