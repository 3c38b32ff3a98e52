"""Checks for numeric arguments that accept numpy scalars as readily as Python numbers."""

from __future__ import annotations

import numbers

from offline_data.shared.errors import InputError


def is_integral(value: object) -> bool:
    """True for a whole-number type: `int`, `np.int64`, ... (never `bool`, never a float)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """True for a real-number type: `int`, `float`, `np.float32`, ... (never `bool`)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def as_int(value: object, name: str, *, minimum: int | None = None) -> int:
    """`value` as a Python `int` when it is of an integral type (numpy ones included) and at
    least `minimum`; else an `InputError` that names the argument."""
    if not is_integral(value):
        raise InputError(f"{name} must be an integer, got {value!r}")
    result = int(value)  # type: ignore[call-overload]
    if minimum is not None and result < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise InputError(f"{name} must be {what}, got {result}")
    return result
