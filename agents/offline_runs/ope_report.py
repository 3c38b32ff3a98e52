"""`recgym ope RUN`: the off-policy value of an offline run's agent on held-out logged
episodes, beside its true value where the log's world is known."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.base import Agent
from agents.offline_runs.config import (
    OfflineRunConfig,
    is_offline_config,
    offline_config_from,
)
from agents.offline_runs.data import (
    BEHAVIOUR_FOLDER,
    HELDOUT_FOLDER,
    evaluation_env,
    saved_simulator,
)
from agents.offline_runs.training import ope_applicable
from agents.registry import load_agent
from agents.run_folder import AGENT_FOLDER, config_folder, is_run, trained_agent
from offline_data.log_options import LogOptions, read_log
from offline_data.shared.errors import InputError
from offline_data.shared.jsonfile import read_json_object
from recgym.evaluate import evaluate
from recgym.offline import BehaviourModel, TrajectoryDataset, episodes_from_log
from recgym.offline.fqe import FQEConfig
from recgym.offline.ope import DEFAULT_ESTIMATORS, estimate
from recgym.runs import CONFIG_FILE

D3RLPY_FQE = "d3rlpy_fqe"
"""The estimator name of d3rlpy's own FQE (`agents.offline.d3rlpy_fqe`), a cross-check."""


def run_agent(target: Path) -> tuple[Path, OfflineRunConfig, Agent]:
    """(run folder, its config, the agent) of an offline run folder or one of its
    checkpoints."""
    run = config_folder(target) if target.exists() else None
    if run is None:
        raise InputError(f"{target}: not a run folder of `recgym offline` (no config.json)")
    recorded = read_json_object(run / CONFIG_FILE, missing="", hint="")
    if not is_offline_config(recorded):
        raise InputError(f"{run} is a run of `recgym train` (an online agent); `recgym ope` "
                         "evaluates the agents of `recgym offline` runs")
    config = offline_config_from(recorded, run)
    folder = trained_agent(target) if is_run(target) else target / AGENT_FOLDER
    return run, config, load_agent(folder)


def episodes_of(run: Path, config: OfflineRunConfig, data: str | None,
                options: LogOptions) -> TrajectoryDataset:
    """The episodes to evaluate on: the run's held-out users, or the log `data` built with
    the run's episode settings, its simulator's observations and its behaviour model."""
    if data is None:
        if options.given():
            raise InputError(f"{', '.join(options.given())}: log options need --data")
        return TrajectoryDataset.from_parquet(run / HELDOUT_FOLDER)
    _, env_kwargs = evaluation_env(config, run)
    log = read_log(Path(data), options)
    dataset = episodes_from_log(log, config.env_config(), env_kwargs.get("reward_weights"),
                                simulator=saved_simulator(config, run))
    if dataset.propensities is None:
        if not (run / BEHAVIOUR_FOLDER).is_dir():
            raise InputError(f"{data}: the log records no propensities (no 'propensity' "
                             f"column) and {run} has no behaviour model; off-policy "
                             "evaluation needs one of them")
        dataset = BehaviourModel.load(run / BEHAVIOUR_FOLDER, device="cpu").apply(dataset)
    return dataset


def ope_report(target: str | Path, *, data: str | None = None,
               options: LogOptions | None = None,
               estimators: tuple[str, ...] = DEFAULT_ESTIMATORS, gamma: float = 1.0,
               n_bootstrap: int = 200, fqe_steps: int | None = None,
               truth_users: int = 500) -> dict[str, Any]:
    """`{"estimates": {name: {"value", "ci95", "std_error", "n_episodes", ...}},
    "true_value": {"value", "ci95", "users"}}` for the agent of an offline run
    (`true_value` only for synthetic logs, measured in the world that wrote them)."""
    run, config, agent = run_agent(Path(target))
    dataset = episodes_of(run, config, data, options or LogOptions())
    if not ope_applicable(agent, dataset):
        raise InputError(f"{agent.name}: off-policy evaluation needs item probabilities from "
                         "the observation and one item per step")
    fqe = FQEConfig(seed=config.seed) if fqe_steps is None else FQEConfig(
        seed=config.seed, n_steps=fqe_steps)
    ours = tuple(name for name in estimators if name != D3RLPY_FQE)
    results = estimate(dataset, agent, ours, gamma=gamma, n_bootstrap=n_bootstrap,
                       seed=config.seed, fqe=fqe) if ours else {}
    report: dict[str, Any] = {
        "run": str(run), "agent": agent.name, "episodes": dataset.n_episodes,
        "steps": dataset.n_steps, "gamma": gamma,
        "estimates": {name: {"value": r.value, "ci95": list(r.ci95),
                             "std_error": r.std_error, "diagnostics": r.diagnostics}
                      for name, r in results.items()}}
    if D3RLPY_FQE in estimators:
        from agents.offline.base import D3rlpyAgent
        from agents.offline.d3rlpy_fqe import d3rlpy_fqe

        if not isinstance(agent, D3rlpyAgent):
            raise InputError(f"{D3RLPY_FQE}: d3rlpy's FQE evaluates d3rlpy agents, not "
                             f"{agent.name!r}; use 'fqe'")
        cross = d3rlpy_fqe(agent, dataset, n_steps=fqe.n_steps, gamma=gamma,
                           n_bootstrap=n_bootstrap, seed=config.seed)
        report["estimates"][D3RLPY_FQE] = {
            "value": cross.value, "ci95": list(cross.ci95),
            "note": "d3rlpy's DiscreteFQE of the unmasked greedy policy (seen items not "
                    "excluded)"}
    if config.synthetic and gamma == 1.0:
        env_id, env_kwargs = evaluation_env(config, run)
        table = evaluate(agent, env_id, n_users=truth_users, seed=config.eval_seed,
                         **env_kwargs)
        row = table.loc["total_return"].to_dict()
        report["true_value"] = {"value": float(row["mean"]),
                                "ci95": [float(row["ci95_lo"]), float(row["ci95_hi"])],
                                "users": truth_users}
    return report


def report_text(report: dict[str, Any]) -> str:
    """The report as a small table."""
    lines = [f"off-policy value of {report['agent']} ({report['run']}) on "
             f"{report['episodes']:,} episodes, {report['steps']:,} steps, gamma "
             f"{report['gamma']}", "", f"{'estimator':<10} {'value':>10}   95% interval"]
    for name, e in report["estimates"].items():
        lo, hi = e["ci95"]
        lines.append(f"{name:<10} {e['value']:>10.3f}   [{lo:.3f}, {hi:.3f}]")
    truth = report.get("true_value")
    if truth is not None:
        lo, hi = truth["ci95"]
        lines.append(f"{'truth':<10} {truth['value']:>10.3f}   [{lo:.3f}, {hi:.3f}]  "
                     f"(online in the world, {truth['users']} users)")
    return "\n".join(lines)
