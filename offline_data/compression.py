"""Compressed log files: `log.csv.gz`, `.bz2`, `.xz` and `.zst` read like the plain file."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from pathlib import Path

from offline_data.shared.errors import LogSchemaError

COMPRESSIONS: dict[str, str] = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
"""File suffix -> compression name (as pandas names it)."""
_LONGEST_HEADER = 2**20
"""Bytes read at most when looking for the header line."""


def compression_of(path: str | Path) -> str | None:
    """The compression of a file, judged by its last suffix (None: not compressed)."""
    return COMPRESSIONS.get(Path(path).suffix.lower())


def data_suffix(path: str | Path) -> str:
    """The suffix that says what the data is, seen through a compression suffix:
    `.csv` for both `log.csv` and `log.csv.gz`."""
    p = Path(path)
    if compression_of(p) is not None:
        p = p.with_suffix("")
    return p.suffix.lower()


def open_binary(path: Path) -> io.BufferedIOBase:
    """Open a file for reading bytes, decompressing it when its suffix says so."""
    kind = compression_of(path)
    if kind == "gzip":
        return gzip.open(path, "rb")
    if kind == "bz2":
        return bz2.open(path, "rb")
    if kind == "xz":
        return lzma.open(path, "rb")
    if kind == "zstd":
        import zstandard

        compressed = open(path, "rb")  # noqa: SIM115  (closed by the reader it is given to)
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(compressed,
                                                                            closefd=True))
    return open(path, "rb")


def read_first_line(path: Path, encoding: str) -> str:
    """The first line of a (possibly compressed) text file, without its line break.

    Undecodable bytes are replaced; a file that is not what its compression suffix says
    raises a `LogSchemaError` naming it.
    """
    try:
        with open_binary(path) as raw:
            line = raw.readline(_LONGEST_HEADER)
        return line.split(b"\r")[0].split(b"\n")[0].decode(encoding, errors="replace")
    except decoder_errors() as exc:
        raise LogSchemaError(f"{path}: cannot be read ({_reason(path, exc)})") from None


def read_all_bytes(path: Path) -> bytes:
    """All bytes of a (possibly compressed) file, decompressed."""
    try:
        with open_binary(path) as handle:
            return handle.read()
    except decoder_errors() as exc:
        raise LogSchemaError(f"{path}: cannot be read ({_reason(path, exc)})") from None


def decoder_errors() -> tuple[type[BaseException], ...]:
    """What reading a damaged or mislabelled file raises (gzip raises OSError)."""
    errors: tuple[type[BaseException], ...] = (OSError, EOFError, lzma.LZMAError)
    try:
        import zstandard
    except ImportError:
        return errors
    return (*errors, zstandard.ZstdError)


def _reason(path: Path, exc: BaseException) -> str:
    kind = compression_of(path)
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    if kind is not None and not isinstance(exc, FileNotFoundError | PermissionError):
        return f"not a valid {kind} file: {detail}; check the file or its suffix"
    return detail
