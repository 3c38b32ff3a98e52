"""Descriptive statistics of a log: counts, signal rates, session and return-gap quantiles."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from offline_data.log import InteractionLog
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
        "window": {
            "start": pd.Timestamp(log.start_time, unit="s", tz="UTC").isoformat(),
            "end": pd.Timestamp(log.end_time, unit="s", tz="UTC").isoformat(),
            "days": round((log.end_time - log.start_time) / DAY_S, 3),
        },
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
