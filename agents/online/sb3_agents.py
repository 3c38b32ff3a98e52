"""stable-baselines3 agents, one class per algorithm: PPO, A2C and DQN on the discrete
action, SAC and TD3 on a ranking vector scored against the item embeddings. Any recgym
state encoder is the features extractor (`SB3Config.encoder`); the shared machinery is
`agents.online.sb3_base.SB3Agent`."""

from __future__ import annotations

from typing import Any, ClassVar

from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BasePolicy

from agents.online.sb3_base import SB3Agent, SB3Config
from agents.online.sb3_policies import MaskedActorCriticPolicy, MaskedDQNPolicy
from offline_data.shared.errors import InputError
from recgym.envs.vector import RecVectorEnv

__all__ = ["A2CAgent", "DQNAgent", "PPOAgent", "SACAgent", "SB3Config", "TD3Agent"]

_OFF_POLICY = {"buffer_size": 50_000, "learning_starts": 500, "batch_size": 64}


class PPOAgent(SB3Agent):
    """PPO (slates: one categorical per position, made distinct)."""

    name: ClassVar[str] = "ppo"
    algorithm: ClassVar[type[BaseAlgorithm]] = PPO
    defaults: ClassVar[dict[str, Any]] = {"n_steps": 64, "batch_size": 256, "n_epochs": 4,
                                          "ent_coef": 0.01}
    masked_policy: ClassVar[type[BasePolicy] | None] = MaskedActorCriticPolicy


class A2CAgent(SB3Agent):
    """A2C (slates as PPO)."""

    name: ClassVar[str] = "a2c"
    algorithm: ClassVar[type[BaseAlgorithm]] = A2C
    defaults: ClassVar[dict[str, Any]] = {"n_steps": 16, "ent_coef": 0.01}
    masked_policy: ClassVar[type[BasePolicy] | None] = MaskedActorCriticPolicy


class DQNAgent(SB3Agent):
    """DQN over items (one item per step)."""

    name: ClassVar[str] = "dqn"
    algorithm: ClassVar[type[BaseAlgorithm]] = DQN
    defaults: ClassVar[dict[str, Any]] = {
        "buffer_size": 50_000, "learning_starts": 1000, "train_freq": 1,
        "target_update_interval": 1000, "exploration_fraction": 0.3,
        "exploration_final_eps": 0.05, "batch_size": 64}
    default_gamma: ClassVar[float] = 0.5
    masked_policy: ClassVar[type[BasePolicy] | None] = MaskedDQNPolicy

    def check_env(self, env: RecVectorEnv) -> None:
        """DQN picks one item: refuse slates."""
        if env.config.slate_size != 1:
            raise InputError("dqn picks one item per step: use slate_size=1, or ppo / a2c "
                             "(slates of discrete items) or sac / td3 / drr (ranked slates)")


class SACAgent(SB3Agent):
    """SAC on a ranking vector (top-k items by score against the item embeddings)."""

    name: ClassVar[str] = "sac"
    algorithm: ClassVar[type[BaseAlgorithm]] = SAC
    defaults: ClassVar[dict[str, Any]] = _OFF_POLICY
    default_gamma: ClassVar[float] = 0.5
    continuous: ClassVar[bool] = True


class TD3Agent(SB3Agent):
    """TD3 on a ranking vector (as SAC)."""

    name: ClassVar[str] = "td3"
    algorithm: ClassVar[type[BaseAlgorithm]] = TD3
    defaults: ClassVar[dict[str, Any]] = _OFF_POLICY
    default_gamma: ClassVar[float] = 0.5
    continuous: ClassVar[bool] = True
