"""Errors raised for bad user input: one line that names what was wrong and what to do."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from the user (a file, a column, an argument).

    The command line prints the message on one line and exits with status 2, so every
    message must say what was wrong, where, and how to fix it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class LogSchemaError(InputError):
    """An interaction log (file, folder or frame) does not match the expected schema."""
