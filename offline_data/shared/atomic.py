"""Atomic writes: outputs appear whole under their final name, or not at all."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from offline_data.shared.errors import InputError


@contextmanager
def atomic_directory(
    target: str | Path, *, overwrite: bool = False, marker: str | None = None
) -> Iterator[Path]:
    """Yield a temporary folder beside `target`; on success it is renamed to `target`.

    An existing non-empty `target` is replaced only with `overwrite=True`, and only when it
    holds the file `marker` (e.g. `meta.json`: the folder was written by recgym). A folder
    without the marker, or any non-empty folder when `marker` is None, is never replaced,
    so `--overwrite` cannot wipe a folder of other files. Refusals are an `InputError`
    raised before anything is written. On failure the temporary folder is removed and
    `target` is left as it was.
    """
    target = check_output_dir(target, overwrite=overwrite, marker=marker)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; use the usual permissions
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_output_dir(target: str | Path, *, overwrite: bool = False,
                     marker: str | None = None) -> Path:
    """Raise an `InputError` unless `atomic_directory` may write `target` (see there); call
    it before long work so a refusal comes first, not after."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise InputError(f"{target} exists and is a file; choose a folder path for the output")
    if target.is_dir() and any(target.iterdir()):
        if not overwrite:
            raise InputError(
                f"{target} already exists and is not empty; choose another output folder or "
                "pass overwrite=True (--overwrite) to replace it"
            )
        if marker is None:
            raise InputError(
                f"{target} is not empty and cannot be recognised as a folder recgym wrote, so "
                "overwrite will not replace it; choose another output folder, or empty or "
                "remove it yourself"
            )
        if not (target / marker).is_file():
            raise InputError(
                f"{target} has no {marker}, so recgym did not write it; overwrite will not "
                "replace a folder it did not write: choose another output folder, or empty "
                "or remove it yourself"
            )
    return target


def replace_output_dir(target: str | Path, marker: str, contents: dict) -> Path:
    """Start `target` afresh for a job that writes many files into it in place: refuse
    (as `check_output_dir` with overwrite) a folder recgym did not write, remove an earlier
    one, and write `marker` with `contents` (JSON) first, so even an interrupted job leaves
    a folder recgym recognises as its own."""
    target = check_output_dir(target, overwrite=True, marker=marker)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    (target / marker).write_text(json.dumps(contents))
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(target: str | Path, data: bytes) -> Path:
    """Write `data` to `target` through a temporary file and a rename."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; use the usual permissions
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
