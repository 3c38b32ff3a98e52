"""Logs larger than memory: a folder of Parquet partitions, read one partition at a time.

Layout (written by `offline_data.convert`):

```
DIR/dataset.json          format marker, schema, counts, one entry per partition
DIR/user_ids.parquet      raw id of user k in row k (likewise item_ids.parquet)
DIR/parts/part-00000.parquet ...
```

Users are assigned to partitions by a stable hash of their raw id, so every partition
holds whole users; its rows are sorted by (user, time) and carry the canonical columns
(`user_id`, `item_id`, `timestamp`, `session_id`, float32 signals, context columns). Ids
are contiguous across the whole dataset and equal to those the in-memory loaders give
the same file (sorted raw ids). Session ids are contiguous across the dataset, numbered
partition by partition.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.dataset as pa_ds
import pyarrow.parquet as pq

from offline_data.log import InteractionLog
from offline_data.schema import SESSION, TIMESTAMP, USER, Signal
from offline_data.sessions import assign_sessions
from offline_data.shared.errors import LogSchemaError
from offline_data.shared.jsonfile import read_format_meta
from offline_data.validation import require_dir

DATASET_FILE = "dataset.json"
FORMAT_NAME = "recgym-partitioned-log"
FORMAT_VERSION = 1
PARTS_DIR = "parts"


def part_name(index: int) -> str:
    """File name of partition `index` inside `parts/`."""
    return f"part-{index:05d}.parquet"


def is_partitioned_dir(path: str | Path) -> bool:
    """True when `path` is a folder written by `offline_data.convert`."""
    return (Path(path) / DATASET_FILE).is_file()


@dataclass(frozen=True)
class PartitionInfo:
    """What `dataset.json` says about one partition."""

    file: str
    rows: int
    users: int
    sessions: int
    first_session: int
    """Global id of the partition's first session."""


class PartitionedLog:
    """A log stored as partitions of whole users; see the module docstring.

    Iterate `partitions()` to see the log one partition (an `InteractionLog` in the
    global id space) at a time, `batches()` for plain row batches, or `to_log()` to load
    it whole when it fits in memory.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = require_dir(directory, "partitioned log folder")
        meta_path = self.directory / DATASET_FILE
        meta = read_format_meta(
            meta_path, format_name=FORMAT_NAME, version=FORMAT_VERSION, error=LogSchemaError,
            missing=f"{self.directory}: no {DATASET_FILE}; this is not a folder written by "
                    "`recgym data convert`", hint="convert the log again")
        try:
            self.signals = tuple(Signal(s["name"], s["kind"]) for s in meta["signals"])
            self.partition_info = tuple(PartitionInfo(**p) for p in meta["partitions"])
            self.session_gap = int(meta["session_gap"])
            self.start_time, self.end_time = int(meta["start_time"]), int(meta["end_time"])
            self.n_users, self.n_items = int(meta["n_users"]), int(meta["n_items"])
            self.n_interactions = int(meta["n_interactions"])
            self.context: tuple[str, ...] = tuple(meta.get("context", ()))
            self.signal_ranges: dict[str, tuple[float, float]] = {
                name: (float(low), float(high))
                for name, (low, high) in meta.get("signal_ranges", {}).items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise LogSchemaError(f"{meta_path}: unreadable metadata ({exc}); convert the log "
                                 "again") from None
        self.meta: dict[str, Any] = meta

    # ------------------------------------------------------------------ facts
    @property
    def n_partitions(self) -> int:
        """Number of partitions."""
        return len(self.partition_info)

    @property
    def n_sessions(self) -> int:
        """Number of sessions in the whole log."""
        return sum(p.sessions for p in self.partition_info)

    @property
    def signal_names(self) -> list[str]:
        """Names of the feedback signals, in order."""
        return [s.name for s in self.signals]

    @property
    def source(self) -> str:
        """The folder, as text (for messages)."""
        return str(self.directory)

    @cached_property
    def user_ids(self) -> np.ndarray:
        """Raw id of each user (row k: user k)."""
        return self._ids("user_ids.parquet", self.n_users)

    @cached_property
    def item_ids(self) -> np.ndarray:
        """Raw id of each item."""
        return self._ids("item_ids.parquet", self.n_items)

    def __repr__(self) -> str:
        return (f"PartitionedLog({self.source!r}, users={self.n_users}, items={self.n_items}, "
                f"interactions={self.n_interactions}, partitions={self.n_partitions})")

    # ------------------------------------------------------------------ reading
    def partition(self, index: int) -> InteractionLog:
        """Partition `index` as an `InteractionLog` in the dataset's id space (all users
        and items), its sessions numbered from 0."""
        info = self.partition_info[index]
        frame = self._read(info)
        frame[SESSION] = frame[SESSION].to_numpy() - info.first_session
        return self._log(frame, f"{self.source} [partition {index + 1}/{self.n_partitions}]")

    def partitions(self, order: Sequence[int] | None = None) -> Iterator[InteractionLog]:
        """Each non-empty partition in turn (in `order` when given), one in memory at a
        time."""
        for index in range(self.n_partitions) if order is None else order:
            if self.partition_info[index].rows:
                yield self.partition(index)

    def batches(self, batch_rows: int = 65_536, columns: Sequence[str] | None = None
                ) -> Iterator[pd.DataFrame]:
        """Row batches of the whole log (partition by partition, rows in order) as frames,
        read with pyarrow's dataset scanner; session ids are global."""
        files = [str(self.directory / PARTS_DIR / p.file) for p in self.partition_info if p.rows]
        dataset = pa_ds.dataset(files, format="parquet")
        for batch in dataset.to_batches(columns=list(columns) if columns else None,
                                        batch_size=batch_rows):
            if batch.num_rows:
                yield batch.to_pandas()

    def to_log(self) -> InteractionLog:
        """The whole log in memory, exactly as the in-memory loaders build it (rows sorted
        by user then time, sessions numbered in that order)."""
        frames = [self._read(p) for p in self.partition_info if p.rows]
        frame = pd.concat(frames, ignore_index=True)
        order = np.argsort(frame[USER].to_numpy(), kind="stable")
        frame = frame.iloc[order].reset_index(drop=True)
        frame[SESSION] = assign_sessions(frame[USER].to_numpy(), frame[TIMESTAMP].to_numpy(),
                                         self.session_gap)
        return self._log(frame, self.source)

    # ------------------------------------------------------------------ helpers
    def _read(self, info: PartitionInfo) -> pd.DataFrame:
        path = self.directory / PARTS_DIR / info.file
        try:
            frame = pq.read_table(path).to_pandas()
        except Exception as exc:  # pyarrow raises several types for missing / corrupt files
            raise LogSchemaError(f"{path}: not a readable partition ({exc}); convert the log "
                                 "again") from None
        if len(frame) != info.rows:
            raise LogSchemaError(f"{path}: has {len(frame)} rows but {DATASET_FILE} says "
                                 f"{info.rows}; the folder is inconsistent, convert again")
        return frame

    def _log(self, frame: pd.DataFrame, source: str) -> InteractionLog:
        return InteractionLog(interactions=frame, signals=self.signals, user_ids=self.user_ids,
                              item_ids=self.item_ids, session_gap=self.session_gap,
                              start_time=self.start_time, end_time=self.end_time, source=source)

    def _ids(self, name: str, expected: int) -> np.ndarray:
        path = self.directory / name
        try:
            ids = pq.read_table(path).column("raw_id").to_numpy(zero_copy_only=False)
        except Exception as exc:  # pyarrow raises several types for missing / corrupt files
            raise LogSchemaError(f"{path}: not readable ({exc}); convert the log again") \
                from None
        if len(ids) != expected:
            raise LogSchemaError(f"{path}: has {len(ids)} ids but {DATASET_FILE} says "
                                 f"{expected}; convert the log again")
        return np.asarray(ids)
