"""Writing figures: the format follows the file name, writes are atomic, and a file that
recgym did not write is never replaced without `overwrite=True`."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from offline_data.shared.atomic import atomic_write_bytes
from offline_data.shared.errors import InputError

CREATOR = "recgym (matplotlib)"
"""Written into each figure's metadata, so recgym recognises the figures it wrote."""
_METADATA_KEY = {"png": "Software", "pdf": "Creator", "svg": "Creator", "eps": "Creator",
                 "ps": "Creator"}
"""Formats whose metadata can carry `CREATOR`, and under which key."""
_LARGEST_FIGURE = 64 * 2**20
"""Files larger than this are never taken for a figure recgym wrote."""


def figure_format(path: str | Path) -> str:
    """The image format named by the file's suffix (`curves.png` -> `png`); an
    `InputError` for a suffix matplotlib cannot write."""
    p = Path(path)
    supported = FigureCanvasAgg(Figure()).get_supported_filetypes()
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in supported:
        what = f"has the suffix {p.suffix!r}" if p.suffix else "has no suffix"
        raise InputError(f"{p} {what}, which is not an image format recgym can write; end "
                         f"the name in .png (or .{', .'.join(sorted(set(supported) - {'png'}))})")
    return fmt


def written_by_recgym(path: str | Path) -> bool:
    """True when `path` is a figure file that recgym wrote (its metadata says so)."""
    p = Path(path)
    if not p.is_file() or p.stat().st_size > _LARGEST_FIGURE:
        return False
    return CREATOR.encode() in p.read_bytes()


def write_figure(fig: Figure, path: str | Path, *, overwrite: bool = False,
                 dpi: int = 110) -> Path:
    """Save `fig` to `path` in the format its suffix names, atomically. An existing file
    is replaced only when recgym wrote it, or with `overwrite=True`."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p} is a folder; give a file name such as {p / 'curves.png'}")
    fmt = figure_format(p)
    if p.exists() and not overwrite and not written_by_recgym(p):
        raise InputError(f"{p} already exists and is not a figure recgym wrote; choose "
                         "another file name, or pass overwrite=True (--overwrite) to replace it")
    key = _METADATA_KEY.get(fmt)
    buffer = BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi, metadata={key: CREATOR} if key else None)
    return atomic_write_bytes(p, buffer.getvalue())
