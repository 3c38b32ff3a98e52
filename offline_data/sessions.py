"""Session splitting and per-session tables (return gaps with explicit censoring)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def session_starts(user: np.ndarray, timestamp: np.ndarray, gap_s: int) -> np.ndarray:
    """Boolean mask of rows that start a session.

    Rows must be sorted by (user, timestamp). A row starts a session when it is the user's
    first or comes more than `gap_s` seconds after the user's previous interaction.
    """
    n = len(user)
    starts = np.ones(n, dtype=bool)
    if n > 1:
        starts[1:] = (user[1:] != user[:-1]) | (np.diff(timestamp) > gap_s)
    return starts


def assign_sessions(user: np.ndarray, timestamp: np.ndarray, gap_s: int) -> np.ndarray:
    """Session id per row (int64, contiguous from 0, increasing by user then time)."""
    return np.cumsum(session_starts(user, timestamp, gap_s), dtype=np.int64) - 1


def session_table(
    user: np.ndarray, timestamp: np.ndarray, session: np.ndarray, end_time: int
) -> pd.DataFrame:
    """One row per session: who, when, how long, and the gap until the user came back.

    Columns: `session_id`, `user_id`, `session_index` (0 for a user's first session),
    `start`, `end` (Unix seconds of the first and last interaction), `length`
    (interactions), `duration` (seconds), `return_gap` (seconds from this session's last
    interaction to the first of the user's next session; NaN when censored), `censored`
    (True for each user's last session: the log ended before the user returned) and
    `observed_gap` (the return gap when seen, else the time from the session's end to
    the end of the log: a lower bound for survival models).
    """
    n = len(session)
    if n == 0:
        return pd.DataFrame(
            {
                "session_id": np.zeros(0, np.int64), "user_id": np.zeros(0, np.int64),
                "session_index": np.zeros(0, np.int64), "start": np.zeros(0, np.int64),
                "end": np.zeros(0, np.int64), "length": np.zeros(0, np.int64),
                "duration": np.zeros(0, np.int64), "return_gap": np.zeros(0),
                "censored": np.zeros(0, bool), "observed_gap": np.zeros(0),
            }
        )
    first = np.flatnonzero(np.r_[True, session[1:] != session[:-1]])
    last = np.r_[first[1:] - 1, n - 1]
    s_user = user[first]
    start = timestamp[first]
    end = timestamp[last]
    same_user_next = np.r_[s_user[1:] == s_user[:-1], False]
    next_start = np.r_[start[1:], 0]
    gap = np.where(same_user_next, next_start - end, np.nan)
    new_user = np.r_[True, s_user[1:] != s_user[:-1]]
    user_first = np.maximum.accumulate(np.where(new_user, np.arange(len(first)), 0))
    return pd.DataFrame(
        {
            "session_id": session[first],
            "user_id": s_user,
            "session_index": np.arange(len(first)) - user_first,
            "start": start,
            "end": end,
            "length": (last - first + 1).astype(np.int64),
            "duration": (end - start).astype(np.int64),
            "return_gap": gap,
            "censored": ~same_user_next,
            "observed_gap": np.where(same_user_next, gap, np.maximum(end_time - end, 0)),
        }
    )
