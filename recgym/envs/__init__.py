"""recgym environments: the single-user `RecEnv`, the batched `RecVectorEnv`, and the
documented variants registered as Gymnasium ids."""

from recgym.envs.base import RecEnv
from recgym.envs.vector import RecVectorEnv

__all__ = ["RecEnv", "RecVectorEnv"]
