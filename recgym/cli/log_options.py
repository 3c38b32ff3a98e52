"""The log options every command that reads a log takes, defined once.

`@log_options` adds `--format`, `--columns`, `--signals`, `--time-unit`, `--string-ids`,
`--sep`, `--files`, `--kuairand-log`, `--session-gap` and `--allow-early-times` to a
command and hands it one `LogOptions`; `read_log(path, options)` turns those into the
loader call for the log's format. An option that does not apply to the log being read is
an error, never silently ignored.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from offline_data import FORMATS, InputError, InteractionLog, detect_format, load_log
from offline_data.formats import check_format
from offline_data.schema import DEFAULT_SESSION_GAP_S
from recgym.cli.app import parse_list, parse_pairs

F = TypeVar("F", bound=Callable[..., Any])

SEPARATOR_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|",
                   "space": " "}
"""Names a separator can be given by on the command line (a tab is hard to type)."""


@dataclass(frozen=True)
class LogOptions:
    """The log options of a command, as given (None: not given)."""

    format: str | None = None
    columns: str | None = None
    signals: str | None = None
    time_unit: str | None = None
    sep: str | None = None
    string_ids: bool = False
    session_gap: int | None = None
    kuairand_log: str | None = None
    files: str | None = None
    allow_early_times: bool = False

    def given(self) -> list[str]:
        """The command-line names of the options that were given."""
        return [_flag(f.name) for f in fields(self)
                if getattr(self, f.name) not in (None, False)]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


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


def parse_separator(text: str) -> str:
    """A separator from the command line: one character, or a name such as `tab`."""
    sep = SEPARATOR_NAMES.get(text.lower(), text)
    if not sep:
        raise InputError("--sep: give a character such as ';' or a name: "
                         f"{', '.join(SEPARATOR_NAMES)}")
    return sep


def read_log(path: str | Path, options: LogOptions) -> InteractionLog:
    """Load the log at `path` with the options given on the command line: detect its
    format (unless `--format`), refuse options that do not apply to it, and call its
    loader."""
    path = Path(path)
    fmt = check_format(options.format) if options.format is not None else detect_format(path)
    is_file_log = fmt == "csv" or (fmt == "parquet" and not path.is_dir())
    what = {"kuairand": "a KuaiRand folder", "movielens": "a MovieLens folder",
            "parquet": "a recgym log folder"}.get(fmt, f"a {fmt} file")
    if fmt == "parquet" and not path.is_dir():
        what = "a Parquet file"
    file_only = {"--signals": options.signals, "--columns": options.columns,
                 "--time-unit": options.time_unit,
                 "--string-ids": options.string_ids or None,
                 "--allow-early-times": options.allow_early_times or None}
    if not is_file_log:
        _reject({**file_only, "--sep": options.sep}, "CSV / Parquet log files", path, what)
    elif fmt != "csv":
        _reject({"--sep": options.sep}, "CSV log files", path, what)
    if fmt != "kuairand":
        _reject({"--kuairand-log": options.kuairand_log, "--files": options.files},
                "KuaiRand folders", path, what)
    kwargs: dict[str, Any] = {}
    if options.session_gap is not None:
        kwargs["session_gap"] = options.session_gap
    if is_file_log:
        declared = parse_pairs(options.signals, ":", "--signals")
        if not declared:
            raise InputError(f"{path}: {what} needs --signals, e.g. --signals click:binary "
                             "(each feedback column and its kind, binary or continuous)")
        kwargs.update(columns=parse_pairs(options.columns, "=", "--columns"), signals=declared,
                      time_unit=options.time_unit or "s", string_ids=options.string_ids,
                      allow_early_times=options.allow_early_times)
        if options.sep is not None:
            kwargs["sep"] = parse_separator(options.sep)
    elif fmt == "kuairand":
        kwargs.update(log=options.kuairand_log, files=parse_list(options.files, "--files"))
    return load_log(path, fmt, **kwargs)


def reject_log_options(options: LogOptions, reason: str) -> None:
    """Raise when log options were given where no log is read (e.g. `--data synthetic`)."""
    given = options.given()
    if given:
        raise InputError(f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not "
                         f"apply {reason}; leave {'it' if len(given) == 1 else 'them'} out")


def _reject(given: dict[str, object], applies_to: str, path: Path, what: str) -> None:
    """Raise when an option was given for a log it does not apply to."""
    used = [name for name, value in given.items() if value is not None]
    if used:
        raise InputError(
            f"{', '.join(used)} only appl{'ies' if len(used) == 1 else 'y'} to {applies_to}, "
            f"but {path} is read as {what}; leave {'it' if len(used) == 1 else 'them'} out"
        )
