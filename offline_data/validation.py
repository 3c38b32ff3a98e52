"""Checks on raw log frames. Every failure raises `LogSchemaError` naming the file, the
column and an example row, so the user knows exactly what to fix."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from offline_data.errors import LogSchemaError
from offline_data.schema import MAX_TIMESTAMP_S, Signal

logger = logging.getLogger("offline_data")

TIME_UNITS: dict[str, int] = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
"""Accepted numeric time units and how many of them make one second."""


@dataclass(frozen=True)
class Origin:
    """Where a frame came from, to name rows in error messages.

    `line_offset` is set for text files: data row i stands on line i + line_offset.
    """

    source: str
    line_offset: int | None = None

    def row(self, frame: pd.DataFrame, position: int) -> str:
        """Describe the row at `position` as 'line N' (text files) or 'row N'."""
        label = frame.index[position]
        if self.line_offset is not None and isinstance(label, (int, np.integer)):
            return f"line {int(label) + self.line_offset}"
        return f"row {label}"


def require_file(path: str | Path, what: str) -> Path:
    """Return `path` as a Path if it is an existing file, else raise naming it."""
    p = Path(path)
    if not p.exists():
        raise LogSchemaError(f"{what} not found: {p} does not exist; check the path")
    if not p.is_file():
        raise LogSchemaError(f"{what} must be a file, but {p} is a folder")
    return p


def require_dir(path: str | Path, what: str) -> Path:
    """Return `path` as a Path if it is an existing folder, else raise naming it."""
    p = Path(path)
    if not p.exists():
        raise LogSchemaError(f"{what} not found: {p} does not exist; check the path")
    if not p.is_dir():
        raise LogSchemaError(f"{what} must be a folder, but {p} is a file")
    return p


def require_columns(
    frame: pd.DataFrame, columns: Iterable[str], origin: Origin, hint: str = ""
) -> None:
    """Raise if any of `columns` is missing from `frame`."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns[:30]))
        raise LogSchemaError(
            f"{origin.source}: missing column(s) {', '.join(map(repr, missing))}; "
            f"the file has: {have}. {hint}".strip()
        )


def require_rows(frame: pd.DataFrame, origin: Origin, after: str = "") -> None:
    """Raise if `frame` has no rows (`after` says what filtering emptied it)."""
    if len(frame) == 0:
        detail = f" after {after}" if after else ""
        raise LogSchemaError(
            f"{origin.source}: the log is empty{detail}; it needs at least one interaction"
        )


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _numeric(frame: pd.DataFrame, column: str, origin: Origin, what: str) -> pd.Series:
    series = frame[column]
    if pd.api.types.is_bool_dtype(series):
        series = series.astype(np.int64)
    if pd.api.types.is_numeric_dtype(series):
        values = series
    else:
        values = pd.to_numeric(series, errors="coerce")
        bad = values.isna().to_numpy() & series.notna().to_numpy()
        if bad.any():
            i = _first_bad(bad)
            raise LogSchemaError(
                f"{origin.source}: column {column!r} must be numeric ({what}), but "
                f"{origin.row(frame, i)} has {column}={series.iloc[i]!r}"
            )
    nan = values.isna().to_numpy()
    if nan.any():
        i = _first_bad(nan)
        raise LogSchemaError(
            f"{origin.source}: column {column!r} has missing values ({int(nan.sum())} rows), "
            f"e.g. {origin.row(frame, i)}; fill or drop them before loading"
        )
    return values


def check_ids(frame: pd.DataFrame, column: str, origin: Origin, string_ids: bool) -> pd.Series:
    """Return the id column as int64 (or str with `string_ids`), raising on bad values."""
    if string_ids:
        series = frame[column]
        nan = series.isna().to_numpy()
        if nan.any():
            i = _first_bad(nan)
            raise LogSchemaError(
                f"{origin.source}: column {column!r} has missing ids ({int(nan.sum())} rows), "
                f"e.g. {origin.row(frame, i)}; drop those rows before loading"
            )
        return series.astype(str)
    hint = "ids; pass string_ids=True (--string-ids) if your ids are text"
    values = _numeric(frame, column, origin, hint)
    as_float = values.to_numpy(dtype=np.float64)
    fractional = as_float != np.floor(as_float)
    if fractional.any():
        i = _first_bad(fractional)
        raise LogSchemaError(
            f"{origin.source}: column {column!r} must hold whole-number ids, but "
            f"{origin.row(frame, i)} has {column}={values.iloc[i]!r}"
        )
    return values.astype(np.int64)


def check_timestamps(
    frame: pd.DataFrame, column: str, origin: Origin, time_unit: str
) -> np.ndarray:
    """Return timestamps as int64 Unix seconds, raising on bad or out-of-range values.

    `time_unit` is one of s, ms, us, ns (numbers) or "datetime" (text such as ISO dates).
    """
    if time_unit == "datetime":
        series = frame[column]
        parsed = pd.to_datetime(series, errors="coerce", utc=True)
        bad = parsed.isna().to_numpy()
        if bad.any():
            i = _first_bad(bad)
            raise LogSchemaError(
                f"{origin.source}: column {column!r} must hold dates or times, but "
                f"{origin.row(frame, i)} has {column}={series.iloc[i]!r}"
            )
        epoch = pd.Timestamp(0, tz="UTC")
        seconds = ((parsed - epoch) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)
        unit_scale = 1
        raw = seconds
    elif time_unit in TIME_UNITS:
        unit_scale = TIME_UNITS[time_unit]
        raw = _numeric(
            frame, column, origin, f"Unix time in {time_unit}; or pass time_unit='datetime'"
        ).to_numpy()
        seconds = np.floor_divide(raw, unit_scale).astype(np.int64)
    else:
        raise LogSchemaError(
            f"unknown time_unit {time_unit!r}; use one of {', '.join(TIME_UNITS)} or datetime"
        )
    negative = raw < 0
    if negative.any():
        i = _first_bad(negative)
        raise LogSchemaError(
            f"{origin.source}: column {column!r} has timestamps before 1970, e.g. "
            f"{origin.row(frame, i)} has {column}={frame[column].iloc[i]!r}; timestamps are "
            "Unix times"
        )
    too_late = seconds > MAX_TIMESTAMP_S
    if too_late.any():
        i = _first_bad(too_late)
        guess = next((u for u, f in TIME_UNITS.items() if seconds[i] * unit_scale / f
                      <= MAX_TIMESTAMP_S), "ns")
        raise LogSchemaError(
            f"{origin.source}: column {column!r} has timestamps after the year 2100, e.g. "
            f"{origin.row(frame, i)} has {column}={frame[column].iloc[i]!r}; the values look "
            f"like time_unit={guess!r} (now {time_unit!r})"
        )
    return seconds


def check_signal(frame: pd.DataFrame, signal: Signal, origin: Origin) -> np.ndarray:
    """Return a signal column as float32, checking it is numeric, complete and, for
    binary signals, only 0 or 1."""
    values = _numeric(frame, signal.name, origin, f"{signal.kind} signal").to_numpy(
        dtype=np.float64
    )
    if signal.is_binary:
        bad = (values != 0) & (values != 1)
        if bad.any():
            i = _first_bad(bad)
            raise LogSchemaError(
                f"{origin.source}: binary signal {signal.name!r} must be 0 or 1, but "
                f"{origin.row(frame, i)} has {signal.name}={values[i]:g}; declare it "
                f"'{signal.name}:continuous' or map it to 0/1"
            )
    elif not np.isfinite(values).all():
        i = _first_bad(~np.isfinite(values))
        raise LogSchemaError(
            f"{origin.source}: signal {signal.name!r} must be finite, but "
            f"{origin.row(frame, i)} has {signal.name}={values[i]}"
        )
    return values.astype(np.float32)


def drop_duplicate_rows(
    frame: pd.DataFrame, origin: Origin, subset: Sequence[str] | None = None
) -> pd.DataFrame:
    """Drop exact duplicate rows, logging a warning with their count."""
    duplicated = frame.duplicated(subset=subset, keep="first").to_numpy()
    n = int(duplicated.sum())
    if n:
        logger.warning(
            "%s: dropped %d exact duplicate row(s) of %d (kept the first of each)",
            origin.source, n, len(frame),
        )
        frame = frame.loc[~duplicated]
    return frame
