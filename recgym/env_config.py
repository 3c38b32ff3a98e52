"""Configuration shared by every recgym environment."""

from __future__ import annotations

from dataclasses import dataclass, field

from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError


@dataclass(frozen=True)
class EnvConfig(ConfigMixin):
    """How an episode runs and what it pays. Every environment id takes these as keyword
    arguments of `gym.make` (e.g. `gym.make("RecGym/Synthetic-v0", slate_size=3)`)."""

    slate_size: int = 1
    """Items recommended per step: 1 gives a `Discrete` action, k > 1 a `MultiDiscrete`."""
    history_len: int = 10
    """Recent items (and their feedback) in the observation."""
    n_candidates: int | None = None
    """Candidate mode: each step offers this many random distinct items in the observation
    and the action indexes them."""
    max_sessions: int = 5
    """Sessions per episode (one user); the episode is truncated after the last one."""
    max_steps: int = 1000
    """Steps per episode before truncation."""
    churn_after_h: float = 96.0
    """A return gap longer than this (hours) means the user churned: the episode ends."""
    reward_weights: dict[str, float] | None = field(default=None, hash=False)
    """Scalar reward = sum of weight x signal (see `recgym.rewards`); None: the defaults."""
    users: tuple[int, ...] | None = None
    """Users episodes are drawn from (default: all users of the simulator)."""

    def __post_init__(self) -> None:
        for name in ("slate_size", "history_len", "max_sessions", "max_steps"):
            value = getattr(self, name)
            if not isinstance(value, (int,)) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if self.churn_after_h <= 0:
            raise InputError(f"churn_after_h must be positive, got {self.churn_after_h}")
        if self.n_candidates is not None and self.n_candidates < self.slate_size:
            raise InputError(
                f"n_candidates ({self.n_candidates}) must be at least slate_size "
                f"({self.slate_size})"
            )
        if self.users is not None and len(self.users) == 0:
            raise InputError("users must name at least one user id")
