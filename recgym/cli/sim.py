"""`recgym fit-sim`: fit a user simulator to a log, measure its fidelity, save both."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from offline_data.partitioned import PartitionedLog, is_partitioned_dir
from offline_data.shared.atomic import check_output_dir
from offline_data.shared.errors import InputError
from recgym.cli.app import app
from recgym.cli.log_options import LogOptions, log_options, read_log, reject_log_options
from recgym.report import fidelity_text


@app.command("fit-sim")
@log_options
def fit_sim(
    data: Annotated[str, typer.Option(help="Log file or folder, or 'synthetic' (no files).")],
    out: Annotated[Path, typer.Option(help="Folder for the simulator and fidelity.json.")],
    log: LogOptions,
    users: Annotated[int, typer.Option(help="synthetic: users.")] = 2000,
    days: Annotated[float, typer.Option(help="synthetic: days to fit on.")] = 14.0,
    fresh_days: Annotated[
        float, typer.Option(help="synthetic: later days held out to compare with the truth.")
    ] = 3.0,
    seed: Annotated[int, typer.Option(help="Seed of the data (synthetic) and the fit.")] = 0,
    test_fraction: Annotated[
        float, typer.Option(help="Share of the time window held out (when the log has no "
                                 "random exposures).")
    ] = 0.1,
    epochs: Annotated[int, typer.Option(help="Maximum epochs of the response model.")] = 30,
    arch: Annotated[str, typer.Option(help="shared_bottom or mmoe.")] = "shared_bottom",
    history_len: Annotated[int, typer.Option(help="Recent items the model sees.")] = 10,
    set_size: Annotated[
        int, typer.Option("--set", help="Also fit a Sim2Rec set of this many members (0: no).")
    ] = 0,
    set_heldout: Annotated[int, typer.Option(help="Members of the set held out as unseen.")] = 2,
    set_spread: Annotated[float, typer.Option(
        help="Width of the set's behaviour perturbations (1: default, 2: members differ "
             "more).")] = 1.0,
    baselines: Annotated[
        bool, typer.Option(help="Compare with popularity-only and user-item-only models "
                                "(logs in memory).")
    ] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if recgym wrote it.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Fit a simulator on a log (minus a held-out part), write it with fidelity.json.

    With `--kuairand-log all` the random exposures are held out to score the signals. A
    partitioned folder (`recgym data convert`) is fitted one partition at a time, its
    fidelity measured on the held-out rows of one partition (no baselines, no --set)."""
    from simulators.persistence import META_FILE
    from simulators.pipeline import (
        FIDELITY_FILE,
        fit_partitioned_with_fidelity,
        fit_with_fidelity,
        synthetic_fitting_log,
    )
    from simulators.sim_config import SimulatorConfig

    check_output_dir(out, overwrite=overwrite, marker=META_FILE)
    config = SimulatorConfig(epochs=epochs, arch=arch, history_len=history_len, seed=seed,
                             progress=progress)
    if data != "synthetic" and is_partitioned_dir(data) and not log.given():
        if set_size:
            raise InputError(f"--set needs a log in memory; {data} is a partitioned folder "
                             "fitted one partition at a time (leave --set out)")
        result = fit_partitioned_with_fidelity(PartitionedLog(data), config,
                                               test_fraction=test_fraction, seed=seed)
    else:
        if data == "synthetic":
            reject_log_options(log, "to --data synthetic (the log is generated)")
            interactions, test_fraction = synthetic_fitting_log(users, days, fresh_days, seed)
        else:
            interactions = read_log(data, log)
        result = fit_with_fidelity(interactions, config, test_fraction=test_fraction,
                                   baselines=baselines, set_size=set_size,
                                   set_heldout=set_heldout, set_spread=set_spread, seed=seed)
    result.save(out, overwrite=overwrite)
    typer.echo(fidelity_text(result.fidelity))
    typer.echo(f"wrote {out} (simulator.json, weights.pt, {FIDELITY_FILE}"
               f"{', set/' if result.simulator_set is not None else ''})")
