"""`recgym sweep`: a grid or random search of training runs on Ray Tune (`recgym[ray]`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recgym.cli.app import app


@app.command("sweep")
def sweep_command(
    config: Annotated[Path | None, typer.Option(
        help="Sweep file (YAML): kind, metric, fixed, grid, random, samples; see the README. "
             "With --resume, default: the one the sweep was started with.")] = None,
    out: Annotated[Path, typer.Option(help="Sweep folder: trials/ (run folders), "
                                           "summary.csv, curves.png.")] = Path("runs/sweep"),
    address: Annotated[str | None, typer.Option(
        help="A Ray cluster, e.g. ray://head:10001 (default: start Ray on this machine).")
    ] = None,
    max_concurrent: Annotated[int | None, typer.Option(
        help="Trials at a time (default: one per CPU).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted sweep in OUT.")
                      ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if recgym wrote it.")] = False,
) -> None:
    """Run every trial of a sweep (each an ordinary run folder, reported to Tune as it
    trains), then print one table: per configuration the mean and 95% interval over seeds."""
    from agents.sweep import EngineOptions, read_sweep_config, run_sweep
    from agents.sweep.engine import require_ray, stop_ray
    from agents.sweep.runner import SWEEP_FILE, stored_config
    from agents.sweep.summary import table_text
    from offline_data import InputError

    require_ray()
    if config is None and not resume:
        raise InputError("--config: give the sweep file, e.g. --config sweep.yaml")
    sweep = read_sweep_config(config) if config is not None else stored_config(out / SWEEP_FILE)
    try:
        result = run_sweep(sweep, out, resume=resume, overwrite=overwrite,
                           options=EngineOptions(address=address,
                                                 max_concurrent=max_concurrent))
    finally:
        stop_ray()
    typer.echo(table_text(result.table, sweep.metric))
    for name, error in result.failed.items():
        typer.echo(f"failed: {name}: {error}", err=True)
    typer.echo(f"{len(result.table)} configurations; wrote "
               + ", ".join(str(f) for f in result.files))
    if result.failed:
        raise typer.Exit(1)
