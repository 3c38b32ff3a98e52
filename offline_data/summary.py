"""Descriptive statistics of a log: counts, signal rates, session and return-gap quantiles."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from offline_data.log import InteractionLog
from offline_data.partitioned import PartitionedLog
from offline_data.schema import ITEM, USER
from offline_data.shared.units import DAY_S, HOUR_S

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)


def _quantiles(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {f"p{round(q * 100)}": float("nan") for q in QUANTILES} | {"mean": float("nan")}
    qs = np.quantile(values, QUANTILES)
    out = {f"p{round(q * 100)}": float(v) for q, v in zip(QUANTILES, qs, strict=True)}
    out["mean"] = float(np.mean(values))
    return out


def summarize(log: InteractionLog) -> dict[str, Any]:
    """A JSON-ready summary of `log` (what `recgym data inspect` prints)."""
    frame = log.interactions
    sessions = log.sessions
    observed = sessions.loc[~sessions["censored"], "return_gap"].to_numpy() / HOUR_S
    signals = {}
    for s in log.signals:
        values = frame[s.name].to_numpy(dtype=np.float64)
        if s.is_binary:
            signals[s.name] = {"kind": s.kind, "rate": float(values.mean())}
        else:
            signals[s.name] = {
                "kind": s.kind, "mean": float(values.mean()), "std": float(values.std()),
                "min": float(values.min()), "max": float(values.max()),
            }
    return {
        "source": log.source,
        "users": int(frame[USER].nunique()),
        "items": int(frame[ITEM].nunique()),
        "user_id_space": log.n_users,
        "item_id_space": log.n_items,
        "interactions": log.n_interactions,
        "sessions": len(sessions),
        "session_gap_s": log.session_gap,
        "window": _window(log.start_time, log.end_time),
        "signals": signals,
        "session_length": _quantiles(sessions["length"].to_numpy(dtype=np.float64)),
        "sessions_per_user": _quantiles(
            sessions.groupby(USER).size().to_numpy(dtype=np.float64)
        ),
        "return_gap_hours": _quantiles(observed),
        "censored_sessions": int(sessions["censored"].sum()),
        "user_features": None if log.users is None else list(map(str, log.users.columns)),
        "item_features": None if log.items is None else list(map(str, log.items.columns)),
        "context_columns": list(log.context_columns),
    }


GAP_SAMPLE = 2_000_000
"""Observed return gaps kept (a seeded uniform sample) for the quantiles of a partitioned
log's summary; the mean is exact."""


def summarize_partitioned(dataset: PartitionedLog) -> dict[str, Any]:
    """`summarize` of a partitioned log, read one partition at a time: counts, signal
    statistics, session lengths and sessions per user are exact; return-gap quantiles
    come from a sample of at most `GAP_SAMPLE` gaps when there are more."""
    items_seen = np.zeros(dataset.n_items, dtype=bool)
    moments = {s.name: np.array([0.0, 0.0, np.inf, -np.inf]) for s in dataset.signals}
    lengths: np.ndarray = np.zeros(1, np.int64)
    per_user: np.ndarray = np.zeros(1, np.int64)
    gaps: list[np.ndarray] = []
    gap_sum, gap_count, censored = 0.0, 0, 0
    rng = np.random.default_rng(0)
    share = min(1.0, GAP_SAMPLE / max(dataset.n_sessions, 1))
    for log in dataset.partitions():
        frame, sessions = log.interactions, log.sessions
        items_seen[frame[ITEM].to_numpy()] = True
        for s in dataset.signals:
            v = frame[s.name].to_numpy(dtype=np.float64)
            m = moments[s.name]
            m += [v.sum(), (v * v).sum(), 0.0, 0.0]
            m[2], m[3] = min(m[2], v.min()), max(m[3], v.max())
        lengths = _add_counts(lengths, sessions["length"].to_numpy())
        per_user = _add_counts(per_user, sessions.groupby(USER).size().to_numpy())
        observed = sessions.loc[~sessions["censored"], "return_gap"].to_numpy() / HOUR_S
        gap_sum, gap_count = gap_sum + observed.sum(), gap_count + len(observed)
        censored += int(sessions["censored"].sum())
        gaps.append(observed if share >= 1 else observed[rng.random(len(observed)) < share])
    n = max(dataset.n_interactions, 1)
    signals: dict[str, dict[str, Any]] = {}
    for s in dataset.signals:
        total, squares, low, high = moments[s.name]
        mean = total / n
        if s.is_binary:
            signals[s.name] = {"kind": s.kind, "rate": float(mean)}
        else:
            signals[s.name] = {"kind": s.kind, "mean": float(mean),
                               "std": float(np.sqrt(max(squares / n - mean**2, 0.0))),
                               "min": float(low), "max": float(high)}
    gap_quantiles = _quantiles(np.concatenate(gaps) if gaps else np.zeros(0))
    if gap_count:
        gap_quantiles["mean"] = gap_sum / gap_count
    return {
        "source": dataset.source,
        "users": sum(p.users for p in dataset.partition_info),
        "items": int(items_seen.sum()),
        "user_id_space": dataset.n_users,
        "item_id_space": dataset.n_items,
        "interactions": dataset.n_interactions,
        "sessions": dataset.n_sessions,
        "session_gap_s": dataset.session_gap,
        "window": _window(dataset.start_time, dataset.end_time),
        "signals": signals,
        "session_length": _count_quantiles(lengths),
        "sessions_per_user": _count_quantiles(per_user),
        "return_gap_hours": gap_quantiles,
        "censored_sessions": censored,
        "user_features": None,
        "item_features": None,
        "context_columns": list(dataset.context),
        "partitions": dataset.n_partitions,
    }


def _add_counts(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`counts` (how often each whole number occurred) plus the occurrences in `values`."""
    more = np.bincount(values.astype(np.int64))
    if len(more) > len(counts):
        counts = np.pad(counts, (0, len(more) - len(counts)))
    counts[: len(more)] += more
    return counts


def _count_quantiles(counts: np.ndarray) -> dict[str, float]:
    """`_quantiles` of the values that `counts` tallies (the same linear interpolation as
    `np.quantile`), without expanding them."""
    n = int(counts.sum())
    if n == 0:
        return _quantiles(np.zeros(0))
    cumulative = np.cumsum(counts)

    def value_at(k: np.ndarray) -> np.ndarray:
        return np.searchsorted(cumulative, k, side="right").astype(np.float64)

    out = {}
    for q in QUANTILES:
        h = (n - 1) * q
        low = np.floor(h)
        a, b = value_at(np.array([low, min(low + 1, n - 1)]))
        out[f"p{round(q * 100)}"] = float(a + (h - low) * (b - a))
    out["mean"] = float((np.arange(len(counts)) * counts).sum() / n)
    return out


def _window(start_s: int, end_s: int) -> dict[str, object]:
    """A log's time window as ISO dates and days."""
    return {"start": pd.Timestamp(start_s, unit="s", tz="UTC").isoformat(),
            "end": pd.Timestamp(end_s, unit="s", tz="UTC").isoformat(),
            "days": round((end_s - start_s) / DAY_S, 3)}
