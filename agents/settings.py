"""Settings of agents and runs: integer fields that accept numpy integers and hold plain
ints, JSON-ready setting dicts, and configs read back from files, where unknown keys are
refused with a 'did you mean' that names the file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from offline_data.shared.numbers import as_int


def store_ints(config: Any, minimums: Mapping[str, int | None]) -> None:
    """Check the named integer fields of a frozen config (`None` stays `None`) and store
    them as plain `int`s; numpy integers are accepted."""
    for name, minimum in minimums.items():
        value = getattr(config, name)
        if value is not None:
            object.__setattr__(config, name, as_int(value, name, minimum=minimum))


def store_plain(config: Any, *names: str) -> None:
    """Store the named fields of a frozen config as `plain` data (for the setting dicts:
    `env_kwargs`, `agent_kwargs`, `algo_kwargs`)."""
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, Mapping):
            raise InputError(f"{name} must be a dict of settings, got {value!r}")
        object.__setattr__(config, name, plain(dict(value)))


def plain(value: Any) -> Any:
    """`value` with numpy scalars and arrays turned into Python numbers and lists,
    recursively, so it is written to JSON as it was given (`np.int64(5)` -> `5`)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass (or dict) as JSON-ready data."""
    if is_dataclass(config) and not isinstance(config, type):
        return json.loads(json.dumps(asdict(config), default=str))
    return dict(config or {})


def config_from_dict(config_class: type, data: Mapping[str, Any], source: str | Path) -> Any:
    """Rebuild a config dataclass from saved data. Unknown keys are refused with a 'did
    you mean' that names `source` (the file); keys listed in the class's `RETIRED` (fields
    that were removed and had no effect) are dropped."""
    if not is_dataclass(config_class):
        return dict(data)
    retired = set(getattr(config_class, "RETIRED", ()))
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
              if k not in retired}
    default = config_class()
    if isinstance(default, ConfigMixin):
        try:  # refuses unknown keys with a 'did you mean', and checks the values
            return default.replace(**values)
        except InputError as exc:
            raise InputError(f"{source}: {exc}; correct the file") from None
    known = {f.name for f in fields(config_class)}
    if set(values) - known:
        raise InputError(f"{source}: unknown {config_class.__name__} field(s) "
                         f"{sorted(set(values) - known)}; correct the file")
    return config_class(**values)
