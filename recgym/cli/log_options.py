"""The log options every command that reads a log takes, defined once.

`@log_options` adds `--format`, `--columns`, `--signals`, `--time-unit`, `--string-ids`,
`--sep`, `--files`, `--kuairand-log`, `--session-gap` and `--allow-early-times` to a
command and hands it one `offline_data.log_options.LogOptions`; `read_log(path, options)`
(re-exported here) turns those into the loader call for the log's format.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from offline_data import FORMATS
from offline_data.log_options import LogOptions, read_log, reject_log_options
from offline_data.schema import DEFAULT_SESSION_GAP_S

__all__ = ["LogOptions", "log_options", "read_log", "reject_log_options"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS: dict[str, Any] = {
    "format": Annotated[str | None, typer.Option(
        "--format", "-f", help=f"Log format: {', '.join(FORMATS)}; detected if omitted.")],
    "columns": Annotated[str | None, typer.Option(
        help="csv/parquet file: canonical=file column, e.g. 'user_id=uid,item_id=iid'.")],
    "signals": Annotated[str | None, typer.Option(
        help="csv/parquet file: signals and kinds, e.g. 'click:binary,dwell:continuous'.")],
    "time_unit": Annotated[str | None, typer.Option(
        help="csv/parquet file: s (default), ms, us, ns or datetime.")],
    "sep": Annotated[str | None, typer.Option(
        help="csv file: field separator, a character or tab, comma, semicolon, pipe, space "
             "(default ',', tab for .tsv).")],
    "string_ids": Annotated[bool, typer.Option(
        help="csv/parquet file: ids are text, kept as written.")],
    "session_gap": Annotated[int | None, typer.Option(
        help=f"Seconds of inactivity that start a new session (default "
             f"{DEFAULT_SESSION_GAP_S}; a recgym log folder keeps its own unless given).")],
    "kuairand_log": Annotated[str | None, typer.Option(
        help="kuairand: standard, random or all (default: standard if present, else "
             "random).")],
    "files": Annotated[str | None, typer.Option(
        help="kuairand: the log files to read, e.g. 'a.csv,b.csv'.")],
    "allow_early_times": Annotated[bool, typer.Option(
        help="csv/parquet file: accept times before 1990 (otherwise taken as a wrong "
             "--time-unit).")],
}


def log_options(command: F) -> F:
    """Give a command the shared log options: it declares a parameter `log: LogOptions`
    and receives the options given on the command line there."""
    signature = inspect.signature(command, eval_str=True)
    if "log" not in signature.parameters:
        raise TypeError(f"{command.__name__} needs a parameter `log: LogOptions`")
    own = [p for name, p in signature.parameters.items() if name != "log"]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                               default=LogOptions.__dataclass_fields__[name].default)
             for name, annotation in _OPTIONS.items()]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        options = LogOptions(**{name: kwargs.pop(name) for name in _OPTIONS})
        return command(*args, log=options, **kwargs)

    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*own, *added])
    return wrapper  # type: ignore[return-value]


