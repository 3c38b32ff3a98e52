"""Canonical column names, feedback signals and their kinds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from offline_data.errors import InputError

USER = "user_id"
ITEM = "item_id"
TIMESTAMP = "timestamp"
SESSION = "session_id"
KEY_COLUMNS: tuple[str, ...] = (USER, ITEM, TIMESTAMP)
CANONICAL_COLUMNS: tuple[str, ...] = (USER, ITEM, TIMESTAMP, SESSION)

SignalKind = Literal["binary", "continuous"]
SIGNAL_KINDS: tuple[str, ...] = ("binary", "continuous")

DEFAULT_SESSION_GAP_S = 30 * 60
"""Two interactions of one user further apart than this start a new session (seconds)."""

MAX_TIMESTAMP_S = 4_102_444_800
"""2100-01-01 in Unix seconds; later timestamps are taken as a wrong time unit."""


@dataclass(frozen=True)
class Signal:
    """One feedback signal of a log: its column name and whether it is 0/1 or a number."""

    name: str
    kind: SignalKind

    def __post_init__(self) -> None:
        if self.kind not in SIGNAL_KINDS:
            raise InputError(
                f"signal {self.name!r} has kind {self.kind!r}; use one of {', '.join(SIGNAL_KINDS)}"
            )
        if self.name in CANONICAL_COLUMNS:
            raise InputError(
                f"signal name {self.name!r} clashes with the canonical column of that name; "
                "rename the signal"
            )

    @property
    def is_binary(self) -> bool:
        """True for 0/1 signals (click, like, ...)."""
        return self.kind == "binary"


SignalsLike = Iterable[Signal] | Mapping[str, str] | Iterable[str]


def parse_signals(signals: SignalsLike) -> tuple[Signal, ...]:
    """Turn `[Signal(...)]`, `{"click": "binary"}` or `["click:binary"]` into Signals."""
    if isinstance(signals, Mapping):
        parsed = [Signal(str(name), kind) for name, kind in signals.items()]  # type: ignore[arg-type]
    else:
        parsed = []
        for entry in signals:
            if isinstance(entry, Signal):
                parsed.append(entry)
            elif isinstance(entry, str) and ":" in entry:
                name, kind = entry.split(":", 1)
                parsed.append(Signal(name.strip(), kind.strip()))  # type: ignore[arg-type]
            else:
                raise InputError(
                    f"signal {entry!r} has no kind; write it as 'name:binary' or "
                    "'name:continuous', or pass Signal(name, kind)"
                )
    names = [s.name for s in parsed]
    if len(set(names)) != len(names):
        raise InputError(f"signals are named more than once: {names}")
    return tuple(parsed)
