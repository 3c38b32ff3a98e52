"""The two passes of a conversion (`offline_data.convert`): spilling checked blocks to
their users' partitions, then encoding, deduplicating, sorting, sessionising and writing
each partition."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from offline_data.build import validate_block
from offline_data.id_universe import IdUniverse, encode
from offline_data.partitioned import part_name
from offline_data.schema import ITEM, SESSION, TIMESTAMP, USER, Signal
from offline_data.sessions import assign_sessions
from offline_data.shared.errors import InputError, LogSchemaError
from offline_data.validation import TIME_UNITS, Origin

ROW_GROUP_ROWS = 131_072
"""Rows per Parquet row group: the unit `PartitionedLog.batches` reads."""

Progress = Callable[[str, int, int], None]
"""Called with (stage, done, total): stage 'read' counts bytes, 'write' partitions."""


@dataclass(frozen=True)
class Source:
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


@dataclass(frozen=True)
class Plan:
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


def partition_of(user_raw: pd.Series | np.ndarray, partitions: int) -> np.ndarray:
    """Partition of each raw user id: a stable hash (the same in every run and process)
    modulo the partition count."""
    hashed = pd.util.hash_array(np.asarray(user_raw))
    return (hashed % np.uint64(partitions)).astype(np.int64)


class Totals:
    """What pass 1 learns about the whole log."""

    def __init__(self, context: Sequence[str]) -> None:
        self.rows = 0
        self.start = np.iinfo(np.int64).max
        self.end = np.iinfo(np.int64).min
        self.users = IdUniverse()
        self.items = IdUniverse()
        self.whole = {c: True for c in context}
        self.ranges: dict[str, list[float]] = {}


def scatter_block(source: Source, raw: pd.DataFrame, first_line: int, plan: Plan,
             totals: Totals, spill: Spill) -> None:
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
    # the columns a source keeps but does not use, as one hash for exact-duplicate checks
    # (a constant where it has none: every source's spill rows share one schema)
    columns["_rest"] = (pd.util.hash_pandas_object(raw[list(source.extra)], index=False)
                        .to_numpy() if source.extra else np.zeros(len(frame), np.uint64))
    for name in plan.context:
        numbers = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
        if (np.isnan(numbers) & frame[name].notna().to_numpy()).any():
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


class Spill:
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


def write_partitions(spill: Spill, folder: Path, users: np.ndarray, items: np.ndarray,
                      plan: Plan, totals: Totals, progress: Progress | None
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
