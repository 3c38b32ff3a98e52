"""Checks on raw log frames. Every failure raises `LogSchemaError` naming the file, the
column and an example row, so the user knows exactly what to fix."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from offline_data.schema import EARLIEST_PLAUSIBLE_S, MAX_TIMESTAMP_S, Signal
from offline_data.shared.errors import LogSchemaError, show

logger = logging.getLogger("offline_data")

TIME_UNITS: dict[str, int] = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
"""Accepted numeric time units and how many of them make one second."""

ID_LIMIT = 2.0**63
"""Numeric ids must satisfy |id| < 2**63 (they are stored as int64)."""


@dataclass(frozen=True)
class Origin:
    """Where a frame came from, to name rows and columns in error messages.

    `line_offset` is set for text files: data row i stands on line i + line_offset.
    `columns` maps canonical column names (`user_id`, ...) to the names the user's file
    gives them, so messages speak of the file's own columns. `id_hint` is appended to
    errors about non-numeric ids (e.g. how to declare text ids, where the loader can).
    """

    source: str
    line_offset: int | None = None
    columns: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    id_hint: str = ""

    def row(self, frame: pd.DataFrame, position: int) -> str:
        """Describe the row at `position` as 'line N' (text files) or 'row N'."""
        label = frame.index[position]
        if self.line_offset is not None and isinstance(label, (int, np.integer)):
            return f"line {int(label) + self.line_offset}"
        return f"row {show(label)}"

    def name(self, column: str) -> str:
        """The user's name for the canonical `column`."""
        return self.columns.get(column, column)


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
    """Raise if any of `columns` is missing from `frame` or named twice in it."""
    columns = list(columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(origin.name(str(c)) for c in frame.columns[:30])
        raise LogSchemaError(
            f"{origin.source}: missing column(s) "
            f"{', '.join(repr(origin.name(c)) for c in missing)}; the file has: {have}. "
            f"{hint}".strip()
        )
    repeated = [c for c in dict.fromkeys(columns) if (frame.columns == c).sum() > 1]
    if repeated:
        raise LogSchemaError(
            f"{origin.source}: column {origin.name(repeated[0])!r} appears more than once; "
            "rename or drop the copies"
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


def _numeric(frame: pd.DataFrame, column: str, origin: Origin, what: str) -> np.ndarray:
    """The column as a NumPy array of int64, uint64 or float64 (whichever holds its values
    exactly), raising on text that is not a number and on missing values."""
    series = frame[column]
    name = origin.name(column)
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        values = series
    else:
        values = pd.to_numeric(series, errors="coerce")
        bad = values.isna().to_numpy() & series.notna().to_numpy()
        if bad.any():
            i = _first_bad(bad)
            raise LogSchemaError(
                f"{origin.source}: column {name!r} must be numeric ({what}), but "
                f"{origin.row(frame, i)} has {name}={show(series.iloc[i])}"
            )
    nan = values.isna().to_numpy()
    if nan.any():
        i = _first_bad(nan)
        raise LogSchemaError(
            f"{origin.source}: column {name!r} has missing values ({int(nan.sum())} rows), "
            f"e.g. {origin.row(frame, i)}; fill or drop them before loading"
        )
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=np.int64)
    if pd.api.types.is_signed_integer_dtype(values):
        return values.to_numpy(dtype=np.int64)
    if pd.api.types.is_unsigned_integer_dtype(values):
        return values.to_numpy(dtype=np.uint64)
    # floats, and Python ints too large for 64 bits (object): compare as floats
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _float_problem(values: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """Masks of non-finite values and of values with |v| >= limit, for any numeric array."""
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        return ~finite, finite & (np.abs(values) >= limit)
    if values.dtype.kind == "u":
        return np.zeros(len(values), bool), values >= np.uint64(limit)
    return np.zeros(len(values), bool), np.zeros(len(values), bool)


def check_ids(frame: pd.DataFrame, column: str, origin: Origin, string_ids: bool) -> pd.Series:
    """Return the id column as int64 (or text with `string_ids`), raising on bad values.

    Numeric ids must be whole numbers with |id| < 2**63.
    """
    name = origin.name(column)
    if string_ids:
        series = frame[column]
        nan = series.isna().to_numpy()
        if nan.any():
            i = _first_bad(nan)
            raise LogSchemaError(
                f"{origin.source}: column {name!r} has missing ids ({int(nan.sum())} rows), "
                f"e.g. {origin.row(frame, i)}; drop those rows before loading"
            )
        return series.astype(str)
    what = f"ids; {origin.id_hint}" if origin.id_hint else "ids"
    values = _numeric(frame, column, origin, what)
    infinite, huge = _float_problem(values, ID_LIMIT)
    bad = infinite | huge
    if bad.any():
        i = _first_bad(bad)
        raise LogSchemaError(
            f"{origin.source}: column {name!r} must hold finite whole-number ids with "
            f"|id| < 2**63, but {origin.row(frame, i)} has {name}={show(values[i])}"
        )
    if values.dtype.kind == "f":
        fractional = values != np.floor(values)
        if fractional.any():
            i = _first_bad(fractional)
            raise LogSchemaError(
                f"{origin.source}: column {name!r} must hold whole-number ids, but "
                f"{origin.row(frame, i)} has {name}={show(values[i])}"
            )
    return pd.Series(values.astype(np.int64), index=frame.index, name=column)


def parse_timestamps(
    frame: pd.DataFrame, column: str, origin: Origin, time_unit: str
) -> tuple[np.ndarray, np.ndarray]:
    """Return (int64 Unix seconds, an order key as fine as the source), checking values.

    `time_unit` is one of s, ms, us, ns (numbers) or "datetime" (text such as ISO dates,
    fractional seconds allowed). Columns that already hold datetimes (e.g. Parquet
    timestamps) are converted as datetimes whatever `time_unit` says. The order key keeps
    sub-second order (raw numbers, or nanoseconds for datetimes).
    """
    series = frame[column]
    name = origin.name(column)
    is_datetime = pd.api.types.is_datetime64_any_dtype(series)
    if time_unit != "datetime" and time_unit not in TIME_UNITS:
        raise LogSchemaError(
            f"unknown time_unit {time_unit!r}; use one of {', '.join(TIME_UNITS)} or datetime"
        )
    if time_unit == "datetime" and not is_datetime and (
        pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)
    ):
        raise LogSchemaError(
            f"{origin.source}: column {name!r} holds numbers, not dates (e.g. "
            f"{origin.row(frame, 0)} has {name}={show(series.iloc[0])}); pass time_unit='s', "
            "'ms', 'us' or 'ns' for Unix times"
        )
    if is_datetime or time_unit == "datetime":
        parsed = _to_datetime(series)
        bad = parsed.isna().to_numpy()
        if bad.any():
            i = _first_bad(bad)
            value = series.iloc[i]
            detail = "is missing" if pd.isna(value) else f"has {name}={show(value)}"
            raise LogSchemaError(
                f"{origin.source}: column {name!r} must hold dates or times, but "
                f"{origin.row(frame, i)} {detail}"
            )
        delta = (parsed - pd.Timestamp(0, tz="UTC").as_unit("us")).to_numpy()  # timedelta64[us]
        raw = delta / np.timedelta64(1, "s")                    # float seconds
        unit_scale, unit_label = 1, "datetime"
    else:
        unit_scale, unit_label = TIME_UNITS[time_unit], time_unit
        raw = _numeric(
            frame, column, origin, f"Unix time in {time_unit}; or pass time_unit='datetime'"
        )
        infinite, _ = _float_problem(raw, np.inf)
        if infinite.any():
            i = _first_bad(infinite)
            raise LogSchemaError(
                f"{origin.source}: column {name!r} must hold finite times, but "
                f"{origin.row(frame, i)} has {name}={show(raw[i])}"
            )
    negative = raw < 0
    if negative.any():
        i = _first_bad(negative)
        raise LogSchemaError(
            f"{origin.source}: column {name!r} has timestamps before 1970, e.g. "
            f"{origin.row(frame, i)} has {name}={show(series.iloc[i])}; timestamps are "
            "Unix times"
        )
    # compare in the source unit, before any cast, so huge values cannot wrap around
    as_seconds = raw.astype(np.float64) / unit_scale
    too_late = np.floor(as_seconds) > MAX_TIMESTAMP_S
    if too_late.any():
        i = _first_bad(too_late)
        if unit_label == "datetime":
            fix = "check the dates"
        else:
            guess = next((u for u, f in TIME_UNITS.items()
                          if float(raw[i]) / f <= MAX_TIMESTAMP_S), None)
            fix = (f"the values look like time_unit={guess!r} (now {time_unit!r})"
                   if guess else "the values are too large for any time unit")
        raise LogSchemaError(
            f"{origin.source}: column {name!r} has timestamps after the year 2100, e.g. "
            f"{origin.row(frame, i)} has {name}={show(series.iloc[i])}; {fix}"
        )
    order: np.ndarray
    if unit_label == "datetime":
        order = delta.astype("timedelta64[ns]").astype(np.int64)
        seconds = np.floor_divide(order, 1_000_000_000)
    elif raw.dtype.kind == "f":
        order = raw
        seconds = np.floor(raw / unit_scale).astype(np.int64)
    else:
        order = raw.astype(np.int64)
        seconds = np.floor_divide(order, unit_scale)
    return seconds.astype(np.int64), order



def check_time_window(start_s: int, end_s: int, origin: Origin, column: str,
                      time_unit: str) -> None:
    """Raise when a log's times (Unix seconds, read in `time_unit`) begin before 1990: most
    likely the wrong unit. The error names the unit that would put the window between
    1990 and 2100, when one does."""
    if start_s >= EARLIEST_PLAUSIBLE_S:
        return
    name = origin.name(column)
    when = f"{_date(start_s)} to {_date(end_s)}"
    if time_unit in TIME_UNITS:
        scale = TIME_UNITS[time_unit]
        guess = next((u for u, f in TIME_UNITS.items() if u != time_unit and
                      start_s * scale / f >= EARLIEST_PLAUSIBLE_S and
                      end_s * scale / f <= MAX_TIMESTAMP_S), None)
        unit = f"time_unit={guess!r} (--time-unit {guess})" if guess else "another time unit"
        fix = f"the values look like {unit}, not {time_unit!r}"
    else:
        fix = "check the dates"
    raise LogSchemaError(
        f"{origin.source}: column {name!r} read with time_unit={time_unit!r} puts the log "
        f"at {when}, before 1990; {fix}. If these times are right, pass "
        "allow_early_times=True (--allow-early-times)"
    )


def _date(seconds: int) -> str:
    return str(np.datetime64(int(seconds), "s")).replace("T", " ")


def _to_datetime(series: pd.Series) -> pd.Series:
    """Parse to UTC datetimes in microseconds (NaT where impossible): ISO 8601 fast, other
    text one value at a time. The result has a fresh RangeIndex."""
    series = series.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(series):
        return pd.to_datetime(series, utc=True).dt.as_unit("us")
    parsed = pd.to_datetime(series, errors="coerce", utc=True, format="ISO8601").dt.as_unit("us")
    retry = parsed.isna().to_numpy() & series.notna().to_numpy()
    if retry.any():
        again = pd.to_datetime(series[retry], errors="coerce", utc=True, format="mixed")
        parsed = parsed.copy()
        parsed[retry] = again.dt.as_unit("us")
    return parsed


def check_signal(frame: pd.DataFrame, signal: Signal, origin: Origin) -> np.ndarray:
    """Return a signal column as float32, checking it is numeric, complete and, for
    binary signals, only 0 or 1."""
    name = origin.name(signal.name)
    values = _numeric(frame, signal.name, origin, f"{signal.kind} signal").astype(np.float64)
    if signal.is_binary:
        bad = (values != 0) & (values != 1)
        if bad.any():
            i = _first_bad(bad)
            raise LogSchemaError(
                f"{origin.source}: binary signal {name!r} must be 0 or 1, but "
                f"{origin.row(frame, i)} has {name}={show(values[i])}; declare it "
                f"'{signal.name}:continuous' or map it to 0/1"
            )
    elif not np.isfinite(values).all():
        i = _first_bad(~np.isfinite(values))
        raise LogSchemaError(
            f"{origin.source}: signal {name!r} must be finite, but "
            f"{origin.row(frame, i)} has {name}={show(values[i])}"
        )
    else:
        big = np.abs(values) > np.finfo(np.float32).max
        if big.any():
            i = _first_bad(big)
            raise LogSchemaError(
                f"{origin.source}: signal {name!r} must fit in float32 (|v| < 3.4e38), but "
                f"{origin.row(frame, i)} has {name}={show(values[i])}"
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
