"""`recgym offline` (learn from a log) and `recgym ope` (off-policy value of an offline
run); agents are imported lazily, per command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from recgym.cli.app import app, parse_json, parse_list, parse_reward_weights
from recgym.cli.log_options import LogOptions, log_options


@app.command("offline")
@log_options
def offline_command(
    out: Annotated[Path, typer.Option(help="Run folder (config, metrics.csv, checkpoints).")],
    log: LogOptions,
    algo: Annotated[str | None, typer.Option(
        help="bc, bcq, cql, discrete_sac, double_dqn, iql, behaviour, dt4ier, dt, "
             "d3rlpy_dt, seqrec.")] = None,
    data: Annotated[str | None, typer.Option(
        help="'synthetic' (default) or the path of a log.")] = None,
    users: Annotated[int | None, typer.Option(help="Synthetic: users logged.")] = None,
    days: Annotated[float | None, typer.Option(
        help="Synthetic: days logged (default: each user's first episode, whole).")] = None,
    behaviour: Annotated[str | None, typer.Option(
        help="Synthetic: behaviour policy of the log (softmax, epsilon_greedy, "
             "diversity_aware, ...).")] = None,
    simulator: Annotated[str | None, typer.Option(
        help="Log files: a fitted simulator folder (recgym fit-sim) to evaluate in, instead "
             "of fitting one to the training users.")] = None,
    sim_kwargs: Annotated[str | None, typer.Option(
        help="Log files: settings of the simulator fitted to the training users, as JSON "
             "(SimulatorConfig fields, e.g. '{\"epochs\": 10}').")] = None,
    explore: Annotated[float | None, typer.Option(
        help="Synthetic: uniform exploration mixed into the behaviour policy.")] = None,
    steps: Annotated[int | None, typer.Option(help="Gradient steps.")] = None,
    encoder: Annotated[str | None, typer.Option(help="State encoder (drr_ave, gru4rec, "
                                                     "sasrec, ...).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the log, split, fits, agent.")
                    ] = None,
    env_kwargs: Annotated[str | None, typer.Option(
        help="Episode settings as JSON, e.g. '{\"max_sessions\": 3}'.")] = None,
    reward_weights_text: Annotated[str | None, typer.Option(
        "--reward-weights", help="Reward weights, e.g. 'click=1,retention=5'.")] = None,
    agent_kwargs: Annotated[str | None, typer.Option(help="Agent settings as JSON.")] = None,
    rtg_prompt: Annotated[float | None, typer.Option(
        help="dt4ier, dt, d3rlpy_dt: target return-to-go as a fraction of the largest in the log "
             "(default 0.8).")] = None,
    heldout_fraction: Annotated[float | None, typer.Option(
        help="Users held out for off-policy evaluation.")] = None,
    eval_every: Annotated[int | None, typer.Option(help="Steps between evaluations.")] = None,
    eval_users: Annotated[int | None, typer.Option(help="Users per online evaluation.")
                          ] = None,
    ope: Annotated[str | None, typer.Option(
        help="Estimators of the periodic evaluation, e.g. 'pdis,wpdis,dr'.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue OUT from its last checkpoint.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if recgym wrote it.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Learn from a log: split users, build the episodes, train, evaluate periodically."""
    from agents.offline_runs import OfflineRunConfig, read_offline_config, train_offline

    episode = parse_json(env_kwargs, "--env-kwargs") if env_kwargs else None
    weights = parse_reward_weights(reward_weights_text)
    if weights is not None:
        episode = {**(episode or {}), "reward_weights": weights}
    given = {"algo": algo, "data": data, "users": users, "days": days,
             "behaviour": behaviour, "explore": explore, "steps": steps, "encoder": encoder,
             "seed": seed,
             "env_kwargs": episode, "heldout_fraction": heldout_fraction,
             "eval_every": eval_every, "eval_users": eval_users,
             "agent_kwargs": parse_json(agent_kwargs, "--agent-kwargs") if agent_kwargs
             else None,
             "simulator": simulator,
             "simulator_kwargs": parse_json(sim_kwargs, "--sim-kwargs") if sim_kwargs
             else None,
             "ope": tuple(parse_list(ope, "--ope") or ()) if ope is not None else None,
             "log_options": {k: v for k, v in vars(log).items() if v not in (None, False)}
             or None}
    if rtg_prompt is not None:
        settings = parse_json(agent_kwargs, "--agent-kwargs") if agent_kwargs else {}
        given["agent_kwargs"] = {**settings, "rtg_prompt": rtg_prompt}
    given = {k: v for k, v in given.items() if v is not None}
    config = (read_offline_config(out) if resume else OfflineRunConfig()).replace(**given)
    trained = train_offline(config, out, resume=resume, overwrite=overwrite,
                            progress=progress)
    typer.echo(f"trained {trained.name} for {trained.num_steps:,} gradient steps; run in "
               f"{out}")


@app.command("ope")
@log_options
def ope_command(
    run: Annotated[Path, typer.Argument(help="An offline run folder or a checkpoint.")],
    log: LogOptions,
    data: Annotated[str | None, typer.Option(
        help="A log to evaluate on (default: the run's held-out users).")] = None,
    estimators: Annotated[str, typer.Option(
        help="Estimators: pdis, wpdis, dr, wdr, fqe, ips, snips; d3rlpy_fqe (d3rlpy's "
             "DiscreteFQE, a cross-check for d3rlpy agents).")] = "pdis,wpdis,dr,fqe",
    gamma: Annotated[float, typer.Option(help="Discount (1: the episode return).")] = 1.0,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 200,
    fqe_steps: Annotated[int | None, typer.Option(help="Gradient steps of FQE.")] = None,
    truth_users: Annotated[int, typer.Option(
        help="Synthetic logs: users of the true value.")] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Off-policy value of an offline run's agent, with 95% intervals (and the truth for
    synthetic logs)."""
    from agents.offline_runs.ope_report import ope_report, report_text

    names = tuple(parse_list(estimators, "--estimators") or ())
    report = ope_report(run, data=data, options=log, estimators=names, gamma=gamma,
                        n_bootstrap=bootstrap, fqe_steps=fqe_steps, truth_users=truth_users)
    typer.echo(json.dumps(report, default=float) if as_json else report_text(report))
