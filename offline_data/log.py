"""`InteractionLog`: a validated log of user-item interactions with sessions."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from offline_data.schema import (
    DEFAULT_SESSION_GAP_S,
    ITEM,
    KEY_COLUMNS,
    SESSION,
    TIMESTAMP,
    USER,
    Signal,
    check_session_gap,
)
from offline_data.sessions import assign_sessions, session_table
from offline_data.shared.errors import InputError, LogSchemaError, show
from offline_data.shared.units import DAY_S


@dataclass(frozen=True, eq=False)
class InteractionLog:
    """A log of interactions in canonical form.

    `interactions` holds one row per shown item, sorted by user then time, with columns
    `user_id` and `item_id` (int64, contiguous from 0), `timestamp` (int64 Unix seconds),
    `session_id` (int64, contiguous from 0), one float32 column per signal, and optional
    context columns (e.g. KuaiRand's `is_rand`). `user_ids[k]` / `item_ids[k]` give the
    raw id of user / item k; `users` / `items` are feature tables indexed by the new ids.
    `start_time`..`end_time` is the observation window: a user's last session is censored
    at `end_time`. Build one with a loader (`load_kuairand`, `load_csv`, ...) or
    `offline_data.build_log`; never mutate the frames in place.
    """

    interactions: pd.DataFrame
    signals: tuple[Signal, ...]
    user_ids: np.ndarray
    item_ids: np.ndarray
    users: pd.DataFrame | None = None
    items: pd.DataFrame | None = None
    session_gap: int = DEFAULT_SESSION_GAP_S
    start_time: int = 0
    end_time: int = 0
    source: str = "<memory>"
    _context: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        frame = self.interactions
        required = [*KEY_COLUMNS, SESSION, *self.signal_names]
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise LogSchemaError(f"{self.source}: interactions lack column(s) {missing}")
        for column in (*KEY_COLUMNS, SESSION):
            if frame[column].dtype != np.int64:
                raise LogSchemaError(
                    f"{self.source}: column {column!r} must be int64, got {frame[column].dtype}"
                )
        for name in self.signal_names:
            if frame[name].dtype != np.float32:
                raise LogSchemaError(
                    f"{self.source}: signal {name!r} must be float32, got {frame[name].dtype}"
                )
        for column, ids in ((USER, self.user_ids), (ITEM, self.item_ids)):
            values = frame[column].to_numpy()
            if len(values) and (values.min() < 0 or values.max() >= len(ids)):
                raise LogSchemaError(
                    f"{self.source}: column {column!r} holds ids outside 0..{len(ids) - 1}; "
                    "the id map does not match the interactions"
                )
        extra = tuple(c for c in frame.columns if c not in required)
        object.__setattr__(self, "_context", extra)

    # ----------------------------------------------------------------- basic facts
    @property
    def n_users(self) -> int:
        """Number of users in the id space (including users absent from a split)."""
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        """Number of items in the id space."""
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        """Number of rows."""
        return len(self.interactions)

    @property
    def signal_names(self) -> list[str]:
        """Names of the feedback signals, in order."""
        return [s.name for s in self.signals]

    @property
    def context_columns(self) -> tuple[str, ...]:
        """Columns that are neither canonical nor signals (kept from the source)."""
        return self._context

    def signal(self, name: str) -> Signal:
        """The Signal called `name`; a clear error lists the known ones otherwise."""
        for s in self.signals:
            if s.name == name:
                return s
        raise InputError(
            f"{self.source}: no signal {name!r} in this log; it has {self.signal_names}"
        )

    def __len__(self) -> int:
        return self.n_interactions

    def __repr__(self) -> str:
        return (
            f"InteractionLog(source={self.source!r}, users={self.n_users}, "
            f"items={self.n_items}, interactions={self.n_interactions}, "
            f"sessions={len(self.sessions)}, signals={self.signal_names})"
        )

    # ----------------------------------------------------------------- sessions
    @cached_property
    def sessions(self) -> pd.DataFrame:
        """One row per session; see `offline_data.sessions.session_table` for columns.

        `return_gap` is NaN and `censored` True for each user's last session in the window.
        """
        f = self.interactions
        return session_table(
            f[USER].to_numpy(), f[TIMESTAMP].to_numpy(), f[SESSION].to_numpy(), self.end_time
        )

    def with_session_gap(self, gap_s: int) -> InteractionLog:
        """The same interactions, split into sessions with another gap threshold
        (a whole number of seconds >= 1)."""
        gap_s = check_session_gap(gap_s)
        frame = self.interactions.copy()
        frame[SESSION] = assign_sessions(frame[USER].to_numpy(), frame[TIMESTAMP].to_numpy(), gap_s)
        return self._replace(frame, session_gap=gap_s)

    # ----------------------------------------------------------------- subsets and splits
    def select(
        self,
        mask: np.ndarray | pd.Series,
        *,
        start_time: int | None = None,
        end_time: int | None = None,
        source: str | None = None,
    ) -> InteractionLog:
        """Rows where `mask` is True, in the same id space, with sessions recomputed."""
        keep = np.asarray(mask, dtype=bool)
        if keep.shape != (self.n_interactions,):
            raise InputError(
                f"mask must have one entry per interaction ({self.n_interactions}), "
                f"got shape {keep.shape}"
            )
        if not keep.any():
            raise LogSchemaError(
                f"{source or self.source}: the log is empty after filtering (no interaction "
                "matched); loosen the filter"
            )
        frame = self.interactions.loc[keep].reset_index(drop=True)
        frame[SESSION] = assign_sessions(
            frame[USER].to_numpy(), frame[TIMESTAMP].to_numpy(), self.session_gap
        )
        return self._replace(
            frame,
            start_time=self.start_time if start_time is None else int(start_time),
            end_time=self.end_time if end_time is None else int(end_time),
            source=source or self.source,
        )

    def split_by_time(
        self, cutoff: int | None = None, *, test_days: float | None = None
    ) -> tuple[InteractionLog, InteractionLog]:
        """Hold out the last days: sessions starting at or after the cutoff go to test.

        Give either `cutoff` (Unix seconds) or `test_days` (the last N days of the
        window). Sessions stay whole. The train log's window ends at the cutoff, so
        return gaps that cross it are censored there.
        """
        if (cutoff is None) == (test_days is None):
            raise InputError("split_by_time needs exactly one of cutoff= or test_days=")
        if test_days is not None:
            if not _finite_number(test_days) or test_days <= 0:
                raise InputError(
                    f"test_days must be a positive finite number of days, got {show(test_days)}"
                )
            cutoff = int(self.end_time - test_days * DAY_S)
        elif not _finite_number(cutoff):
            raise InputError(f"cutoff must be a finite Unix time in seconds, got {show(cutoff)}")
        assert cutoff is not None
        cutoff = int(cutoff)
        session_start = self.sessions["start"].to_numpy()[self.interactions[SESSION].to_numpy()]
        is_test = session_start >= cutoff
        if is_test.all() or not is_test.any():
            raise InputError(
                f"{self.source}: split_by_time at {cutoff} leaves an empty "
                f"{'train' if is_test.all() else 'test'} part (log spans "
                f"{self.start_time}..{self.end_time}); choose another cutoff/test_days"
            )
        train = self.select(~is_test, end_time=cutoff, source=f"{self.source} [train<{cutoff}]")
        test = self.select(is_test, start_time=cutoff, source=f"{self.source} [test>={cutoff}]")
        return train, test

    def split_by_user(
        self, test_fraction: float = 0.2, seed: int = 0
    ) -> tuple[InteractionLog, InteractionLog]:
        """Hold out a random `test_fraction` of the users present in the log.

        The test part gets ceil(test_fraction * n_users) users (as scikit-learn's
        `train_test_split`; a product within 1e-9 of a whole number counts as that number,
        so float noise never adds a user) and the train part the rest.
        """
        if not _finite_number(test_fraction) or not 0.0 < test_fraction < 1.0:
            raise InputError(f"test_fraction must be between 0 and 1, got {show(test_fraction)}")
        present = np.unique(self.interactions[USER].to_numpy())
        n_test = math.ceil(test_fraction * len(present) - 1e-9)
        if n_test == 0 or n_test == len(present):
            raise InputError(
                f"{self.source}: test_fraction={test_fraction} of {len(present)} users "
                "leaves an empty part; change test_fraction"
            )
        rng = np.random.default_rng(seed)
        test_users = rng.choice(present, size=n_test, replace=False)
        is_test = np.isin(self.interactions[USER].to_numpy(), test_users)
        return (
            self.select(~is_test, source=f"{self.source} [train users]"),
            self.select(is_test, source=f"{self.source} [test users]"),
        )

    # ----------------------------------------------------------------- persistence
    def to_parquet(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Write the log as a Parquet folder (atomically; refuses to overwrite unless asked)."""
        from offline_data.storage import write_log

        return write_log(self, directory, overwrite=overwrite)

    @classmethod
    def from_parquet(cls, directory: str | Path) -> InteractionLog:
        """Read a folder written by `to_parquet`."""
        from offline_data.storage import read_log

        return read_log(directory)

    # ----------------------------------------------------------------- helpers
    def _replace(self, frame: pd.DataFrame, **changes: object) -> InteractionLog:
        fields = {
            "interactions": frame, "signals": self.signals, "user_ids": self.user_ids,
            "item_ids": self.item_ids, "users": self.users, "items": self.items,
            "session_gap": self.session_gap, "start_time": self.start_time,
            "end_time": self.end_time, "source": self.source,
        }
        fields.update(changes)
        return InteractionLog(**fields)  # type: ignore[arg-type]



def _finite_number(value: object) -> bool:
    """True for a real, finite number (not a bool, not text, not NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return math.isfinite(float(value))
