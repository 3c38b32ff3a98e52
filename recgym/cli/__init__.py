"""The `recgym` command line. Bad input prints one line on stderr and exits with status 2.

Commands live in the modules of this package, one per command group (`data`, `sim`,
`train`, `plot`, `demo`, `sweep`), which register themselves on the shared app (`app`);
anything from `agents` is imported lazily inside its command.
"""

from __future__ import annotations

import logging
import sys
from typing import Protocol, cast

import typer

from offline_data import InputError
from recgym.cli import data, demo, offline, plot, sim, sweep, train  # noqa: F401  (register them)
from recgym.cli.app import app


class _ClickError(Protocol):
    """What click's (or typer's vendored click's) exceptions offer."""

    exit_code: int

    def format_message(self) -> str:
        """The message, as click would print it."""
        ...


# typer's usage-error classes (click's, or the copy newer typer versions ship)
_USAGE_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__
                                     if c.__name__ == "UsageError")
_CLICK_EXCEPTION: type[Exception] = next(c for c in typer.BadParameter.__mro__
                                         if c.__name__ == "ClickException")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `recgym` command.

    Bad input, whether a wrong option (`--session-gap 0.5`) or a bad file, prints one line
    `error: ...` on stderr and exits with status 2; never a traceback.
    """
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    try:
        code = app(args=argv, prog_name="recgym", standalone_mode=False)
    except _USAGE_ERROR as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.exit(2)  # the help text has been shown
        ctx = getattr(exc, "ctx", None)
        where = f"; see '{ctx.command_path} --help'" if ctx is not None else ""
        message = " ".join(cast(_ClickError, exc).format_message().split()).rstrip(".")
        typer.echo(f"error: {message}{where}", err=True)
        sys.exit(2)
    except _CLICK_EXCEPTION as exc:
        error = cast(_ClickError, exc)
        typer.echo(f"error: {' '.join(error.format_message().split())}", err=True)
        sys.exit(error.exit_code)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(130)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
