"""Observation and action spaces of recgym environments, and a flat layout of the
observation (for MLP policies, `FlattenHistory` and d3rlpy)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

# the order of the keys in the flat layout
FLAT_KEYS = ("user_id", "user_features", "history_items", "history_feedback", "history_mask",
             "session_step", "session_index", "candidates")


class Slate(spaces.MultiDiscrete):
    """A slate: `slate_size` distinct choices out of `n` (a `MultiDiscrete` whose samples
    never repeat an item, and whose `contains` rejects slates that do)."""

    def __init__(self, n: int, slate_size: int, seed: int | None = None) -> None:
        super().__init__(np.full(slate_size, n), seed=seed)
        self.n_choices, self.slate_size = int(n), int(slate_size)

    def sample(self, mask: object = None, **kwargs: object) -> np.ndarray:
        if mask is not None or kwargs:
            return super().sample(mask, **kwargs)  # type: ignore[arg-type]
        return self.np_random.choice(self.n_choices, self.slate_size, replace=False).astype(
            self.dtype)

    def contains(self, x: object) -> bool:
        return bool(super().contains(x)) and len(np.unique(np.asarray(x))) == self.slate_size

    def __repr__(self) -> str:
        return f"Slate({self.slate_size} of {self.n_choices})"


def primary_first(names: Sequence[str], primary: str) -> list[str]:
    """Signal names as observations order them: the primary signal first, the others in
    their order."""
    return [primary, *[n for n in names if n != primary]]


def history_bounds(low: object, high: object, order: Sequence[int]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """A simulator's signal bounds in observation order (`order` indexes its signals),
    widened to contain 0, the value of an empty history slot."""
    return (np.minimum(np.asarray(low)[list(order)], 0.0),
            np.maximum(np.asarray(high)[list(order)], 0.0))


@dataclass(frozen=True)
class ObsSpec:
    """Sizes that define an environment's spaces.

    Observation keys: `user_id` (Discrete), `user_features` (Box), `history_items`
    (MultiDiscrete; the value n_items marks an empty slot), `history_feedback` (Box of
    shape (history_len, n_signals); index 0 is the primary signal), `history_mask`
    (MultiBinary), `session_step` and `session_index` (Box of shape (1,)), and in candidate
    mode `candidates` (MultiDiscrete of item ids).
    """

    n_users: int
    n_items: int
    signal_names: tuple[str, ...]
    signal_low: tuple[float, ...]
    signal_high: tuple[float, ...]
    history_len: int
    user_feature_dim: int
    slate_size: int
    n_candidates: int | None
    max_steps: int
    max_sessions: int

    @property
    def n_signals(self) -> int:
        """Signals per history slot."""
        return len(self.signal_names)

    def observation_space(self) -> spaces.Dict:
        """The `Dict` observation space."""
        length, n_sig = self.history_len, self.n_signals
        low = np.tile(np.asarray(self.signal_low, np.float32), (length, 1))
        high = np.tile(np.asarray(self.signal_high, np.float32), (length, 1))
        entries: dict[str, spaces.Space] = {
            "user_id": spaces.Discrete(self.n_users),
            "user_features": spaces.Box(-np.inf, np.inf, (self.user_feature_dim,), np.float32),
            "history_items": spaces.MultiDiscrete(np.full(length, self.n_items + 1)),
            "history_feedback": spaces.Box(low, high, (length, n_sig), np.float32),
            "history_mask": spaces.MultiBinary(length),
            "session_step": spaces.Box(0.0, float(self.max_steps), (1,), np.float32),
            "session_index": spaces.Box(0.0, float(self.max_sessions), (1,), np.float32),
        }
        if self.n_candidates is not None:
            entries["candidates"] = spaces.MultiDiscrete(np.full(self.n_candidates,
                                                                 self.n_items))
        return spaces.Dict(entries)

    def action_space(self) -> spaces.Space:
        """`Discrete` for one item, a `Slate` (a `MultiDiscrete` of distinct choices) for
        several, over candidate indices in candidate mode."""
        choices = self.n_candidates if self.n_candidates is not None else self.n_items
        if self.slate_size == 1:
            return spaces.Discrete(choices)
        return Slate(choices, self.slate_size)

    # ------------------------------------------------------------------ flat layout
    def flat_sizes(self) -> dict[str, int]:
        """Width of each key in the flat layout, in `FLAT_KEYS` order."""
        sizes = {"user_id": 1, "user_features": self.user_feature_dim,
                 "history_items": self.history_len,
                 "history_feedback": self.history_len * self.n_signals,
                 "history_mask": self.history_len, "session_step": 1, "session_index": 1}
        if self.n_candidates is not None:
            sizes["candidates"] = self.n_candidates
        return sizes

    @property
    def flat_dim(self) -> int:
        """Width of a flattened observation."""
        return sum(self.flat_sizes().values())

    def flatten(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Batched (B, ...) observation dict -> (B, flat_dim) float32 (ids as numbers)."""
        parts = []
        batch = np.asarray(obs["history_items"]).shape[0]
        for key in self.flat_sizes():
            parts.append(np.asarray(obs[key], dtype=np.float32).reshape(batch, -1))
        return np.concatenate(parts, axis=1)

    def unflatten(self, flat):
        """(B, flat_dim) array or tensor -> dict of the same type with the original shapes
        (id fields stay numeric; callers cast them)."""
        out, start = {}, 0
        for key, width in self.flat_sizes().items():
            part = flat[:, start:start + width]
            if key == "history_feedback":
                part = part.reshape(-1, self.history_len, self.n_signals)
            elif key == "user_id":
                part = part[:, 0]
            out[key] = part
            start += width
        return out

    def to_dict(self) -> dict:
        """JSON-ready description (saved with agents and encoders)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: Mapping) -> ObsSpec:
        """Inverse of `to_dict`."""
        data = dict(data)
        for key in ("signal_names", "signal_low", "signal_high"):
            data[key] = tuple(data[key])
        return cls(**data)
