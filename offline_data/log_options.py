"""The options that say how to read a log (`LogOptions`: format, columns, signals, time
unit, separator, ...), and `read_log(path, options)`, which turns them into the loader call
for the log's format. An option that does not apply to the log being read is an error,
never silently ignored. The CLI's `--format`, `--columns`, ... flags map onto `LogOptions`
(`recgym.cli.log_options`); runs store them to read the same log again."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from offline_data.formats import check_format, detect_format, load_log
from offline_data.log import InteractionLog
from offline_data.shared.errors import InputError

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


def parse_pairs(text: str | None, sep: str, option: str) -> dict[str, str]:
    """Parse 'a=b,c=d' (or 'a:b,...') into a dict, naming the option on bad input.

    Empty parts (a trailing comma) are skipped; an empty name or value, or a name given
    twice, is an error.
    """
    if not text:
        return {}
    pairs: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if sep not in part:
            raise InputError(f"{option}: {part.strip()!r} is not of the form name{sep}value")
        key, value = (x.strip() for x in part.split(sep, 1))
        if not key or not value:
            raise InputError(f"{option}: {part.strip()!r} needs both a name and a value "
                             f"(name{sep}value)")
        if key in pairs:
            raise InputError(f"{option}: {key!r} is given more than once")
        pairs[key] = value
    return pairs


def parse_list(text: str | None, option: str) -> list[str] | None:
    """Parse 'a.csv,b.csv' into a list (None when the option was not given)."""
    if text is None:
        return None
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise InputError(f"{option}: give at least one name, e.g. {option} a.csv,b.csv")
    return items


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
    fmt, kwargs = loader_arguments(path, options)
    return load_log(path, fmt, **kwargs)


def loader_arguments(path: str | Path, options: LogOptions) -> tuple[str, dict[str, Any]]:
    """The format of the log at `path` (detected unless `--format`) and the keyword
    arguments of its loader (or converter) from the command-line options; options that
    do not apply to that log raise."""
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
    return fmt, kwargs


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
