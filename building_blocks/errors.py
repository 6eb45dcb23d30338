"""Errors that mean "the user asked for something wrong": the CLI prints
their message (which says what was wrong and what to do) without a trace."""
from __future__ import annotations


class RelayError(Exception):
  """Base class for user-facing errors."""


class ConfigError(RelayError, ValueError):
  """A configuration value is malformed or out of range."""


class UnknownEnvironmentError(RelayError, ValueError):
  """No environment is registered under the requested id."""


class IncompatibleEnvironmentError(RelayError, ValueError):
  """The agent cannot act in this environment (e.g. DQN on continuous actions)."""


class PortInUseError(RelayError, OSError):
  """The requested replay port is taken by another program."""


class RunDirectoryError(RelayError, FileExistsError):
  """A run directory exists already (new run) or is not a run (resume)."""


class LoggerError(RelayError, RuntimeError):
  """A logger the run asks for could not start (e.g. W&B online without
  an account logged in)."""
