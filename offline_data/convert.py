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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from offline_data.blocks import DEFAULT_BLOCK_MB, read_blocks
from offline_data.compression import compression_of, data_suffix
from offline_data.convert_passes import (
    Plan,
    Progress,
    Source,
    Spill,
    Totals,
    scatter_block,
    write_partitions,
)
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
)
from offline_data.readers import csv_header
from offline_data.schema import (
    DEFAULT_SESSION_GAP_S,
    ITEM,
    TIMESTAMP,
    USER,
    SignalsLike,
    check_session_gap,
    parse_signals,
)
from offline_data.shared.atomic import atomic_directory
from offline_data.shared.errors import InputError, LogSchemaError
from offline_data.shared.numbers import as_int
from offline_data.tabular import check_mapping, column_mapping, file_origin
from offline_data.validation import (
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

    source = Source(
        csv_path, file_columns, [mapping[USER], mapping[ITEM]] if string_ids else [], sep,
        lambda line: file_origin(csv_path, mapping, line_offset=line), prepare)

    def window_check(start: int, end: int) -> None:
        if not allow_early_times:
            check_time_window(start, end, file_origin(csv_path, mapping, None), TIMESTAMP,
                              time_unit)

    return _convert([source], out, Plan(
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

        sources.append(Source(file, [*needed, *extra], list(extra), ",", origin, prepare,
                               extra))
    return _convert(sources, out, Plan(
        signals=SIGNALS, time_unit="ms", string_ids=False,
        session_gap=check_session_gap(session_gap), partitions=partitions, block_mb=block_mb,
        label=str(p), context=CONTEXT), overwrite=overwrite, progress=progress)


def _partition_count(requested: int | None, estimated_rows: float) -> int:
    if requested is None:
        return max(1, min(MAX_PARTITIONS, round(estimated_rows / DEFAULT_PARTITION_ROWS)))
    count = as_int(requested, "partitions", minimum=1)
    if count > MAX_PARTITIONS:
        raise InputError(f"partitions must be at most {MAX_PARTITIONS}, got {count}")
    return count


def _convert(sources: list[Source], out: str | Path, plan: Plan, *, overwrite: bool,
             progress: Progress | None) -> PartitionedLog:
    if plan.block_mb <= 0 or not math.isfinite(plan.block_mb):
        raise InputError(f"block size must be a positive number of MB, got {plan.block_mb}")
    total_bytes = sum(s.path.stat().st_size for s in sources)
    if plan.partitions is not None:
        _partition_count(plan.partitions, 0)  # refuse a bad count before reading
    with atomic_directory(out, overwrite=overwrite, marker=DATASET_FILE) as tmp:
        spill_dir = tmp / ".spill"
        spill_dir.mkdir()
        totals = Totals(plan.context)
        spill: Spill | None = None
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
                        spill = Spill(spill_dir, _partition_count(plan.partitions, rows))
                    scatter_block(source, block.frame, block.first_line, plan, totals, spill)
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
        parts, dropped = write_partitions(spill, tmp / PARTS_DIR, users, items, plan, totals,
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


def _estimate_rows(source: Source, block_rows: int, block_mb: float, total_bytes: int
                   ) -> float:
    """Rows of the whole input, judged by the first block (`block_mb` of text, or the
    whole file when it is smaller)."""
    block_bytes, size = block_mb * 2**20, source.path.stat().st_size
    if compression_of(source.path) is not None:  # a block of text from compressed bytes
        block_bytes /= COMPRESSION_GUESS
    return total_bytes * block_rows / max(min(block_bytes, size), 1.0)


def convert_log(path: str | Path, out: str | Path, format: str, **options: Any
                ) -> PartitionedLog:
    """`convert_csv` or `convert_kuairand` by format name ('csv' or 'kuairand')."""
    if format == "csv":
        return convert_csv(path, out, **options)
    if format == "kuairand":
        return convert_kuairand(path, out, **options)
    raise InputError(f"cannot convert format {format!r}; a conversion reads csv or kuairand "
                     "logs (a recgym folder or a Parquet file can be loaded as it is)")
