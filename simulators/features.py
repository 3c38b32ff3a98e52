"""Dense model inputs from a log: feature tables, per-row histories and session context."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from offline_data.log import InteractionLog
from offline_data.schema import SESSION, USER

logger = logging.getLogger("simulators")

MAX_CATEGORIES = 50
"""Text columns with more distinct values than this (titles, zip codes, tags) are skipped."""
MAX_INT_CATEGORIES = 32
"""Integer columns with 3..this many distinct values are one-hot encoded as categories."""


def encode_table(table: pd.DataFrame | None, n_rows: int) -> tuple[np.ndarray, list[str]]:
    """Encode a feature table (indexed 0..n_rows-1) as a float32 matrix and its column names.

    Numbers are standardised (non-negative heavy-tailed ones after log1p), missing numbers
    become 0 with a `<col>=missing` indicator; text and small-cardinality integer columns
    are one-hot encoded; other columns are skipped with an info message.
    """
    if table is None or table.shape[1] == 0:
        return np.zeros((n_rows, 0), np.float32), []
    if len(table) != n_rows:
        raise ValueError(f"feature table has {len(table)} rows, expected {n_rows}")
    blocks: list[np.ndarray] = []
    names: list[str] = []
    for column in table.columns:
        series = table[column]
        name = str(column)
        numeric = pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)
        values = series.to_numpy(dtype=np.float64, na_value=np.nan) if numeric else None
        distinct = series.nunique(dropna=True)
        if numeric and not _is_small_int_category(values, distinct):
            block, block_names = _numeric(values, name)
        elif distinct <= MAX_CATEGORIES and distinct > 0:
            block, block_names = _one_hot(series, name)
        else:
            logger.info("feature %r skipped (%d distinct values)", name, distinct)
            continue
        blocks.append(block)
        names.extend(block_names)
    if not blocks:
        return np.zeros((n_rows, 0), np.float32), []
    return np.hstack(blocks).astype(np.float32), names


def _is_small_int_category(values: np.ndarray, distinct: int) -> bool:
    finite = values[np.isfinite(values)]
    return (
        2 < distinct <= MAX_INT_CATEGORIES
        and finite.size > 0
        and bool(np.all(finite == np.round(finite)))
    )


def _numeric(values: np.ndarray, name: str) -> tuple[np.ndarray, list[str]]:
    missing = ~np.isfinite(values)
    finite = values[~missing]
    x = values.copy()
    if finite.size and finite.min() >= 0 and np.percentile(finite, 99) > 50:
        x = np.log1p(np.where(missing, 0, x))
        finite = x[~missing]
    mean = finite.mean() if finite.size else 0.0
    std = finite.std() if finite.size else 1.0
    x = np.where(missing, 0.0, (x - mean) / (std if std > 0 else 1.0))
    if missing.any():
        return np.column_stack([x, missing.astype(np.float64)]), [name, f"{name}=missing"]
    return x[:, None], [name]


def _one_hot(series: pd.Series, name: str) -> tuple[np.ndarray, list[str]]:
    codes, categories = pd.factorize(series, sort=True)
    block = np.zeros((len(series), len(categories)))
    known = codes >= 0
    block[np.flatnonzero(known), codes[known]] = 1.0
    return block, [f"{name}={c}" for c in categories]


def history_index(user: np.ndarray, length: int) -> np.ndarray:
    """(N, length) indices of each row's previous rows of the same user, most recent first,
    -1 where there is none. Rows must be sorted by user then time."""
    n = len(user)
    index = np.full((n, length), -1, dtype=np.int64)
    rows = np.arange(n)
    for lag in range(1, length + 1):
        prev = rows - lag
        ok = prev >= 0
        ok[ok] = user[prev[ok]] == user[rows[ok]]
        index[ok, lag - 1] = prev[ok]
    return index


def session_position(session: np.ndarray) -> np.ndarray:
    """0-based step of each row within its session (rows sorted, sessions contiguous)."""
    n = len(session)
    starts = np.r_[True, session[1:] != session[:-1]] if n else np.zeros(0, bool)
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    return np.arange(n) - first


def session_index_per_row(log: InteractionLog) -> np.ndarray:
    """For each row, how many sessions its user had before the row's session."""
    return log.sessions["session_index"].to_numpy()[log.interactions[SESSION].to_numpy()]


def last_history(log: InteractionLog, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's last `length` items (most recent first, -1 padded) and their feedback."""
    frame = log.interactions
    user = frame[USER].to_numpy()
    signals = frame[log.signal_names].to_numpy(dtype=np.float32)
    items = np.full((log.n_users, length), -1, dtype=np.int64)
    feedback = np.zeros((log.n_users, length, len(log.signals)), np.float32)
    if len(frame):
        last_row = np.r_[user[1:] != user[:-1], True]
        ends = np.flatnonzero(last_row)
        idx = np.concatenate([ends[:, None], history_index(user, length)[ends, : length - 1]],
                             axis=1)
        ok = idx >= 0
        users = user[ends]
        items[users] = np.where(ok, frame["item_id"].to_numpy()[np.maximum(idx, 0)], -1)
        feedback[users] = np.where(ok[..., None], signals[np.maximum(idx, 0)], 0.0)
    return items, feedback


def consumption_profile(
    user: np.ndarray, item: np.ndarray, consumed: np.ndarray, item_x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the summed item features of the user's earlier consumed rows (`consumed`
    is 1 for a consumed item) and their count, excluding the row itself. Rows sorted by
    user then time. Returns ((N, F) float32 sums, (N,) counts)."""
    n = len(user)
    weight = consumed.astype(np.float64)
    total = np.cumsum(item_x[item] * weight[:, None], axis=0)
    count = np.cumsum(weight)
    starts = np.r_[True, user[1:] != user[:-1]] if n else np.zeros(0, bool)
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    before_sum = np.vstack([np.zeros((1, item_x.shape[1])), total[:-1]]) if n else total
    before_count = np.r_[0.0, count[:-1]] if n else count
    base_sum = before_sum[first]
    base_count = before_count[first]
    return (before_sum - base_sum).astype(np.float32), before_count - base_count
