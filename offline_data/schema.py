"""Canonical column names, feedback signals and their kinds."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from offline_data.shared.errors import InputError, show

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
EARLIEST_PLAUSIBLE_S = 631_152_000
"""1990-01-01 in Unix seconds: a log file whose times fall before it was most likely read
with the wrong time unit (`allow_early_times=True` accepts it as it is)."""


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


SignalsLike = Iterable[Signal] | Mapping[str, str] | Iterable[str] | str | Signal


def check_session_gap(value: object, what: str = "session_gap") -> int:
    """Return `value` as an int number of seconds >= 1, or raise naming what was wrong.

    Whole floats (`600.0`) are accepted; fractions, NaN, infinities, booleans, text and
    values below 1 are not.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        seconds = int(value)
    elif isinstance(value, numbers.Real) and not isinstance(value, bool) \
            and math.isfinite(float(value)) and float(value).is_integer():
        seconds = int(float(value))
    else:
        raise InputError(
            f"{what} must be a whole number of seconds >= 1, got {show(value)}; e.g. 1800 "
            "(30 minutes)"
        )
    if seconds < 1:
        raise InputError(
            f"{what} must be a whole number of seconds >= 1, got {seconds}; e.g. 1800 "
            "(30 minutes)"
        )
    return seconds


def parse_signals(signals: SignalsLike) -> tuple[Signal, ...]:
    """Turn `[Signal(...)]`, `{"click": "binary"}`, `["click:binary"]` or the text
    `"click:binary,dwell:continuous"` into Signals."""
    if isinstance(signals, Signal):
        signals = [signals]
    elif isinstance(signals, str):
        signals = [part for part in signals.split(",") if part.strip()]
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
