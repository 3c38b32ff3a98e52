"""Convert a log larger than memory into a partitioned Parquet dataset (`PartitionedLog`).

Two passes, memory bounded by a block plus one partition, never by the file:

1. The file is read in blocks (pyarrow's streaming CSV reader, `offline_data.blocks`);
   each block is checked with the in-memory loaders' rules and messages (errors name the
   file and the line, counted across blocks), its users are hashed to partitions and its
   rows appended to that partition's spill file (Arrow IPC); the distinct raw ids are
   collected.
2. Per partition: ids are encoded against the sorted id sets (the same contiguous ids the
   in-memory loader gives), exact duplicate rows dropped, rows sorted by (user, time) and
   split into sessions, and the partition written as Parquet.

The output folder appears whole or not at all (`atomic_directory`); an existing folder is
replaced only with `overwrite=True` and only when this module wrote it.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from offline_data.blocks import DEFAULT_BLOCK_MB, read_blocks
from offline_data.build import validate_block
from offline_data.compression import compression_of, data_suffix
from offline_data.id_universe import IdUniverse, encode
from offline_data.kuairand import (
    CONTEXT,
    FILE_COLUMNS,
    LOG_COLUMNS,
    SIGNALS,
    check_log_header,
    kuairand_frame,
    log_files,
)
from offline_data.partitioned import (
    DATASET_FILE,
    FORMAT_NAME,
    FORMAT_VERSION,
    PARTS_DIR,
    PartitionedLog,
    part_name,
)
from offline_data.readers import csv_header
from offline_data.schema import (
    DEFAULT_SESSION_GAP_S,
    ITEM,
    SESSION,
    TIMESTAMP,
    USER,
    Signal,
    SignalsLike,
    check_session_gap,
    parse_signals,
)
from offline_data.sessions import assign_sessions
from offline_data.shared.atomic import atomic_directory
from offline_data.shared.errors import InputError, LogSchemaError
from offline_data.shared.numbers import as_int
from offline_data.tabular import check_mapping, column_mapping, file_origin
from offline_data.validation import (
    TIME_UNITS,
    Origin,
    check_time_window,
    logger,
    require_dir,
    require_file,
)

DEFAULT_PARTITION_ROWS = 500_000
"""Without `partitions=`, partitions of about this many rows (the count rounded; rows
estimated from the first block's bytes per row), so a partition's rows fit in memory
comfortably (a few hundred MB while written or while a simulator is fitted) whatever the
file's size."""
COMPRESSION_GUESS = 4.0
"""Assumed ratio of text to compressed bytes when estimating a compressed file's rows."""
MAX_PARTITIONS = 4096
ROW_GROUP_ROWS = 131_072
"""Rows per Parquet row group: the unit `PartitionedLog.batches` reads."""

Progress = Callable[[str, int, int], None]
"""Called with (stage, done, total): stage 'read' counts bytes, 'write' partitions."""


@dataclass(frozen=True)
class _Source:
    """One file to convert and how to turn its blocks into canonical frames."""

    path: Path
    columns: list[str]
    text_columns: list[str]
    sep: str
    origin: Callable[[int], Origin]
    """Origin of a block whose first row is on the given line."""
    prepare: Callable[[pd.DataFrame, Origin], pd.DataFrame]
    extra: tuple[str, ...] = ()
    """Columns read (as text) only to tell exact duplicate rows apart, as the in-memory
    loader, which reads them too, does."""


def convert_csv(
    path: str | Path,
    out: str | Path,
    *,
    signals: SignalsLike,
    columns: Mapping[str, str] | None = None,
    sep: str | None = None,
    time_unit: str = "s",
    string_ids: bool = False,
    session_gap: int = DEFAULT_SESSION_GAP_S,
    allow_early_times: bool = False,
    partitions: int | None = None,
    block_mb: float = DEFAULT_BLOCK_MB,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> PartitionedLog:
    """Convert a delimited log file (as `load_csv` reads it, with the same options and
    errors) into a partitioned dataset in `out`, without holding the file in memory.

    `partitions` defaults to one per 500,000 rows (estimated); `block_mb` is the text
    parsed per block. Exact duplicate rows (same user, item, time, signals) are dropped with a
    warning. Returns the dataset.
    """
    parsed = parse_signals(signals)
    mapping = column_mapping(columns, [s.name for s in parsed], ())
    csv_path = require_file(path, "log (CSV)")
    if sep is None:
        sep = "\t" if data_suffix(csv_path) == ".tsv" else ","
    check_mapping(mapping, csv_header(csv_path, sep=sep), csv_path, sep)
    file_columns = list(dict.fromkeys(mapping.values()))

    def prepare(frame: pd.DataFrame, origin: Origin) -> pd.DataFrame:
        return pd.DataFrame({name: frame[column] for name, column in mapping.items()})

    source = _Source(
        csv_path, file_columns, [mapping[USER], mapping[ITEM]] if string_ids else [], sep,
        lambda line: file_origin(csv_path, mapping, line_offset=line), prepare)

    def window_check(start: int, end: int) -> None:
        if not allow_early_times:
            check_time_window(start, end, file_origin(csv_path, mapping, None), TIMESTAMP,
                              time_unit)

    return _convert([source], out, _Plan(
        signals=parsed, time_unit=time_unit, string_ids=string_ids,
        session_gap=check_session_gap(session_gap), partitions=partitions, block_mb=block_mb,
        label=str(csv_path), window_check=window_check), overwrite=overwrite, progress=progress)


def convert_kuairand(
    path: str | Path,
    out: str | Path,
    *,
    log: str | None = None,
    files: list[str] | None = None,
    session_gap: int = DEFAULT_SESSION_GAP_S,
    partitions: int | None = None,
    block_mb: float = DEFAULT_BLOCK_MB,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> PartitionedLog:
    """Convert KuaiRand logs (a folder, chosen as `load_kuairand` chooses with `log` /
    `files`, or one log file) into a partitioned dataset in `out`: the same signals
    (`watch_ratio` included), context columns and errors as `load_kuairand`. Feature
    tables are not part of the dataset."""
    p = Path(path)
    if p.is_file():
        if log is not None or files is not None:
            raise InputError(f"{p}: --kuairand-log / --files choose files in a KuaiRand "
                             "folder; for one file leave them out")
        paths = [p]
    else:
        paths = log_files(require_dir(p, "KuaiRand folder"), log, files)
    sources = []
    for file in paths:
        header = check_log_header(file)
        needed = [*LOG_COLUMNS, *(c for c in CONTEXT if c in header)]
        extra = tuple(c for c in header if c not in needed)

        def origin(line: int, file: Path = file) -> Origin:
            return Origin(str(file), line_offset=line, columns=FILE_COLUMNS)

        def prepare(frame: pd.DataFrame, where: Origin, file: Path = file) -> pd.DataFrame:
            return kuairand_frame(frame, file, where)

        sources.append(_Source(file, [*needed, *extra], list(extra), ",", origin, prepare,
                               extra))
    return _convert(sources, out, _Plan(
        signals=SIGNALS, time_unit="ms", string_ids=False,
        session_gap=check_session_gap(session_gap), partitions=partitions, block_mb=block_mb,
        label=str(p), context=CONTEXT), overwrite=overwrite, progress=progress)


@dataclass(frozen=True)
class _Plan:
    """What a conversion produces."""

    signals: tuple[Signal, ...]
    time_unit: str
    string_ids: bool
    session_gap: int
    partitions: int | None
    block_mb: float
    label: str
    context: tuple[str, ...] = ()
    window_check: Callable[[int, int], None] | None = field(default=None, compare=False)


def _partition_count(requested: int | None, estimated_rows: float) -> int:
    if requested is None:
        return max(1, min(MAX_PARTITIONS, round(estimated_rows / DEFAULT_PARTITION_ROWS)))
    count = as_int(requested, "partitions", minimum=1)
    if count > MAX_PARTITIONS:
        raise InputError(f"partitions must be at most {MAX_PARTITIONS}, got {count}")
    return count


def partition_of(user_raw: pd.Series | np.ndarray, partitions: int) -> np.ndarray:
    """Partition of each raw user id: a stable hash (the same in every run and process)
    modulo the partition count."""
    hashed = pd.util.hash_array(np.asarray(user_raw))
    return (hashed % np.uint64(partitions)).astype(np.int64)


class _Totals:
    """What pass 1 learns about the whole log."""

    def __init__(self, context: Sequence[str]) -> None:
        self.rows = 0
        self.start = np.iinfo(np.int64).max
        self.end = np.iinfo(np.int64).min
        self.users = IdUniverse()
        self.items = IdUniverse()
        self.whole = {c: True for c in context}
        self.ranges: dict[str, list[float]] = {}


def _convert(sources: list[_Source], out: str | Path, plan: _Plan, *, overwrite: bool,
             progress: Progress | None) -> PartitionedLog:
    if plan.block_mb <= 0 or not math.isfinite(plan.block_mb):
        raise InputError(f"block size must be a positive number of MB, got {plan.block_mb}")
    total_bytes = sum(s.path.stat().st_size for s in sources)
    if plan.partitions is not None:
        _partition_count(plan.partitions, 0)  # refuse a bad count before reading
    with atomic_directory(out, overwrite=overwrite, marker=DATASET_FILE) as tmp:
        spill_dir = tmp / ".spill"
        spill_dir.mkdir()
        totals = _Totals(plan.context)
        spill: _Spill | None = None
        try:
            done = 0
            for source in sources:
                for block in read_blocks(source.path, columns=source.columns,
                                         what="log (CSV)", sep=source.sep,
                                         text_columns=source.text_columns,
                                         block_mb=plan.block_mb):
                    if spill is None:
                        rows = _estimate_rows(source, len(block.frame), plan.block_mb,
                                              total_bytes)
                        spill = _Spill(spill_dir, _partition_count(plan.partitions, rows))
                    _scatter(source, block.frame, block.first_line, plan, totals, spill)
                    if progress is not None:
                        progress("read", done + block.bytes_read, total_bytes)
                done += source.path.stat().st_size
        finally:
            if spill is not None:
                spill.close()
        if spill is None or totals.rows == 0:
            raise LogSchemaError(f"{plan.label}: the log is empty; it needs at least one "
                                 "interaction")
        if plan.window_check is not None:
            plan.window_check(int(totals.start), int(totals.end))
        users, items = totals.users.sorted(), totals.items.sorted()
        for name, ids in (("user_ids", users), ("item_ids", items)):
            pq.write_table(pa.table({"raw_id": ids}), tmp / f"{name}.parquet")
        (tmp / PARTS_DIR).mkdir()
        parts, dropped = _write_partitions(spill, tmp / PARTS_DIR, users, items, plan, totals,
                                           progress)
        shutil.rmtree(spill_dir)
        if dropped:
            logger.warning("%s: dropped %d exact duplicate row(s) of %d (kept the first of "
                           "each)", plan.label, dropped, totals.rows)
        meta = {
            "format": FORMAT_NAME, "version": FORMAT_VERSION,
            "signals": [{"name": s.name, "kind": s.kind} for s in plan.signals],
            "session_gap": plan.session_gap, "start_time": int(totals.start),
            "end_time": int(totals.end), "n_users": len(users), "n_items": len(items),
            "n_interactions": totals.rows - dropped, "duplicates_dropped": dropped,
            "signal_ranges": totals.ranges,
            "context": list(plan.context), "string_ids": plan.string_ids,
            "sources": [str(s.path) for s in sources], "partitions": parts,
        }
        (tmp / DATASET_FILE).write_text(json.dumps(meta, indent=1))
    return PartitionedLog(out)


def _estimate_rows(source: _Source, block_rows: int, block_mb: float, total_bytes: int
                   ) -> float:
    """Rows of the whole input, judged by the first block (`block_mb` of text, or the
    whole file when it is smaller)."""
    text_bytes = min(block_mb * 2**20, source.path.stat().st_size)
    if compression_of(source.path) is not None:
        text_bytes /= COMPRESSION_GUESS
    return total_bytes * block_rows / max(text_bytes, 1.0)


def _scatter(source: _Source, raw: pd.DataFrame, first_line: int, plan: _Plan,
             totals: _Totals, spill: _Spill) -> None:
    """Pass 1 for one block: check it, note its ids and times, spill its rows to their
    users' partitions."""
    origin = source.origin(first_line)
    frame = source.prepare(raw, origin)
    user, item, seconds, order, values = validate_block(
        frame, plan.signals, origin, time_unit=plan.time_unit, string_ids=plan.string_ids)
    scale = TIME_UNITS.get(plan.time_unit, 1_000_000_000)
    # the time within the second, in the source's unit: (seconds, fraction) sorts as the
    # raw times do, so sub-second order survives as in the in-memory loaders
    fraction = (order - seconds * scale).astype(np.float64)
    columns: dict[str, Any] = {
        USER: _id_array(user, plan.string_ids), ITEM: _id_array(item, plan.string_ids),
        TIMESTAMP: seconds, "_fraction": fraction, **values}
    if source.extra:
        columns["_rest"] = pd.util.hash_pandas_object(raw[list(source.extra)], index=False
                                                      ).to_numpy()
    for name in plan.context:
        numbers = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(numbers).any() and frame[name].notna().all():
            raise LogSchemaError(f"{origin.source}: context column {name!r} must be numeric "
                                 "to be kept by a conversion")
        finite = numbers[np.isfinite(numbers)]
        whole = len(finite) == len(numbers) and bool(np.all(finite == np.round(finite)))
        totals.whole[name] = totals.whole[name] and whole
        columns[name] = numbers
    spill.write(partition_of(user, spill.count), pa.table(columns))
    totals.users.add(user)
    totals.items.add(item)
    totals.rows += len(frame)
    totals.start = min(totals.start, int(seconds.min()))
    totals.end = max(totals.end, int(seconds.max()))


def _id_array(ids: pd.Series, text: bool) -> pa.Array:
    return pa.array(ids.to_numpy(dtype=object), type=pa.string()) if text \
        else pa.array(ids.to_numpy(dtype=np.int64))


class _Spill:
    """One Arrow IPC stream per partition, appended to block by block."""

    def __init__(self, folder: Path, count: int) -> None:
        self.folder, self.count = folder, count
        _allow_open_files(count + 64)
        self._writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        self._sinks: dict[int, pa.NativeFile] = {}

    def path(self, part: int) -> Path:
        """The spill file of partition `part`."""
        return self.folder / f"{part:05d}.arrow"

    def write(self, part: np.ndarray, table: pa.Table) -> None:
        """Append each row of `table` to the spill file of its partition."""
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.count + 1))
        table = table.take(pa.array(order))
        for p in map(int, np.flatnonzero(np.diff(bounds))):
            piece = table.slice(int(bounds[p]), int(bounds[p + 1] - bounds[p]))
            if p not in self._writers:
                self._sinks[p] = pa.OSFile(str(self.path(p)), "wb")
                self._writers[p] = pa.ipc.new_stream(self._sinks[p], piece.schema)
            self._writers[p].write_table(piece)

    def read(self, part: int) -> pa.Table | None:
        """All rows spilled to partition `part` (None when it got none)."""
        path = self.path(part)
        if not path.exists():
            return None
        with pa.OSFile(str(path), "rb") as source:
            return pa.ipc.open_stream(source).read_all()

    def close(self) -> None:
        """Finish every spill file."""
        for p, writer in self._writers.items():
            writer.close()
            self._sinks[p].close()
        self._writers.clear()
        self._sinks.clear()


def _allow_open_files(needed: int) -> None:
    """Raise this process's limit on open files to `needed` (one spill file per partition
    is open while reading), up to the hard limit; refuse when that is too low."""
    try:
        import resource
    except ImportError:  # not on Unix: no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise InputError(f"{needed - 64} partitions need {needed} open files but this system "
                         f"allows {hard}; pass fewer partitions (--partitions)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _write_partitions(spill: _Spill, folder: Path, users: np.ndarray, items: np.ndarray,
                      plan: _Plan, totals: _Totals, progress: Progress | None
                      ) -> tuple[list[dict[str, Any]], int]:
    """Pass 2: encode, deduplicate, sort, sessionise and write each partition."""
    user_lookup = pa.array(users, type=pa.string()) if plan.string_ids else None
    item_lookup = pa.array(items, type=pa.string()) if plan.string_ids else None
    parts: list[dict[str, Any]] = []
    first_session, dropped = 0, 0
    low = {s.name: np.inf for s in plan.signals}
    high = {s.name: -np.inf for s in plan.signals}
    for p in range(spill.count):
        table = spill.read(p)
        rows = users_in = sessions = 0
        if table is not None:
            frame = pd.DataFrame({
                USER: encode(table[USER], users, user_lookup),
                ITEM: encode(table[ITEM], items, item_lookup),
                **{name: table[name].to_numpy() for name in table.column_names
                   if name not in (USER, ITEM)}})
            del table
            duplicated = frame.duplicated().to_numpy()
            if duplicated.any():
                dropped += int(duplicated.sum())
                frame = frame.loc[~duplicated]
            user, timestamp = frame[USER].to_numpy(), frame[TIMESTAMP].to_numpy()
            order = np.lexsort((frame["_fraction"].to_numpy(), timestamp, user))
            user, timestamp = user[order], timestamp[order]
            local = assign_sessions(user, timestamp, plan.session_gap)
            columns: dict[str, Any] = {USER: user, ITEM: frame[ITEM].to_numpy()[order],
                                       TIMESTAMP: timestamp, SESSION: local + first_session}
            for s in plan.signals:
                columns[s.name] = values = frame[s.name].to_numpy()[order]
                low[s.name] = min(low[s.name], float(values.min()))
                high[s.name] = max(high[s.name], float(values.max()))
            for name in plan.context:
                values = frame[name].to_numpy()[order]
                columns[name] = values.astype(np.int64) if totals.whole[name] else values
            pq.write_table(pa.table(columns), folder / part_name(p),
                           row_group_size=ROW_GROUP_ROWS)
            rows = len(user)
            users_in = int(np.count_nonzero(np.r_[True, user[1:] != user[:-1]]))
            sessions = int(local[-1]) + 1
        parts.append({"file": part_name(p), "rows": rows, "users": users_in,
                      "sessions": sessions, "first_session": first_session})
        first_session += sessions
        if progress is not None:
            progress("write", p + 1, spill.count)
    totals.ranges = {name: [low[name], high[name]] for name in low}
    return parts, dropped


def convert_log(path: str | Path, out: str | Path, format: str, **options: Any
                ) -> PartitionedLog:
    """`convert_csv` or `convert_kuairand` by format name ('csv' or 'kuairand')."""
    if format == "csv":
        return convert_csv(path, out, **options)
    if format == "kuairand":
        return convert_kuairand(path, out, **options)
    raise InputError(f"cannot convert format {format!r}; a conversion reads csv or kuairand "
                     "logs (a recgym folder or a Parquet file can be loaded as it is)")
