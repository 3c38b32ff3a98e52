"""One entry point for every log format, with format detection and name hints."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from offline_data.compression import COMPRESSIONS, compression_of, data_suffix
from offline_data.kuairand import load_kuairand
from offline_data.log import InteractionLog
from offline_data.movielens import load_movielens
from offline_data.partitioned import is_partitioned_dir
from offline_data.shared.errors import LogSchemaError
from offline_data.storage import is_log_directory
from offline_data.tabular import load_csv, load_parquet
from offline_data.validation import require_file

LOADERS: dict[str, Callable[..., InteractionLog]] = {
    "kuairand": load_kuairand,
    "movielens": load_movielens,
    "csv": load_csv,
    "parquet": load_parquet,
}
FORMATS: tuple[str, ...] = tuple(LOADERS)


def check_format(name: str) -> str:
    """Return `name` if it is a known format, else raise with a 'did you mean' hint."""
    if name in LOADERS:
        return name
    close = difflib.get_close_matches(name.lower(), FORMATS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise LogSchemaError(f"unknown log format {name!r}{hint} Known formats: {', '.join(FORMATS)}")


def detect_format(path: str | Path) -> str:
    """Guess the format of `path` from its files; raise naming what was expected."""
    p = Path(path)
    if p.is_dir():
        if is_log_directory(p) or is_partitioned_dir(p):
            return "parquet"
        if any(p.glob("log_standard_*.csv")) or any(p.glob("log_random_*.csv")):
            return "kuairand"
        if any((p / name).is_file() for name in ("u.data", "ratings.dat", "ratings.csv")):
            return "movielens"
        raise LogSchemaError(
            f"{p}: cannot tell the log format; expected a recgym log folder (meta.json or "
            "dataset.json), a KuaiRand folder (log_standard_*.csv or log_random_*.csv) or a "
            "MovieLens folder (u.data, ratings.dat, ratings.csv); or pass --format"
        )
    require_file(p, "log")
    suffix = data_suffix(p)
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix in (".parquet", ".pq") and compression_of(p) is None:
        return "parquet"
    raise LogSchemaError(
        f"{p}: cannot tell the log format from {''.join(p.suffixes[-2:]) or 'its name'!r} "
        f"(known: .csv, .tsv, .txt, .parquet, .pq; CSV / TSV may end in "
        f"{', '.join(COMPRESSIONS)}); pass --format"
    )


def load_log(path: str | Path, format: str | None = None, **options: Any) -> InteractionLog:
    """Load a log of any supported format (detected when `format` is None; options are
    the chosen loader's keyword arguments)."""
    name = check_format(format) if format is not None else detect_format(path)
    return LOADERS[name](path, **options)
