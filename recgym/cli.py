"""The `recgym` command line. Bad input prints one line on stderr and exits with status 2."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from offline_data import FORMATS, InputError, detect_format, load_log, summarize
from offline_data.schema import DEFAULT_SESSION_GAP_S
from recgym.report import log_summary_text

app = typer.Typer(
    name="recgym",
    help="Reinforcement-learning recommendation: logs, simulators, environments, agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect and create interaction logs.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def parse_pairs(text: str | None, sep: str, option: str) -> dict[str, str]:
    """Parse 'a=b,c=d' (or 'a:b,...') into a dict, naming the option on bad input."""
    if not text:
        return {}
    pairs = {}
    for part in text.split(","):
        if sep not in part:
            raise InputError(f"{option}: {part!r} is not of the form name{sep}value")
        key, value = part.split(sep, 1)
        pairs[key.strip()] = value.strip()
    return pairs


@data_app.command("inspect")
def data_inspect(
    path: Annotated[Path, typer.Argument(help="Log file or folder.")],
    format: Annotated[
        str | None,
        typer.Option("--format", "-f", help=f"One of {', '.join(FORMATS)}; detected if omitted."),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(help="csv/parquet: canonical=file column, e.g. 'user_id=uid,item_id=iid'."),
    ] = None,
    signals: Annotated[
        str | None,
        typer.Option(help="csv/parquet: signals and kinds, e.g. 'click:binary,dwell:continuous'."),
    ] = None,
    time_unit: Annotated[str, typer.Option(help="csv/parquet: s, ms, us, ns or datetime.")] = "s",
    sep: Annotated[str, typer.Option(help="csv: field separator.")] = ",",
    string_ids: Annotated[bool, typer.Option(help="csv/parquet file: ids are text.")] = False,
    session_gap: Annotated[
        int, typer.Option(help="Seconds of inactivity that start a new session.")
    ] = DEFAULT_SESSION_GAP_S,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Summarise a log: users, items, interactions, sessions, signal rates, quantiles."""
    fmt = format if format is not None else detect_format(path)
    options: dict = {"session_gap": session_gap}
    if fmt in ("csv", "parquet") and not path.is_dir():
        declared = parse_pairs(signals, ":", "--signals")
        if not declared:
            raise InputError(f"{path}: a {fmt} log file needs --signals, e.g. click:binary")
        options.update(columns=parse_pairs(columns, "=", "--columns"), signals=declared,
                       time_unit=time_unit, string_ids=string_ids)
        if fmt == "csv":
            options["sep"] = sep
    elif fmt == "parquet":
        options = {}  # a folder written by recgym carries its own schema
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


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `recgym` command."""
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    try:
        app(args=argv, prog_name="recgym")
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
