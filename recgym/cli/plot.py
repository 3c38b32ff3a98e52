"""`recgym plot`: reward curves of run folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recgym.cli.app import app


@app.command("plot")
def plot_command(
    runs: Annotated[list[Path], typer.Argument(help="Run folders (several seeds of an agent "
                                                     "are drawn as one band).")],
    out: Annotated[Path, typer.Option(help="Image to write (.png, .pdf, .svg, ...).")
                   ] = Path("curves.png"),
    metric: Annotated[str, typer.Option(help="Metric to plot ('reward' = episode return).")
                      ] = "reward",
    metrics: Annotated[str | None, typer.Option(
        help="Several metrics as a grid, e.g. 'ctr,total_return,retention'; 'all' for "
             "immediate vs long-term.")] = None,
    overwrite: Annotated[bool, typer.Option(
        help="Replace OUT even if it is not a figure recgym wrote.")] = False,
) -> None:
    """Reward curves of one or more runs."""
    from recgym.plot import IMMEDIATE_VS_LONG_TERM, plot_runs

    if metrics == "all":
        chosen: tuple[str, ...] = IMMEDIATE_VS_LONG_TERM
    elif metrics:
        chosen = tuple(m.strip() for m in metrics.split(",") if m.strip())
    else:
        chosen = (metric,)
    plot_runs(runs, out, chosen, overwrite=overwrite)
    typer.echo(f"wrote {out}")
