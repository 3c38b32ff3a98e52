"""Fast, checked reading of delimited text and Parquet files."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from offline_data.errors import LogSchemaError
from offline_data.validation import require_file


def csv_header(path: Path, sep: str = ",", encoding: str = "utf-8") -> list[str]:
    """Column names of a delimited file with a header line."""
    try:
        with open(path, encoding=encoding, errors="replace") as handle:
            first = handle.readline().rstrip("\r\n")
    except OSError as exc:
        raise LogSchemaError(f"{path}: cannot be read ({exc.strerror})") from None
    if not first:
        raise LogSchemaError(f"{path}: the file is empty; it needs a header line and rows")
    return [name.strip().strip('"') for name in first.split(sep)]


def read_delimited(
    path: str | Path,
    *,
    what: str,
    sep: str = ",",
    header: bool = True,
    names: Sequence[str] | None = None,
    usecols: Sequence[str] | None = None,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read a delimited file quickly (pyarrow engine), with file-naming errors.

    Multi-character separators such as MovieLens-1M's '::' are handled by rewriting them
    to tabs in memory, which stays fast where pandas' Python engine would not.
    """
    p = require_file(path, what)
    source: Path | io.BytesIO = p
    if len(sep) > 1:
        raw = p.read_bytes().replace(sep.encode(encoding), b"\t")
        source, sep = io.BytesIO(raw), "\t"
    options: dict = {
        "sep": sep,
        "header": 0 if header else None,
        "names": list(names) if names is not None else None,
        "usecols": list(usecols) if usecols is not None else None,
        "encoding": encoding,
    }
    try:
        try:
            return pd.read_csv(source, engine="pyarrow", **options)
        except (ValueError, TypeError):
            # options the pyarrow engine lacks, or a row it cannot parse: retry in C
            if isinstance(source, io.BytesIO):
                source.seek(0)
            return pd.read_csv(source, engine="c", low_memory=False, **options)
    except pd.errors.EmptyDataError:
        raise LogSchemaError(f"{p}: the file is empty; it needs rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LogSchemaError(f"{p}: cannot be parsed as a {what} ({detail})") from None


def parquet_columns(path: str | Path, what: str) -> list[str]:
    """Column names of a Parquet file, read from its schema only."""
    p = require_file(path, what)
    try:
        return list(pq.read_schema(p).names)
    except Exception as exc:  # pyarrow raises several types for non-Parquet input
        raise LogSchemaError(f"{p}: not a readable Parquet file ({exc})") from None


def read_parquet(
    path: str | Path, *, what: str, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Read (some columns of) a Parquet file, with file-naming errors."""
    p = require_file(path, what)
    try:
        return pd.read_parquet(p, columns=list(columns) if columns is not None else None)
    except Exception as exc:  # pyarrow raises several types for corrupt input
        raise LogSchemaError(f"{p}: not a readable Parquet file ({exc})") from None
