"""A mixin for the frozen dataclass configs used across recgym."""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, TypeVar

from offline_data.shared.errors import InputError

C = TypeVar("C", bound="ConfigMixin")


class ConfigMixin:
    """`replace` with a clear error for unknown names, and `to_dict` for JSON."""

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed; unknown names raise with a 'did you mean'."""
        known = [f.name for f in dataclasses.fields(self)]  # type: ignore[arg-type]
        unknown = sorted(set(changes) - set(known))
        if unknown:
            hints = [f"{name!r} (did you mean {close[0]!r}?)" if (close := difflib.
                     get_close_matches(name, known, n=1)) else repr(name) for name in unknown]
            raise InputError(f"unknown {type(self).__name__} field(s): {', '.join(hints)}")
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def to_dict(self) -> dict[str, Any]:
        """Fields as a JSON-ready dict."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]
