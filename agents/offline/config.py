"""Settings of the offline agents: one frozen config per algorithm, with defaults sized for
recommendation logs on a CPU (d3rlpy's own defaults are tuned for Atari and MuJoCo)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from agents.settings import store_ints, store_plain
from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from recgym.encoders import ENCODERS, unknown_encoder


@dataclass(frozen=True)
class OfflineConfig(ConfigMixin):
    """Settings shared by the offline agents (CLI flags of `recgym offline` map onto them)."""

    encoder: str = "drr_ave"
    """recgym state encoder (see `recgym.encoders.ENCODERS`), used by every network."""
    embed_dim: int = 32
    """Item / user embedding width of the encoder."""
    hidden_dim: int = 64
    """Hidden width of the encoder and of its state head."""
    gamma: float = 0.9
    """Discount (value-based learners)."""
    lr: float = 1e-3
    """Learning rate (of every network unless the algorithm has its own rates)."""
    batch_size: int = 64
    """Transitions per gradient step."""
    seed: int = 0
    """Seeds the networks' initial weights, the mini-batch sampler and sampled actions."""
    exclude_seen: bool = True
    """Never recommend an item of the user's recent history (`history_items`), as the
    online agents do; applied in `predict` and `action_probabilities`."""
    device: str = "auto"
    """'auto' (cuda when present, else cpu), 'cpu', 'cuda' or 'cuda:N'."""
    algo_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    """Further fields of the d3rlpy config (e.g. {"n_critics": 2}); they override the
    ones set from this config."""

    def __post_init__(self) -> None:
        store_ints(self, {"embed_dim": 1, "hidden_dim": 1, "batch_size": 1, "seed": 0})
        store_plain(self, "algo_kwargs")
        if self.encoder not in ENCODERS:
            raise unknown_encoder(self.encoder)
        _check_unit("gamma", self.gamma)
        _check_positive("lr", self.lr)
        if not isinstance(self.device, str) or not (
                self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise InputError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got "
                             f"{self.device!r}")

    def torch_device(self) -> str:
        """The device to build the networks on (`device`, with 'auto' resolved)."""
        if self.device == "auto":
            return "cuda:0" if torch.cuda.is_available() else "cpu:0"
        if self.device == "cuda":
            return "cuda:0"
        return "cpu:0" if self.device == "cpu" else self.device


@dataclass(frozen=True)
class BCConfig(OfflineConfig):
    """Discrete behaviour cloning (d3rlpy `DiscreteBC`)."""

    beta: float = 0.0
    """Weight of d3rlpy's penalty on the mean squared logit (d3rlpy's default, 0.5,
    flattens a softmax over many items: on a synthetic log it raised the held-out
    negative log-likelihood of the logged items from 2.27 to 3.08)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_non_negative("beta", self.beta)


@dataclass(frozen=True)
class QConfig(OfflineConfig):
    """Settings of the discrete Q-learners (double DQN, CQL, BCQ)."""

    target_update_interval: int = 100
    """Gradient steps between copies of the Q-network into its target."""
    n_critics: int = 1
    """Q-networks in the ensemble."""

    def __post_init__(self) -> None:
        super().__post_init__()
        store_ints(self, {"target_update_interval": 1, "n_critics": 1})


@dataclass(frozen=True)
class DoubleDQNConfig(QConfig):
    """Double DQN on logged data (d3rlpy `DoubleDQN`): the naive offline baseline."""


@dataclass(frozen=True)
class CQLConfig(QConfig):
    """Discrete conservative Q-learning (d3rlpy `DiscreteCQL`)."""

    alpha: float = 1.0
    """Weight of the conservative term logsumexp Q(s, .) - Q(s, a_logged)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_non_negative("alpha", self.alpha)


@dataclass(frozen=True)
class BCQConfig(QConfig):
    """Discrete batch-constrained Q-learning (d3rlpy `DiscreteBCQ`)."""

    action_flexibility: float = 0.3
    """Items whose cloned behaviour probability is below this share of the most likely
    item's are not chosen (tau of the paper)."""
    beta: float = 0.0
    """Weight of d3rlpy's penalty on the imitator's mean squared logit (see
    `BCConfig.beta`)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_unit("action_flexibility", self.action_flexibility)
        _check_non_negative("beta", self.beta)


@dataclass(frozen=True)
class DiscreteSACConfig(OfflineConfig):
    """Discrete soft actor-critic on logged data (d3rlpy `DiscreteSAC`)."""

    actor_lr: float = 3e-4
    critic_lr: float = 1e-3
    temp_lr: float = 3e-4
    """Learning rate of the entropy temperature (0 keeps it fixed)."""
    initial_temperature: float = 0.1
    target_update_interval: int = 100
    n_critics: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        store_ints(self, {"target_update_interval": 1, "n_critics": 1})
        _check_positive("actor_lr", self.actor_lr)
        _check_positive("critic_lr", self.critic_lr)
        _check_non_negative("temp_lr", self.temp_lr)
        _check_positive("initial_temperature", self.initial_temperature)


@dataclass(frozen=True)
class IQLConfig(OfflineConfig):
    """Implicit Q-learning (d3rlpy `IQL`) over the item-embedding action."""

    actor_lr: float = 3e-4
    critic_lr: float = 1e-3
    expectile: float = 0.7
    """Expectile of the value function (0.5: the mean, toward 1: the best logged
    action)."""
    weight_temp: float = 3.0
    """Inverse temperature of the advantage weights of the actor."""
    max_weight: float = 100.0
    tau: float = 0.005
    """Soft target-network update rate."""
    n_critics: int = 2
    action_dim: int | None = None
    """Width of the ranking vector: the item embeddings' (set when the agent is made)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        store_ints(self, {"n_critics": 1, "action_dim": 1})
        _check_positive("actor_lr", self.actor_lr)
        _check_positive("critic_lr", self.critic_lr)
        _check_unit("expectile", self.expectile)
        _check_unit("tau", self.tau)
        _check_non_negative("weight_temp", self.weight_temp)
        _check_positive("max_weight", self.max_weight)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name} must be a number, got {value!r}")
    return float(value)


def _check_unit(name: str, value: Any) -> None:
    if not 0.0 <= _number(name, value) <= 1.0:
        raise InputError(f"{name} must be a number in [0, 1], got {value!r}")


def _check_positive(name: str, value: Any) -> None:
    if not _number(name, value) > 0:
        raise InputError(f"{name} must be a positive number, got {value!r}")


def _check_non_negative(name: str, value: Any) -> None:
    if not _number(name, value) >= 0:
        raise InputError(f"{name} must be a number >= 0, got {value!r}")
