"""Ctrl-C handling: the first SIGINT asks for a stop, the second raises."""
from __future__ import annotations

import os
import signal

import pytest

from experiments import stopping


def test_first_sigint_requests_a_stop_second_raises():
  before = signal.getsignal(signal.SIGINT)
  with stopping.StopRequest() as stop:
    assert not stop()
    os.kill(os.getpid(), signal.SIGINT)
    assert stop()  # no exception: the run stops at its next safe point
    with pytest.raises(KeyboardInterrupt):
      os.kill(os.getpid(), signal.SIGINT)
  assert signal.getsignal(signal.SIGINT) is before
