"""Dense model inputs from a log: feature tables, per-row histories and session context."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from offline_data.log import InteractionLog
from offline_data.schema import SESSION, USER
from offline_data.shared.units import HOUR_S

logger = logging.getLogger("simulators")

MAX_INT_CATEGORIES = 32
"""Integer columns with 3..this many distinct values are one-hot encoded as categories."""
TOP_CATEGORIES = 31
"""Categorical columns with more values keep the most frequent this many (plus 'other')."""
MIN_TOP_COVERAGE = 0.5
"""...provided those cover at least this share of the rows; otherwise (titles, zip codes,
author ids) the column is skipped."""
CODE_NAME = re.compile(r"(^|_)(id|ids|code|codes|cat|category|type|tag|tags|feat\d*)(_|$|\d)",
                       re.IGNORECASE)
"""Integer columns whose name matches this hold codes, not quantities."""


def encode_table(table: pd.DataFrame | None, n_rows: int) -> tuple[np.ndarray, list[str]]:
    """Encode a feature table (indexed 0..n_rows-1) as a float32 matrix and its column names.

    Quantities are standardised (non-negative heavy-tailed ones after log1p); missing numbers
    become 0 with a `<col>=missing` indicator. Categories are one-hot encoded: text columns,
    integer columns with few values, and integer columns named like codes (`*_id`,
    `onehot_feat3`, `type`, ...); a category column with many values keeps its 31 most
    frequent values plus "other", or is skipped (with an info message) when those cover
    under half of the rows. List or other unhashable values are treated as text.
    """
    if table is None or table.shape[1] == 0:
        return np.zeros((n_rows, 0), np.float32), []
    if len(table) != n_rows:
        raise ValueError(f"feature table has {len(table)} rows, expected {n_rows}")
    blocks: list[np.ndarray] = []
    names: list[str] = []
    for column in table.columns:
        name = str(column)
        series = _hashable(table[column])
        numeric = pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)
        distinct = series.nunique(dropna=True)
        if distinct == 0:
            continue
        values = series.to_numpy(dtype=np.float64, na_value=np.nan) if numeric else None
        if values is not None and not _is_category(values, distinct, name):
            block, block_names = _numeric(values, name)
        else:
            encoded = _one_hot(series, name)
            if encoded is None:
                logger.info("feature %r skipped (%d distinct values)", name, distinct)
                continue
            block, block_names = encoded
        blocks.append(block)
        names.extend(block_names)
    if not blocks:
        return np.zeros((n_rows, 0), np.float32), []
    return np.hstack(blocks).astype(np.float32), names


def category_columns(names: list[str] | tuple[str, ...]) -> np.ndarray:
    """1.0 for the one-hot category columns among `encode_table`'s column names (`col=value`),
    0.0 for quantities and missing-value indicators."""
    return np.array([float("=" in n and not n.endswith("=missing")) for n in names],
                    dtype=np.float32)


def _hashable(series: pd.Series) -> pd.Series:
    """Values that pandas can count: lists, dicts and sets become their text."""
    if series.dtype == object:
        sample = series.dropna()
        if len(sample) and not all(isinstance(v, (str, int, float, bool)) for v in sample[:100]):
            return series.map(lambda v: v if v is None or isinstance(v, float) else str(v))
    return series


def _is_category(values: np.ndarray, distinct: int, name: str) -> bool:
    finite = values[np.isfinite(values)]
    whole = finite.size > 0 and bool(np.all(finite == np.round(finite)))
    if not whole or distinct <= 2:
        return False
    return distinct <= MAX_INT_CATEGORIES or bool(CODE_NAME.search(name))


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


def _one_hot(series: pd.Series, name: str) -> tuple[np.ndarray, list[str]] | None:
    counts = series.value_counts(dropna=True)
    if len(counts) > TOP_CATEGORIES + 1:
        top = counts.index[:TOP_CATEGORIES]
        if counts.iloc[:TOP_CATEGORIES].sum() < MIN_TOP_COVERAGE * series.notna().sum():
            return None
        keep = series.isin(top)
        codes = np.where(keep, pd.Index(top).get_indexer(series), len(top))
        codes = np.where(series.isna(), -1, codes)
        labels = [*map(str, top), "other"]
    else:
        codes, categories = pd.factorize(series, sort=True)
        labels = [str(c) for c in categories]
    block = np.zeros((len(series), len(labels)))
    known = codes >= 0
    block[np.flatnonzero(known), codes[known]] = 1.0
    return block, [f"{name}={label}" for label in labels]


@dataclass(frozen=True)
class Steps:
    """Rows grouped into steps: the consecutive rows of one user with the same timestamp
    (the items of one slate). Simulators act per step, so histories, consumption profiles
    and session positions are built per step: rows of a step never see each other."""

    first: np.ndarray
    """(N,) the first row of each row's step."""
    step: np.ndarray
    """(N,) step id of each row (contiguous from 0)."""
    starts: np.ndarray
    """(n_steps,) first row of each step."""

    @classmethod
    def of(cls, user: np.ndarray, timestamp: np.ndarray) -> Steps:
        """Steps of rows sorted by user then time."""
        n = len(user)
        new = np.ones(n, dtype=bool)
        if n > 1:
            new[1:] = (user[1:] != user[:-1]) | (timestamp[1:] != timestamp[:-1])
        starts = np.flatnonzero(new)
        step = np.cumsum(new) - 1
        return cls(first=starts[step], step=step, starts=starts)

    def reduce_max(self, values: np.ndarray) -> np.ndarray:
        """Per-step maximum of per-row values (rows of a step are contiguous)."""
        if not len(values):
            return values
        return np.maximum.reduceat(values, self.starts, axis=0)


def history_index(user: np.ndarray, length: int, first: np.ndarray | None = None
                  ) -> np.ndarray:
    """(N, length) indices of the rows before each row's step (same user, most recent
    first), -1 where there is none. Rows must be sorted by user then time; `first` is each
    row's step start (default: every row is its own step)."""
    n = len(user)
    base = np.arange(n) if first is None else first
    index = np.full((n, length), -1, dtype=np.int64)
    rows = np.arange(n)
    for lag in range(1, length + 1):
        prev = base - lag
        ok = prev >= 0
        ok[ok] = user[prev[ok]] == user[rows[ok]]
        index[ok, lag - 1] = prev[ok]
    return index


def session_position(session: np.ndarray) -> np.ndarray:
    """0-based position of each entry within its session (entries sorted, sessions
    contiguous); applied to steps it gives each step's position in the session."""
    n = len(session)
    starts = np.r_[True, session[1:] != session[:-1]] if n else np.zeros(0, bool)
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    return np.arange(n) - first


def session_index_per_row(log: InteractionLog) -> np.ndarray:
    """For each row, how many sessions its user had before the row's session."""
    return log.sessions["session_index"].to_numpy()[log.interactions[SESSION].to_numpy()]


def last_history(log: InteractionLog, length: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each user's last `length` items (most recent first, -1 padded), their feedback and
    their age in hours at the end of the log."""
    frame = log.interactions
    user = frame[USER].to_numpy()
    signals = frame[log.signal_names].to_numpy(dtype=np.float32)
    items = np.full((log.n_users, length), -1, dtype=np.int64)
    feedback = np.zeros((log.n_users, length, len(log.signals)), np.float32)
    hours = np.zeros((log.n_users, length), np.float32)
    if len(frame):
        last_row = np.r_[user[1:] != user[:-1], True]
        ends = np.flatnonzero(last_row)
        idx = np.concatenate([ends[:, None], history_index(user, length)[ends, : length - 1]],
                             axis=1)
        ok = idx >= 0
        users = user[ends]
        items[users] = np.where(ok, frame["item_id"].to_numpy()[np.maximum(idx, 0)], -1)
        feedback[users] = np.where(ok[..., None], signals[np.maximum(idx, 0)], 0.0)
        stamp = frame["timestamp"].to_numpy()[np.maximum(idx, 0)]
        hours[users] = np.where(ok, (log.end_time - stamp) / HOUR_S, 0.0)
    return items, feedback, hours


def consumption_profile(
    user: np.ndarray, item: np.ndarray, consumed: np.ndarray, item_x: np.ndarray,
    first: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the summed item features of the user's consumed rows (`consumed` is 1 for
    a consumed item) before the row's step, and their count. Rows sorted by user then
    time; `first` is each row's step start (default: each row is its own step). Returns
    ((N, F) float32 sums, (N,) counts)."""
    n = len(user)
    weight = consumed.astype(np.float64)
    total = np.cumsum(item_x[item] * weight[:, None], axis=0)
    count = np.cumsum(weight)
    starts = np.r_[True, user[1:] != user[:-1]] if n else np.zeros(0, bool)
    user_first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    before_sum = np.vstack([np.zeros((1, item_x.shape[1])), total[:-1]]) if n else total
    before_count = np.r_[0.0, count[:-1]] if n else count
    at = np.arange(n) if first is None else first
    return ((before_sum[at] - before_sum[user_first]).astype(np.float32),
            before_count[at] - before_count[user_first])
