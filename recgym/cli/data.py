"""`recgym data ...`: inspect and create interaction logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from offline_data import InputError, summarize
from offline_data.blocks import DEFAULT_BLOCK_MB
from offline_data.partitioned import PartitionedLog, is_partitioned_dir
from offline_data.summary import summarize_partitioned
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
    """Summarise a log: users, items, interactions, sessions, signal rates, quantiles.

    A partitioned folder (`recgym data convert`) is read one partition at a time."""
    if is_partitioned_dir(path) and not log.given():
        summary = summarize_partitioned(PartitionedLog(path))
    else:
        summary = summarize(read_log(path, log))
    typer.echo(json.dumps(summary, indent=2) if as_json else log_summary_text(summary))


@data_app.command("convert")
@log_options
def data_convert(
    path: Annotated[Path, typer.Argument(help="Log file (csv, kuairand) or KuaiRand folder.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the partitioned log to.")],
    log: LogOptions,
    partitions: Annotated[int | None, typer.Option(
        help="Partitions (users hashed to them; default one per 500,000 rows).")] = None,
    block_size: Annotated[float, typer.Option(
        help="Megabytes of text read per block.")] = DEFAULT_BLOCK_MB,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if recgym wrote it.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Convert a log larger than memory into a partitioned Parquet folder, block by block
    (validated like every loader; errors name the file and line). Fit simulators from the
    folder with `recgym fit-sim --data OUT`."""
    from recgym.cli.convert import run_convert

    run_convert(path, out, log, partitions=partitions, block_mb=block_size,
                overwrite=overwrite, progress=progress)


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


@data_app.command("export")
@log_options
def data_export(
    path: Annotated[str, typer.Argument(help="Log file or folder, or 'synthetic' (no files).")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the dataset to.")],
    log: LogOptions,
    to: Annotated[str, typer.Option(
        "--to", help="Dataset format: parquet, minari (needs recgym[minari]) or d3rlpy.")
    ] = "parquet",
    slate_size: Annotated[int, typer.Option(help="Items per step (a step is the rows of a "
                                                 "user at one timestamp).")] = 1,
    history_len: Annotated[int, typer.Option(help="Recent items in the observation.")] = 10,
    max_sessions: Annotated[int, typer.Option(help="Sessions per episode.")] = 5,
    max_steps: Annotated[int, typer.Option(help="Steps per episode.")] = 1000,
    churn_after_h: Annotated[float, typer.Option(help="A longer return gap (hours) is "
                                                      "churn.")] = 96.0,
    episodes_per_user: Annotated[int | None, typer.Option(
        help="Keep only each user's first episodes.")] = None,
    reward_weights: Annotated[str | None, typer.Option(
        help="Scalar reward weights, e.g. 'is_click=1,retention=5' (default: the primary "
             "signal 1, retention 5).")] = None,
    simulator: Annotated[Path | None, typer.Option(
        help="A fitted simulator folder (fit-sim) whose environment the observations must "
             "match; default: defined by the log.")] = None,
    behaviour_model: Annotated[bool, typer.Option(
        "--behaviour-model", help="Fit a behaviour model and give every step its fitted "
        "propensity (saved in OUT/behaviour/).")] = False,
    behaviour_from: Annotated[Path | None, typer.Option(
        help="Apply a saved behaviour model (an OUT/behaviour/ folder) instead.")] = None,
    behaviour_encoder: Annotated[str, typer.Option(help="Encoder of the behaviour model.")
                                 ] = "drr_ave",
    behaviour_epochs: Annotated[int, typer.Option(help="Maximum epochs of the behaviour "
                                                       "model.")] = 20,
    dataset_id: Annotated[str | None, typer.Option(
        help="minari: the dataset id (default recgym/<OUT name>-v0).")] = None,
    users: Annotated[int | None, typer.Option(help="synthetic: users [default: 1000].")
                     ] = None,
    days: Annotated[float | None, typer.Option(help="synthetic: days of activity "
                                                    "[default: 7].")] = None,
    policy: Annotated[str | None, typer.Option(
        help="synthetic: behaviour policy [default: softmax, whose propensities suit "
             "off-policy evaluation].")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic log and the behaviour "
                                           "model.")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if recgym wrote it.")] = False,
    progress: Annotated[bool, typer.Option(help="Show the behaviour model's progress.")
                        ] = False,
) -> None:
    """Turn a log into the environment's episodes and write them as a dataset for offline
    RL: Parquet (recgym), Minari or d3rlpy. Refuses to replace a folder recgym did not
    write."""
    from recgym.cli.export import run_export

    if behaviour_model and behaviour_from is not None:
        raise InputError("--behaviour-model fits a new model and --behaviour-from applies a "
                         "saved one; give one of them")
    run_export(path, out, log, to=to, env={
        "slate_size": slate_size, "history_len": history_len, "max_sessions": max_sessions,
        "max_steps": max_steps, "churn_after_h": churn_after_h},
        episodes_per_user=episodes_per_user, reward_weights=reward_weights,
        simulator=simulator, fit_behaviour=behaviour_model, behaviour_from=behaviour_from,
        behaviour={"encoder": behaviour_encoder, "epochs": behaviour_epochs, "seed": seed,
                   "progress": progress},
        dataset_id=dataset_id, synthetic={"users": users, "days": days, "policy": policy,
                                          "seed": seed}, overwrite=overwrite)
