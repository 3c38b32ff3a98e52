"""Errors raised for bad user input: one line that names what was wrong and what to do."""

from __future__ import annotations

import numpy as np


class InputError(ValueError):
    """Bad input from the user (a file, a column, an argument).

    The command line prints the message on one line and exits with status 2, so every
    message must say what was wrong, where, and how to fix it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class LogSchemaError(InputError):
    """An interaction log (file, folder or frame) does not match the expected schema."""


def show(value: object) -> str:
    """A value as a user would write it: `1`, `2.5`, `inf`, `'abc'` (never `np.int64(1)`)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)
