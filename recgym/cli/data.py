"""`recgym data ...`: inspect and create interaction logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from offline_data import FORMATS, InputError, detect_format, load_log, summarize
from offline_data.formats import check_format
from offline_data.schema import DEFAULT_SESSION_GAP_S
from recgym.cli.app import app, parse_list, parse_pairs
from recgym.report import log_summary_text

data_app = typer.Typer(help="Inspect and create interaction logs.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _reject(given: dict[str, object], applies_to: str, path: Path, fmt: str) -> None:
    """Raise when an option was given for a log it does not apply to (never ignore it)."""
    used = [name for name, value in given.items() if value is not None]
    if used:
        raise InputError(
            f"{', '.join(used)} only appl{'ies' if len(used) == 1 else 'y'} to {applies_to}, "
            f"but {path} is read as {fmt}; leave {'it' if len(used) == 1 else 'them'} out"
        )


@data_app.command("inspect")
def data_inspect(
    path: Annotated[Path, typer.Argument(help="Log file or folder.")],
    format: Annotated[
        str | None,
        typer.Option("--format", "-f", help=f"One of {', '.join(FORMATS)}; detected if omitted."),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(help="csv/parquet file: canonical=file column, e.g. "
                     "'user_id=uid,item_id=iid'."),
    ] = None,
    signals: Annotated[
        str | None,
        typer.Option(help="csv/parquet file: signals and kinds, e.g. "
                     "'click:binary,dwell:continuous'."),
    ] = None,
    time_unit: Annotated[
        str | None, typer.Option(help="csv/parquet file: s (default), ms, us, ns or datetime.")
    ] = None,
    sep: Annotated[
        str | None, typer.Option(help="csv: field separator (default ',', tab for .tsv).")
    ] = None,
    string_ids: Annotated[
        bool, typer.Option(help="csv/parquet file: ids are text, kept as written.")
    ] = False,
    session_gap: Annotated[
        int | None,
        typer.Option(help=f"Seconds of inactivity that start a new session (default "
                     f"{DEFAULT_SESSION_GAP_S}; a recgym log folder keeps its own unless given)."),
    ] = None,
    kuairand_log: Annotated[
        str | None,
        typer.Option(help="kuairand: standard, random or all (default: standard if present, "
                     "else random)."),
    ] = None,
    files: Annotated[
        str | None,
        typer.Option(help="kuairand: the log files to read, e.g. 'a.csv,b.csv'."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Summarise a log: users, items, interactions, sessions, signal rates, quantiles."""
    fmt = check_format(format) if format is not None else detect_format(path)
    is_file_log = fmt == "csv" or (fmt == "parquet" and not path.is_dir())
    what = {"kuairand": "a KuaiRand folder", "movielens": "a MovieLens folder",
            "parquet": "a recgym log folder"}.get(fmt, f"a {fmt} file")
    file_options = {"--signals": signals, "--columns": columns, "--time-unit": time_unit,
                    "--string-ids": True if string_ids else None}
    if not is_file_log:
        _reject({**file_options, "--sep": sep}, "CSV / Parquet log files", path, what)
    elif fmt != "csv":
        _reject({"--sep": sep}, "CSV log files", path, what)
    if fmt != "kuairand":
        _reject({"--kuairand-log": kuairand_log, "--files": files}, "KuaiRand folders", path,
                what)
    options: dict = {}
    if session_gap is not None:
        options["session_gap"] = session_gap
    if is_file_log:
        declared = parse_pairs(signals, ":", "--signals")
        if not declared:
            raise InputError(f"{path}: a {fmt} log file needs --signals, e.g. click:binary")
        options.update(columns=parse_pairs(columns, "=", "--columns"), signals=declared,
                       time_unit=time_unit or "s", string_ids=string_ids)
        if sep is not None:
            options["sep"] = sep
    elif fmt == "kuairand":
        options.update(log=kuairand_log, files=parse_list(files, "--files"))
    summary = summarize(load_log(path, fmt, **options))
    typer.echo(json.dumps(summary, indent=2) if as_json else log_summary_text(summary))


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the Parquet log to.")],
    users: Annotated[int, typer.Option(help="Users to simulate.")] = 1000,
    days: Annotated[float, typer.Option(help="Days of activity per user.")] = 7.0,
    seed: Annotated[int, typer.Option(help="Seed of the world and of the logging run.")] = 0,
    policy: Annotated[
        str,
        typer.Option(help="Behaviour policy: random, popularity, epsilon_greedy, click_greedy, "
                     "diversity_aware."),
    ] = "epsilon_greedy",
    slate_size: Annotated[int, typer.Option(help="Items shown per step.")] = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
) -> None:
    """Log a behaviour policy in the synthetic world and write it as a Parquet folder."""
    from simulators import synthetic_log

    if users <= 0:
        raise InputError(f"--users must be positive, got {users}")
    log = synthetic_log(n_users=users, n_days=days, seed=seed, policy=policy,
                        slate_size=slate_size)
    log.to_parquet(out, overwrite=overwrite)
    typer.echo(f"wrote {log.n_interactions:,} interactions of {users:,} users to {out}")
