"""`recgym data ...`: inspect and create interaction logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from offline_data import InputError, summarize
from recgym.cli.app import app
from recgym.cli.log_options import LogOptions, log_options, read_log
from recgym.report import log_summary_text

data_app = typer.Typer(help="Inspect and create interaction logs.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("inspect")
@log_options
def data_inspect(
    path: Annotated[Path, typer.Argument(help="Log file or folder.")],
    log: LogOptions,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Summarise a log: users, items, interactions, sessions, signal rates, quantiles."""
    summary = summarize(read_log(path, log))
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
