"""`recgym demo`: the main job (agents are imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recgym.cli.app import app


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option(help="Folder for runs, table.csv and curves.png.")
                   ] = Path("runs/demo"),
    quick: Annotated[bool, typer.Option(help="A few seconds instead of minutes.")] = False,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """The main job: train and compare agents on the synthetic world, write a plot and a
    table (replaces OUT if an earlier demo wrote it)."""
    from agents.demo import run_demo

    table = run_demo(out, quick=quick, seed=seed, progress=progress)
    typer.echo(table.to_string())
    typer.echo(f"wrote {out / 'table.csv'} and {out / 'curves.png'}")
