"""Experiment configs, runners, loggers, checkpoints and command-line entry points."""
