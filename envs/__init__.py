"""Environments: gymnasium adapter to dm_env TimeSteps, wrappers, registry."""
from envs.gymnasium_adapter import GymnasiumEnvironment, make_environment, make_environment_spec

__all__ = ["GymnasiumEnvironment", "make_environment", "make_environment_spec"]
