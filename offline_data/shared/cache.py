"""The user's cache folder for what recgym computes once and reuses (fitted simulators of
dataset environments, ...). Nothing is ever cached inside a data folder."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

CACHE_ENV = "RECGYM_CACHE_DIR"
"""Environment variable that moves recgym's cache folder."""


def cache_root(override: str | Path | None = None) -> Path:
    """Where recgym caches: `override` if given, else `$RECGYM_CACHE_DIR`, else
    `$XDG_CACHE_HOME/recgym`, else `~/.cache/recgym`."""
    if override is not None:
        return Path(override).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "recgym"


def content_digest(files: Iterable[Path], chunk: int = 2**20) -> str:
    """A hex digest of the files' names and contents (in the order given)."""
    digest = hashlib.blake2b(digest_size=16)
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as handle:
            while block := handle.read(chunk):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()
