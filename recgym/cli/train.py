"""`recgym train` and `recgym evaluate`: agents are imported lazily, per command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from offline_data import InputError
from recgym.cli.app import app, parse_json

SIMSET_ENV = "RecGym/SimSet-v0"


@app.command("train")
def train_command(
    out: Annotated[Path, typer.Option(help="Run folder (config, metrics.csv, checkpoints).")],
    agent: Annotated[str | None, typer.Option(help="ppo, a2c, dqn, sac, td3, deers, drr, "
                                                   "sim2rec, random, popular, oracle, "
                                                   "planner, linucb.")] = None,
    env: Annotated[str | None, typer.Option(help="Environment id.")] = None,
    encoder: Annotated[str | None, typer.Option(help="State encoder (drr_att, sasrec, ...).")
                       ] = None,
    steps: Annotated[int | None, typer.Option(help="Environment steps to train.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the agent and environment.")] = None,
    env_kwargs: Annotated[str | None, typer.Option(help="Environment arguments as JSON.")
                          ] = None,
    simulator_set: Annotated[Path | None, typer.Option(
        help="A simulator set folder (from `recgym fit-sim --set K`) for RecGym/SimSet-v0 "
             "(the default env when given).")] = None,
    agent_kwargs: Annotated[str | None, typer.Option(help="Agent settings as JSON.")] = None,
    n_envs: Annotated[int | None, typer.Option(help="Parallel users while training.")] = None,
    eval_every: Annotated[int | None, typer.Option(help="Steps between evaluations.")] = None,
    eval_users: Annotated[int | None, typer.Option(help="Users per evaluation.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue OUT from its last checkpoint.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if recgym wrote it.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train an agent: periodic evaluation, metrics.csv, TensorBoard, checkpoints."""
    from agents.training import TrainConfig, read_config, train

    given = {"agent": agent, "env": env, "encoder": encoder, "steps": steps, "seed": seed,
             "n_envs": n_envs, "eval_every": eval_every, "eval_users": eval_users,
             "env_kwargs": parse_json(env_kwargs, "--env-kwargs") if env_kwargs else None,
             "agent_kwargs": parse_json(agent_kwargs, "--agent-kwargs") if agent_kwargs
             else None}
    given = {k: v for k, v in given.items() if v is not None}
    base = read_config(out) if resume else TrainConfig()
    if simulator_set is not None:
        given = with_simulator_set(given, simulator_set, base.env_kwargs)
    config = base.replace(**given)
    trained = train(config, out, resume=resume, overwrite=overwrite, progress=progress)
    typer.echo(f"trained {trained.name} for {trained.num_steps:,} steps; run in {out}")


def with_simulator_set(given: dict[str, Any], folder: Path, stored: dict[str, Any]
                       ) -> dict[str, Any]:
    """`--simulator-set DIR` as the SimSet environment's `simulator_set` argument (its
    absolute path), over the `stored` and given environment arguments; the environment
    defaults to RecGym/SimSet-v0, another one is refused."""
    env = given.get("env", SIMSET_ENV)
    if env != SIMSET_ENV:
        raise InputError(f"--simulator-set is an argument of {SIMSET_ENV}, not of {env}; "
                         "leave --env out or pass --env RecGym/SimSet-v0")
    if not folder.is_dir():
        raise InputError(f"--simulator-set {folder}: no such folder (write one with "
                         "`recgym fit-sim --data ... --out OUT --set 8`: the set is OUT/set)")
    env_kwargs = {**stored, **given.get("env_kwargs", {}),
                  "simulator_set": str(folder.resolve())}
    return {**given, "env": SIMSET_ENV, "env_kwargs": env_kwargs}


@app.command("evaluate")
def evaluate_command(
    target: Annotated[str, typer.Argument(help="A run folder, a checkpoint or an agent "
                                               "folder, or a baseline: random, popular, "
                                               "oracle, planner, linucb.")],
    env: Annotated[str | None, typer.Option(
        help="Environment id (default: the run's, else RecGym/Synthetic-v0).")] = None,
    users: Annotated[int, typer.Option(help="Users (one episode each).")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the users.")] = 10_000,
    env_kwargs: Annotated[str | None, typer.Option(
        help="Environment arguments as JSON (default: the run's).")] = None,
    fit_steps: Annotated[int, typer.Option(help="Steps to fit a popular / linucb baseline.")
                         ] = 20_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Evaluate a trained agent or a baseline: every metric with a 95% interval."""
    import recgym
    from agents import load_agent, make_agent
    from agents.online.baselines import BASELINES
    from agents.run_folder import AGENT_FOLDER, config_folder, is_run, trained_agent
    from agents.run_kinds import run_environment
    from recgym.evaluate import evaluate

    path = Path(target)
    described_by = config_folder(path) if path.exists() else None
    run_env, run_kwargs = (run_environment(described_by) if described_by is not None
                           else ("RecGym/Synthetic-v0", {}))
    env = env or run_env
    kwargs = (parse_json(env_kwargs, "--env-kwargs") if env_kwargs is not None
              else run_kwargs)
    if path.exists():
        if is_run(path):
            folder = trained_agent(path)
        else:  # an agent folder, or a checkpoint (which holds one)
            folder = path / AGENT_FOLDER if (path / AGENT_FOLDER).is_dir() else path
        agent = load_agent(folder)
    elif target in BASELINES:
        agent = make_agent(target, recgym.make_vec(env, 8, **kwargs))
        if agent.learns:
            agent.fit(recgym.make_vec(env, 8, **kwargs), fit_steps)
    else:
        raise InputError(f"{target}: neither a run / agent folder nor a baseline name "
                         f"({', '.join(BASELINES)})")
    table = evaluate(agent, env, n_users=users, seed=seed, **kwargs)
    if as_json:
        metrics = {m: {"mean": row["mean"], "ci95": [row["ci95_lo"], row["ci95_hi"]]}
                   for m, row in table.iterrows()}
        typer.echo(json.dumps({"metrics": metrics, "users": users, "env": env}, default=float))
    else:
        from recgym.report import metrics_text

        typer.echo(metrics_text(table, title=f"{target} on {env} ({users} users)"))
