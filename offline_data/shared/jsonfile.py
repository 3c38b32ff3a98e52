"""Reading the small JSON metadata files recgym writes beside its outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from offline_data.shared.errors import InputError


def read_json_object(path: str | Path, *, missing: str, hint: str = "",
                     error: type[InputError] = InputError) -> dict[str, Any]:
    """The JSON object in `path`. A missing file raises `error(missing)`; an unreadable
    file or one that holds no JSON object raises `error` naming the file, plus `hint`
    (what to do)."""
    path = Path(path)
    if not path.is_file():
        raise error(missing)
    suffix = f"; {hint}" if hint else ""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: unreadable ({exc}){suffix}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: holds {type(data).__name__}, not a JSON object{suffix}")
    return data


def read_format_meta(path: Path, *, format_name: str, version: int, missing: str,
                     hint: str, error: type[InputError] = InputError) -> dict[str, Any]:
    """The metadata JSON of a folder recgym wrote (`read_json_object`), refused unless it
    names `format_name` at `version`; errors name the file, plus `hint`."""
    meta = read_json_object(path, missing=missing, hint=hint, error=error)
    if meta.get("format") != format_name:
        raise error(f"{path}: format is {meta.get('format')!r}, not {format_name!r}; {hint}")
    if meta.get("version") != version:
        raise error(f"{path}: version {meta.get('version')!r} is not {version}; {hint}")
    return meta


def json_default(value: object) -> object:
    """`json.dumps(..., default=json_default)`: numpy scalars and arrays as Python numbers
    and lists; anything else is refused as `json` would."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
