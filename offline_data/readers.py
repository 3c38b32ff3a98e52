"""Fast, checked reading of delimited text and Parquet files.

Column names are stripped of surrounding spaces and quotes everywhere (header checks and
the frames read), so `user_id, item_id` and `user_id,item_id` name the same columns.
Every failure is a `LogSchemaError` naming the file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from offline_data.compression import decoder_errors, read_all_bytes, read_first_line
from offline_data.shared.errors import LogSchemaError
from offline_data.validation import require_file

PARQUET_SUFFIXES = (".parquet", ".pq")


def _text_encoding(encoding: str) -> str:
    """Read UTF-8 with 'utf-8-sig' so a byte-order mark does not stick to the first name."""
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def _raw_header(path: Path, sep: str, encoding: str) -> list[str]:
    """The header fields as written (quotes removed, spaces kept); compressed files
    (`.gz`, `.bz2`, `.xz`, `.zst`) are read through their compression."""
    first = read_first_line(path, _text_encoding(encoding))
    if not first.strip():
        raise LogSchemaError(f"{path}: the file is empty; it needs a header line and rows")
    if len(sep) == 1:
        return next(csv.reader([first], delimiter=sep))
    return [name.strip('"') for name in first.split(sep)]


def _clean(name: object) -> str:
    return str(name).strip().strip('"').strip()


def csv_header(path: str | Path, sep: str = ",", encoding: str = "utf-8") -> list[str]:
    """Column names of a delimited file with a header line (stripped; unique)."""
    p = Path(path)
    names = [_clean(name) for name in _raw_header(p, sep, encoding)]
    _check_unique(names, p)
    return names


def _check_unique(names: Sequence[str], path: str | Path) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise LogSchemaError(
                f"{path}: column {name!r} appears more than once in the header; rename or "
                "drop the copies"
            )
        seen.add(name)


def read_delimited(
    path: str | Path,
    *,
    what: str,
    sep: str = ",",
    header: bool = True,
    names: Sequence[str] | None = None,
    usecols: Sequence[str] | None = None,
    text_columns: Sequence[str] = (),
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read a delimited file quickly (pyarrow engine), with file-naming errors.

    `usecols` and `text_columns` use the stripped header names (as `csv_header` gives
    them); `text_columns` are read as text exactly as written (`001` stays `'001'`). The
    frame's columns carry the stripped names. Multi-character separators such as
    MovieLens-1M's '::' are handled by rewriting them to tabs in memory, which stays fast
    where pandas' Python engine would not.
    """
    p = require_file(path, what)
    rename: dict[str, str] = {}
    if header and names is None:
        raw = _raw_header(p, sep, encoding)
        clean = [_clean(name) for name in raw]
        _check_unique(clean, p)
        to_raw = dict(zip(clean, raw, strict=True))
        wanted = [*(usecols or ()), *text_columns]
        absent = [c for c in wanted if c not in to_raw]
        if absent:
            raise LogSchemaError(
                f"{p}: missing column(s) {', '.join(map(repr, absent))}; the file has: "
                f"{', '.join(clean[:30])}"
            )
        rename = {r: c for c, r in to_raw.items() if r != c}
    else:
        to_raw = {c: c for c in [*(names or ()), *(usecols or ()), *text_columns]}
    source: Path | io.BytesIO = p
    if len(sep) > 1:
        data = read_all_bytes(p).replace(sep.encode(encoding), b"\t")
        source, sep = io.BytesIO(data), "\t"
    options: dict = {
        "sep": sep,
        "header": 0 if header else None,
        "names": list(names) if names is not None else None,
        "usecols": [to_raw[c] for c in usecols] if usecols is not None else None,
        "dtype": {to_raw[c]: str for c in text_columns} or None,
        "encoding": encoding,
    }
    try:
        try:
            frame = pd.read_csv(source, engine="pyarrow", **options)
        except (ValueError, TypeError, KeyError, pa.ArrowException):
            # options the pyarrow engine lacks, or a row it cannot parse: retry in C
            if isinstance(source, io.BytesIO):
                source.seek(0)
            frame = pd.read_csv(source, engine="c", low_memory=False, **options)
    except pd.errors.EmptyDataError:
        raise LogSchemaError(f"{p}: the file is empty; it needs rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, KeyError,
            pa.ArrowException, *decoder_errors()) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LogSchemaError(f"{p}: cannot be parsed as a {what} ({detail})") from None
    return frame.rename(columns=rename) if rename else frame


def parquet_columns(path: str | Path, what: str) -> list[str]:
    """Column names of a Parquet file, read from its schema only (unique)."""
    p = require_file(path, what)
    try:
        names = list(pq.read_schema(p).names)
    except Exception as exc:  # pyarrow raises several types for non-Parquet input
        raise LogSchemaError(f"{p}: not a readable Parquet file ({_first_line(exc)})") from None
    _check_unique(names, p)
    return names


def read_parquet(
    path: str | Path, *, what: str, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Read (some columns of) a Parquet file, with file-naming errors."""
    p = require_file(path, what)
    if columns is None:
        parquet_columns(p, what)  # refuses repeated column names
    try:
        return pd.read_parquet(p, columns=list(columns) if columns is not None else None)
    except Exception as exc:  # pyarrow raises several types for corrupt input
        raise LogSchemaError(f"{p}: not a readable Parquet file ({_first_line(exc)})") from None


def is_parquet_path(path: str | Path) -> bool:
    """True when the file name ends in .parquet or .pq."""
    return Path(path).suffix.lower() in PARQUET_SUFFIXES


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
