"""The distinct raw ids of a log read block by block, and their contiguous codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

CONSOLIDATE_ROWS = 1 << 20
"""Pending distinct ids are merged into the sorted set once they outnumber it (or this)."""


class IdUniverse:
    """Collects the distinct raw ids (int64 or text) seen in blocks; `sorted()` gives them
    in the order the in-memory loaders number them (sorted raw ids), so a streamed log
    gets the same contiguous ids as one loaded whole."""

    def __init__(self) -> None:
        self._known: np.ndarray | None = None
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0

    def add(self, ids: pd.Series | np.ndarray) -> None:
        """Note the ids of one block."""
        distinct = np.asarray(pd.unique(np.asarray(ids)))
        self._pending.append(distinct)
        self._pending_rows += len(distinct)
        known = 0 if self._known is None else len(self._known)
        if self._pending_rows > max(known, CONSOLIDATE_ROWS):
            self._consolidate()

    def sorted(self) -> np.ndarray:
        """Every distinct id seen, sorted (int64, or object for text ids)."""
        self._consolidate()
        return self._known if self._known is not None else np.zeros(0, np.int64)

    def _consolidate(self) -> None:
        if not self._pending:
            return
        parts = self._pending if self._known is None else [self._known, *self._pending]
        self._known = np.unique(np.concatenate(parts))
        self._pending, self._pending_rows = [], 0


def encode(raw: pa.ChunkedArray | pa.Array, universe: np.ndarray, lookup: pa.Array | None
           ) -> np.ndarray:
    """Codes (positions in the sorted `universe`) of raw ids that are all in it: a binary
    search for numbers, a hash lookup (`lookup`: the universe as an Arrow array) for
    text."""
    if lookup is None:
        return np.searchsorted(universe, raw.to_numpy()).astype(np.int64)
    codes = pc.index_in(raw, value_set=lookup)
    return codes.to_numpy().astype(np.int64)
