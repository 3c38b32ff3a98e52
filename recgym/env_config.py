"""Configuration shared by every recgym environment."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from offline_data.shared.numbers import as_int, is_real


@dataclass(frozen=True)
class EnvConfig(ConfigMixin):
    """How an episode runs and what it pays. Every environment id takes these as keyword
    arguments of `gym.make` (e.g. `gym.make("RecGym/Synthetic-v0", slate_size=3)`).
    Integers may be of any integral type (`np.int64` too); they are stored as `int`."""

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
            object.__setattr__(self, name, as_int(getattr(self, name), name, minimum=1))
        if self.n_candidates is not None:
            object.__setattr__(self, "n_candidates",
                               as_int(self.n_candidates, "n_candidates", minimum=1))
        if not is_real(self.churn_after_h) or self.churn_after_h <= 0:
            raise InputError(f"churn_after_h must be a positive number of hours, got "
                             f"{self.churn_after_h!r}")
        object.__setattr__(self, "churn_after_h", float(self.churn_after_h))
        if self.n_candidates is not None and self.n_candidates < self.slate_size:
            raise InputError(
                f"n_candidates ({self.n_candidates}) must be at least slate_size "
                f"({self.slate_size})"
            )
        if self.users is not None:
            object.__setattr__(self, "users", user_ids(self.users))


def user_ids(users: object) -> tuple[int, ...]:
    """User ids (a sequence or array of integers of any integral type) as a tuple of ints;
    an `InputError` for anything else or an empty list."""
    if isinstance(users, np.ndarray):
        if users.dtype.kind not in "iu":
            raise InputError(f"users must be integer user ids, got an array of {users.dtype}")
        values: list[object] = users.reshape(-1).tolist()
    elif isinstance(users, Iterable) and not isinstance(users, (str, bytes)):
        values = list(users)
    else:
        raise InputError(f"users must be a list of user ids, got {users!r}")
    if not values:
        raise InputError("users must name at least one user id")
    return tuple(as_int(v, "users (each user id)") for v in values)
