"""Loaders for any log in a CSV or Parquet file, given a column mapping."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from offline_data.build import build_log
from offline_data.errors import LogSchemaError
from offline_data.log import InteractionLog
from offline_data.readers import csv_header, parquet_columns, read_delimited, read_parquet
from offline_data.schema import (
    DEFAULT_SESSION_GAP_S,
    ITEM,
    KEY_COLUMNS,
    USER,
    SignalsLike,
    parse_signals,
)
from offline_data.storage import is_log_directory, read_log
from offline_data.validation import Origin, require_file

FeatureSource = str | Path | pd.DataFrame | None


def load_csv(
    path: str | Path,
    *,
    signals: SignalsLike,
    columns: Mapping[str, str] | None = None,
    sep: str = ",",
    time_unit: str = "s",
    string_ids: bool = False,
    session_gap: int = DEFAULT_SESSION_GAP_S,
    context: Sequence[str] = (),
    users: FeatureSource = None,
    items: FeatureSource = None,
) -> InteractionLog:
    """Load any delimited log file.

    `columns` maps canonical names (`user_id`, `item_id`, `timestamp`, each signal name,
    each context column) to the file's column names; unmapped names are looked up as they
    are. `signals` lists the feedback signals, e.g. `{"click": "binary", "dwell":
    "continuous"}`. `users` / `items` are optional feature tables (a file or a frame) whose
    id column has the same name as the log's mapped user / item column.
    """
    parsed = parse_signals(signals)
    mapping = _mapping(columns, [s.name for s in parsed], context)
    csv_path = require_file(path, "log (CSV)")
    _check_mapping(mapping, csv_header(csv_path, sep=sep), csv_path)
    frame = read_delimited(
        csv_path, what="log (CSV)", sep=sep, usecols=list(dict.fromkeys(mapping.values()))
    )
    return _build(frame, mapping, parsed, Origin(str(path), line_offset=2), time_unit,
                  string_ids, session_gap, context, users, items)


def load_parquet(
    path: str | Path,
    *,
    signals: SignalsLike | None = None,
    columns: Mapping[str, str] | None = None,
    time_unit: str = "s",
    string_ids: bool = False,
    session_gap: int = DEFAULT_SESSION_GAP_S,
    context: Sequence[str] = (),
    users: FeatureSource = None,
    items: FeatureSource = None,
) -> InteractionLog:
    """Load a Parquet log file, or a folder written by `InteractionLog.to_parquet`.

    For a file, arguments are as in `load_csv` (`signals` is required). For a folder
    written by `to_parquet` the stored schema is used and the other arguments must be left
    at their defaults.
    """
    if Path(path).is_dir():
        if not is_log_directory(path):
            raise LogSchemaError(
                f"{path}: a folder, but not one written by InteractionLog.to_parquet "
                "(no meta.json); pass a Parquet file instead"
            )
        return read_log(path)
    if signals is None:
        raise LogSchemaError(
            f"{path}: a Parquet log file needs signals=..., e.g. {{'click': 'binary'}} "
            "(--signals click:binary)"
        )
    parsed = parse_signals(signals)
    mapping = _mapping(columns, [s.name for s in parsed], context)
    _check_mapping(mapping, parquet_columns(path, "log (Parquet)"), path)
    frame = read_parquet(path, what="log (Parquet)", columns=list(dict.fromkeys(mapping.values())))
    return _build(frame, mapping, parsed, Origin(str(path)), time_unit, string_ids,
                  session_gap, context, users, items)


def _mapping(
    columns: Mapping[str, str] | None, signal_names: list[str], context: Sequence[str]
) -> dict[str, str]:
    known = [*KEY_COLUMNS, *signal_names, *context]
    columns = dict(columns or {})
    unknown = [k for k in columns if k not in known]
    if unknown:
        raise LogSchemaError(
            f"column mapping has unknown key(s) {unknown}; keys are canonical names "
            f"({', '.join(KEY_COLUMNS)}) or declared signal/context names ({signal_names})"
        )
    return {name: columns.get(name, name) for name in known}


def _check_mapping(mapping: dict[str, str], header: list[str], path: str | Path) -> None:
    for canonical, column in mapping.items():
        if column not in header:
            via = f"the mapping names column {column!r} for {canonical!r}" if column != canonical \
                else f"column {canonical!r} is required"
            raise LogSchemaError(
                f"{path}: {via}, but the file has no such column; it has: "
                f"{', '.join(header[:30])}. Map it with columns={{'{canonical}': '<column>'}} "
                f"(--columns {canonical}=<column>)"
            )


def _build(
    frame: pd.DataFrame,
    mapping: dict[str, str],
    signals: tuple,
    origin: Origin,
    time_unit: str,
    string_ids: bool,
    session_gap: int,
    context: Sequence[str],
    users: FeatureSource,
    items: FeatureSource,
) -> InteractionLog:
    renamed = pd.DataFrame({name: frame[column] for name, column in mapping.items()})
    return build_log(
        renamed, signals, origin=origin, time_unit=time_unit, string_ids=string_ids,
        session_gap=session_gap, context=context,
        users=_feature_table(users, mapping[USER], USER),
        items=_feature_table(items, mapping[ITEM], ITEM),
    )


def _feature_table(source: FeatureSource, column: str, key: str) -> pd.DataFrame | None:
    if source is None:
        return None
    if isinstance(source, pd.DataFrame):
        table = source
    elif str(source).endswith(".parquet"):
        table = read_parquet(source, what="feature table (Parquet)")
    else:
        table = read_delimited(source, what="feature table (CSV)")
    if column not in table.columns:
        name = "feature table" if isinstance(source, pd.DataFrame) else str(source)
        have = ", ".join(map(str, table.columns[:20]))
        raise LogSchemaError(
            f"{name}: needs an id column {column!r} (the log's {key} column); it has: {have}"
        )
    return table.rename(columns={column: key})
