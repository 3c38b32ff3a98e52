"""Markdown tables and number cells for the results page."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A markdown table; cells are written with `str` (use `num` and friends first)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def finite(value: object) -> bool:
    """Whether `value` is a real, finite number (not None, NaN, a string, a bool)."""
    return as_float(value) is not None


def as_float(value: object) -> float | None:
    """`value` as a float when it is a real, finite number (not a bool); else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def num(value: object, digits: int = 3) -> str:
    """A number with `digits` decimals (integers with thousands separators); `-` for
    missing or non-finite values; other values as they are."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def count(value: object) -> str:
    """A rate or count rounded to an integer, with thousands separators."""
    number = as_float(value)
    return "-" if number is None else f"{round(number):,}"


def bounds(values: object, digits: int = 3) -> str:
    """`[lo, hi]` for a pair (or the last two of a triple); `-` when not finite."""
    if not isinstance(values, Sequence) or isinstance(values, str) or len(values) < 2:
        return "-"
    lo, hi = as_float(values[-2]), as_float(values[-1])
    if lo is None or hi is None:
        return "-"
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def interval(values: object, digits: int = 3) -> str:
    """`mean [lo, hi]` for a (mean, lo, hi) triple; the mean alone when the bounds are not
    finite (one seed); `-` when the mean is not."""
    if not isinstance(values, Sequence) or isinstance(values, str) or not values:
        return "-"
    mean = as_float(values[0])
    if mean is None:
        return "-"
    rest = bounds(values[1:], digits) if len(values) >= 3 else "-"
    return f"{mean:.{digits}f}" + ("" if rest == "-" else f" {rest}")


def percent(value: object, signed: bool = False) -> str:
    """A fraction as a whole percentage (`+12%` with `signed`)."""
    number = as_float(value)
    if number is None:
        return "-"
    return f"{100 * number:{'+' if signed else ''}.0f}%"


def duration(seconds: object) -> str:
    """`1 h 02 min`, `11 min 36 s` or `42.0 s`; `not recorded` when missing."""
    total = as_float(seconds)
    if total is None:
        return "not recorded"
    if total < 60:
        return f"{total:.1f} s"
    minutes, secs = divmod(round(total), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def pick(row: Mapping[str, Any], key: str) -> Any:
    """`row[key]`, or `row["metrics"][key]` when the row nests its metrics."""
    if key in row:
        return row[key]
    nested = row.get("metrics")
    return nested.get(key) if isinstance(nested, Mapping) else None


def generic_rows(rows: Sequence[Mapping[str, Any]], first: Sequence[str] = ()) -> str:
    """A table of any list of flat rows: the `first` columns (those present) and then every
    other key in the order met; pairs of numbers as `[lo, hi]`."""
    keys: list[str] = [k for k in first if any(k in r for r in rows)]
    for row in rows:
        keys += [k for k in row if k not in keys and not isinstance(row[k], Mapping)]

    def cell(value: Any) -> str:
        if isinstance(value, list | tuple):
            return bounds(value) if len(value) == 2 else ", ".join(num(v) for v in value)
        return num(value)

    return table(keys, [[cell(row.get(k)) for k in keys] for row in rows])
