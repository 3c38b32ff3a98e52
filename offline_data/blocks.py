"""Reading a large delimited file in blocks with pyarrow's streaming CSV reader.

Each `Block` holds a few megabytes of rows as a pandas frame, numbers already parsed
where the whole column parses (by pyarrow, fast) and text where it does not, so the
validation of `offline_data.validation` reports bad values with the messages of the
in-memory loaders. Blocks know the line number of their first row (header = line 1,
counted across blocks), so an error deep in a large file names its exact line.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from offline_data.compression import compression_of
from offline_data.readers import csv_header
from offline_data.shared.errors import LogSchemaError
from offline_data.validation import require_file

DEFAULT_BLOCK_MB = 4
"""Megabytes of text parsed per block: memory stays near a few blocks, whatever the file
(pyarrow reads a few blocks ahead). Larger blocks are not faster: 4 and 16 MB convert at
the same rate, 16 MB needs about 150 MB more."""


@dataclass(frozen=True)
class Block:
    """Consecutive rows of a delimited file."""

    frame: pd.DataFrame
    """The rows (index 0..n-1), columns named as the file's stripped header names."""
    first_line: int
    """Line number of the first row (the header is line 1)."""
    bytes_read: int
    """Bytes of the file (as stored, compressed or not) read so far."""


def read_blocks(
    path: str | Path,
    *,
    columns: Sequence[str],
    what: str,
    sep: str = ",",
    text_columns: Sequence[str] = (),
    block_mb: float = DEFAULT_BLOCK_MB,
) -> Iterator[Block]:
    """Yield the `columns` of a delimited file with a header line, block by block.

    Numbers are parsed by pyarrow where a whole column of a block parses (int64, else
    float64); otherwise the column stays text (None for missing values), for validation
    to name the bad row. `text_columns` always stay text (ids read as written). Files
    compressed as `.gz`, `.bz2`, `.zst` or `.xz` are read through their compression.
    """
    p = require_file(path, what)
    if len(sep) != 1:
        raise LogSchemaError(
            f"{p}: a streaming conversion needs a one-character separator, got {sep!r}; "
            "rewrite the file with ',' or tab separators"
        )
    if block_mb <= 0:
        raise LogSchemaError(f"block size must be positive, got {block_mb} MB")
    header = csv_header(p, sep=sep)
    wanted = list(dict.fromkeys(columns))
    absent = [c for c in wanted if c not in header]
    if absent:
        raise LogSchemaError(f"{p}: missing column(s) {', '.join(map(repr, absent))}; the file "
                             f"has: {', '.join(header[:30])}")
    raw, stream = _open(p)
    reader_options = pa_csv.ReadOptions(column_names=header, skip_rows=1,
                                        block_size=max(int(block_mb * 2**20), 2**16))
    convert = pa_csv.ConvertOptions(include_columns=wanted,
                                    column_types={c: pa.string() for c in wanted},
                                    strings_can_be_null=True)
    text = set(text_columns)
    kinds: dict[str, Any] = {}
    line = 2
    try:
        try:
            reader = pa_csv.open_csv(stream, read_options=reader_options,
                                     parse_options=pa_csv.ParseOptions(delimiter=sep),
                                     convert_options=convert)
        except StopIteration:  # no rows after the header
            return
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            if batch.num_rows == 0:
                continue
            frame = pd.DataFrame({
                name: column.to_pandas() if name in text else _parsed(column, name, kinds)
                for name, column in zip(batch.schema.names, batch.columns, strict=True)})
            yield Block(frame, line, raw.tell())
            line += batch.num_rows
    except pa.ArrowInvalid as exc:
        detail = str(exc).strip().splitlines()[0]
        raise LogSchemaError(f"{p}: cannot be parsed as a {what} at or after line {line} "
                             f"({detail})") from None
    except OSError as exc:
        raise LogSchemaError(f"{p}: cannot be read at or after line {line} ({exc}); check "
                             "the file or its suffix") from None
    finally:
        stream.close()
        raw.close()


def _open(path: Path) -> tuple[Any, Any]:
    """(the raw file, for its position; the stream of decompressed bytes).

    Python file objects, not Arrow's native files: from a native file pyarrow's reader
    reads ahead as fast as the disk allows, up to the whole file (measured: 208 MB held
    for a 157 MB file); from a Python file it holds a few blocks."""
    raw = open(path, "rb")  # noqa: SIM115  (closed by read_blocks)
    kind = compression_of(path)
    if kind == "gzip":
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == "bz2":
        return raw, bz2.BZ2File(raw, "rb")
    if kind == "xz":
        return raw, lzma.LZMAFile(raw, "rb")
    if kind == "zstd":
        import zstandard

        return raw, zstandard.ZstdDecompressor().stream_reader(raw)
    return raw, raw


def _parsed(column: pa.Array, name: str, kinds: dict[str, Any]) -> pd.Series | Any:
    """The column as int64 or float64 numbers when every value parses (NaN where missing),
    else as text; the type that worked last for the column is tried first."""
    order = [pa.int64(), pa.float64()]
    if kinds.get(name) == pa.float64():
        order.reverse()
    for kind in order:
        try:
            values = pc.cast(column, kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        kinds[name] = kind
        if values.null_count:
            return values.to_pandas()  # float64 with NaN, for the missing-value check
        return values.to_numpy(zero_copy_only=False)
    return column.to_pandas()
