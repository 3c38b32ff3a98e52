"""Loaders for any log in a CSV or Parquet file, given a column mapping."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from offline_data.build import build_log
from offline_data.compression import data_suffix
from offline_data.log import InteractionLog
from offline_data.partitioned import DATASET_FILE, PartitionedLog, is_partitioned_dir
from offline_data.readers import (
    csv_header,
    is_parquet_path,
    parquet_columns,
    read_delimited,
    read_parquet,
)
from offline_data.schema import (
    DEFAULT_SESSION_GAP_S,
    ITEM,
    KEY_COLUMNS,
    TIMESTAMP,
    USER,
    SignalsLike,
    check_session_gap,
    parse_signals,
)
from offline_data.shared.errors import InputError, LogSchemaError
from offline_data.storage import META_FILE, is_log_directory, read_log
from offline_data.validation import Origin, check_time_window, require_file

FeatureSource = str | Path | pd.DataFrame | None

STRING_IDS_HINT = "pass string_ids=True (--string-ids) if your ids are text"
SEPARATORS = ("\t", ";", "|", ",")
"""Field separators suggested when a header reads as a single column."""
SEP_NAMES = {"\t": "tab", ";": "';'", "|": "'|'", ",": "','"}
"""How to write each separator on the command line."""


def load_csv(
    path: str | Path,
    *,
    signals: SignalsLike,
    columns: Mapping[str, str] | None = None,
    sep: str | None = None,
    time_unit: str = "s",
    string_ids: bool = False,
    session_gap: int = DEFAULT_SESSION_GAP_S,
    context: Sequence[str] = (),
    users: FeatureSource = None,
    items: FeatureSource = None,
    allow_early_times: bool = False,
) -> InteractionLog:
    """Load any delimited log file.

    `columns` maps canonical names (`user_id`, `item_id`, `timestamp`, each signal name,
    each context column) to the file's column names; unmapped names are looked up as they
    are. `signals` lists the feedback signals, e.g. `{"click": "binary", "dwell":
    "continuous"}`. `users` / `items` are optional feature tables (a CSV or Parquet file,
    or a frame) whose id column has the same name as the log's mapped user / item column.
    With `string_ids=True` the id columns (of the log and of feature files) are read as
    text exactly as written, so `001` stays `'001'`. `sep` defaults to a tab for `.tsv`
    files and a comma otherwise. Files compressed as `.gz`, `.bz2`, `.xz` or `.zst`
    (`log.csv.gz`) are read like the plain file. Times before 1990 are taken as a wrong
    `time_unit` and refused, naming the likely unit, unless `allow_early_times=True`.
    Error messages use the file's own column names.
    """
    parsed = parse_signals(signals)
    session_gap = check_session_gap(session_gap)
    mapping = column_mapping(columns, [s.name for s in parsed], context)
    csv_path = require_file(path, "log (CSV)")
    if sep is None:
        sep = "\t" if data_suffix(csv_path) == ".tsv" else ","
    check_mapping(mapping, csv_header(csv_path, sep=sep), csv_path, sep)
    id_columns = [mapping[USER], mapping[ITEM]] if string_ids else []
    frame = read_delimited(
        csv_path, what="log (CSV)", sep=sep, usecols=list(dict.fromkeys(mapping.values())),
        text_columns=list(dict.fromkeys(id_columns)),
    )
    return _build(frame, mapping, parsed, file_origin(path, mapping, line_offset=2), time_unit,
                  string_ids, session_gap, context, users, items, allow_early_times)


def load_parquet(
    path: str | Path,
    *,
    signals: SignalsLike | None = None,
    columns: Mapping[str, str] | None = None,
    time_unit: str = "s",
    string_ids: bool = False,
    session_gap: int | None = None,
    context: Sequence[str] = (),
    users: FeatureSource = None,
    items: FeatureSource = None,
    allow_early_times: bool = False,
) -> InteractionLog:
    """Load a Parquet log file, or a folder written by `InteractionLog.to_parquet` or by
    `recgym data convert` (a partitioned log, loaded whole: see `PartitionedLog` to read
    one partition at a time).

    For a file, arguments are as in `load_csv` (`signals` is required; `session_gap`
    defaults to 30 minutes). A folder written by `to_parquet` carries its own schema:
    only `session_gap` may be given (the sessions are re-cut with it; default: the stored
    gap) and any other option raises an `InputError` rather than being ignored.
    Timestamp columns stored as Parquet timestamps are read as datetimes whatever
    `time_unit` says.
    """
    if Path(path).is_dir():
        partitioned = is_partitioned_dir(path)
        if not is_log_directory(path) and not partitioned:
            raise LogSchemaError(
                f"{path}: a folder, but not one written by InteractionLog.to_parquet "
                f"(no {META_FILE}) or by `recgym data convert` (no {DATASET_FILE}); pass a "
                "Parquet file instead"
            )
        given = {
            "signals": signals is not None, "columns": bool(columns),
            "time_unit": time_unit != "s", "string_ids": string_ids, "context": bool(context),
            "users": users is not None, "items": items is not None,
            "allow_early_times": allow_early_times,
        }
        passed = [name for name, flag in given.items() if flag]
        if passed:
            raise InputError(
                f"{path}: a recgym log folder carries its own schema, so "
                f"{', '.join(passed)} cannot be applied to it; leave them out (only "
                "session_gap / --session-gap can be changed)"
            )
        log = PartitionedLog(path).to_log() if partitioned else read_log(path)
        if session_gap is not None and check_session_gap(session_gap) != log.session_gap:
            log = log.with_session_gap(session_gap)
        return log
    session_gap = check_session_gap(DEFAULT_SESSION_GAP_S if session_gap is None else session_gap)
    if signals is None:
        raise LogSchemaError(
            f"{path}: a Parquet log file needs signals=..., e.g. {{'click': 'binary'}} "
            "(--signals click:binary)"
        )
    parsed = parse_signals(signals)
    mapping = column_mapping(columns, [s.name for s in parsed], context)
    check_mapping(mapping, parquet_columns(path, "log (Parquet)"), path)
    frame = read_parquet(path, what="log (Parquet)", columns=list(dict.fromkeys(mapping.values())))
    return _build(frame, mapping, parsed, file_origin(path, mapping, line_offset=None), time_unit,
                  string_ids, session_gap, context, users, items, allow_early_times)


def file_origin(path: str | Path, mapping: dict[str, str], line_offset: int | None) -> Origin:
    """Where a log file's rows come from, naming its columns as the file does."""
    renamed = {name: column for name, column in mapping.items() if name != column}
    return Origin(str(path), line_offset=line_offset, columns=renamed, id_hint=STRING_IDS_HINT)


def column_mapping(
    columns: Mapping[str, str] | None, signal_names: list[str], context: Sequence[str]
) -> dict[str, str]:
    """Canonical name -> the file's column for every column a log needs (unmapped names
    are looked up as they are); unknown keys raise."""
    known = [*KEY_COLUMNS, *signal_names, *context]
    columns = dict(columns or {})
    unknown = [k for k in columns if k not in known]
    if unknown:
        raise LogSchemaError(
            f"column mapping has unknown key(s) {unknown}; keys are canonical names "
            f"({', '.join(KEY_COLUMNS)}) or declared signal/context names ({signal_names})"
        )
    return {name: str(columns.get(name, name)) for name in known}


def check_mapping(mapping: dict[str, str], header: list[str], path: str | Path,
                  sep: str | None = None) -> None:
    """Raise naming the mapped column the file's `header` lacks (and the separator that
    fits, when the header reads as one column)."""
    for canonical, column in mapping.items():
        if column not in header and len(header) == 1 and sep is not None:
            other = next((s for s in SEPARATORS if s != sep and s in header[0]), None)
            if other is not None:
                raise LogSchemaError(
                    f"{path}: the header {header[0][:80]!r} reads as one column with "
                    f"sep={sep!r}, but it contains {other!r}; pass sep={other!r} "
                    f"(--sep {SEP_NAMES.get(other, other)})"
                )
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
    allow_early_times: bool,
) -> InteractionLog:
    renamed = pd.DataFrame({name: frame[column] for name, column in mapping.items()})
    user_table, user_origin = _feature_table(users, mapping[USER], USER, string_ids)
    item_table, item_origin = _feature_table(items, mapping[ITEM], ITEM, string_ids)
    log = build_log(
        renamed, signals, origin=origin, time_unit=time_unit, string_ids=string_ids,
        session_gap=session_gap, context=context, users=user_table, items=item_table,
        users_origin=user_origin, items_origin=item_origin,
    )
    if not allow_early_times:
        check_time_window(log.start_time, log.end_time, origin, TIMESTAMP, time_unit)
    return log


def _feature_table(
    source: FeatureSource, column: str, key: str, string_ids: bool
) -> tuple[pd.DataFrame | None, Origin | None]:
    """Read a feature table (file or frame) and say where its rows came from."""
    if source is None:
        return None, None
    kind = key.split("_")[0]
    if isinstance(source, pd.DataFrame):
        table, name, offset, header = source, f"{kind} feature table", None, list(source.columns)
    elif is_parquet_path(source):
        header = parquet_columns(source, f"{kind} feature table (Parquet)")
        table, name, offset = None, str(source), None
    else:
        header = csv_header(require_file(source, f"{kind} feature table (CSV)"))
        table, name, offset = None, str(source), 2
    if column not in header:
        have = ", ".join(map(str, header[:20]))
        raise LogSchemaError(
            f"{name}: needs an id column {column!r} (the log's {key} column); it has: {have}"
        )
    if table is None and offset is None:
        table = read_parquet(source, what=f"{kind} feature table (Parquet)")  # type: ignore[arg-type]
    elif table is None:
        table = read_delimited(source, what=f"{kind} feature table (CSV)",  # type: ignore[arg-type]
                               text_columns=[column] if string_ids else ())
    origin = Origin(name, line_offset=offset, columns={key: column} if column != key else {},
                    id_hint=STRING_IDS_HINT)
    if key in table.columns and column != key:
        raise LogSchemaError(
            f"{name}: has both {column!r} (the log's {key} column) and a column {key!r}; "
            f"rename {key!r}"
        )
    return table.rename(columns={column: key}), origin
