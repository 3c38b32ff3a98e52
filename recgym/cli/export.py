"""The work behind `recgym data export`: read a log (or make a synthetic one), build the
environment's episodes, give them fitted propensities if asked, write the dataset."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from offline_data import InputError, InteractionLog
from offline_data.partitioned import PartitionedLog, is_partitioned_dir
from recgym.cli.app import parse_reward_weights
from recgym.cli.log_options import LogOptions, read_log, reject_log_options
from simulators.interface import UserSimulator


def run_export(path: str, out: Path, log_options: LogOptions, *, to: str,
               env: dict[str, Any], episodes_per_user: int | None,
               reward_weights: str | None, simulator: Path | None, fit_behaviour: bool,
               behaviour_from: Path | None, behaviour: dict[str, Any],
               dataset_id: str | None, synthetic: dict[str, Any], overwrite: bool) -> None:
    """Everything `recgym data export` does, checks first (format, output folder, options)
    so that bad input fails before any long work."""
    from recgym.env_config import EnvConfig
    from recgym.offline import episodes_from_log
    from recgym.offline.behaviour import BehaviourConfig, BehaviourModel
    from recgym.offline.export import (
        check_export_target,
        check_exportable,
        check_format,
        export_dataset,
    )

    fmt = check_format(to)
    config = EnvConfig(**env)
    if fmt == "d3rlpy" and config.slate_size != 1:
        raise InputError(f"--to d3rlpy learns one item per step, got --slate-size "
                         f"{config.slate_size}; use --slate-size 1, or --to parquet or minari")
    if fmt == "minari":
        from recgym.offline.minari_export import require_minari

        require_minari()
    check_export_target(out, overwrite)
    behaviour_config = BehaviourConfig(**behaviour) if fit_behaviour else None
    model = BehaviourModel.load(behaviour_from) if behaviour_from is not None else None

    start = time.perf_counter()
    if (path != "synthetic" and is_partitioned_dir(path) and fmt == "parquet"
            and simulator is None and model is None and behaviour_config is None
            and not log_options.given()):
        _export_partitioned(path, out, config, reward_weights, episodes_per_user, overwrite,
                            synthetic)
        return
    log, sim = _read(path, log_options, simulator, synthetic, config.slate_size)
    weights = _reward_weights(reward_weights, log, sim)
    dataset = episodes_from_log(log, config, weights, simulator=sim,
                                episodes_per_user=episodes_per_user)
    check_exportable(dataset, fmt)
    built = time.perf_counter() - start
    if behaviour_config is not None:
        model = BehaviourModel.fit(dataset, behaviour_config)
    if model is not None:
        dataset = model.apply(dataset)
        typer.echo(_behaviour_line(dataset.behaviour_report))
    export_dataset(dataset, out, fmt, overwrite=overwrite,
                   behaviour_model=model if fit_behaviour else None, dataset_id=dataset_id)
    typer.echo(f"wrote {dataset.n_episodes:,} episodes ({dataset.n_steps:,} steps, "
               f"{int(dataset.terminals.sum()):,} ending in churn; propensities: "
               f"{dataset.behaviour or 'none'}) as {fmt} to {out} (log and episodes in "
               f"{built:.1f} s)")


def _export_partitioned(path: str, out: Path, config: Any, reward_weights: str | None,
                        episodes_per_user: int | None, overwrite: bool,
                        synthetic: dict[str, Any]) -> None:
    """`data export` of a partitioned folder to Parquet, one partition at a time."""
    from recgym.offline.stream_export import episodes_to_parquet

    _reject_synthetic_options(path, synthetic)
    dataset = PartitionedLog(path)
    weights = parse_reward_weights(reward_weights)
    if weights is not None:
        from recgym.rewards import check_reward_weights

        check_reward_weights(weights, dataset.signal_names, f"--reward-weights ({path})")
    start = time.perf_counter()
    done = episodes_to_parquet(dataset, out, config, weights,
                               episodes_per_user=episodes_per_user, overwrite=overwrite)
    typer.echo(f"wrote {done.episodes:,} episodes ({done.steps:,} steps, {done.terminals:,} "
               f"ending in churn; propensities: {done.behaviour or 'none'}) as parquet to "
               f"{out}, one partition at a time (in {time.perf_counter() - start:.1f} s)")


def _reject_synthetic_options(path: str, synthetic: dict[str, Any]) -> None:
    given = [f"--{name}" for name in ("users", "days", "policy")
             if synthetic[name] is not None]
    if given:
        one = len(given) == 1
        raise InputError(f"{', '.join(given)} only appl{'ies' if one else 'y'} to the "
                         f"synthetic log, but {path} is read from files; leave "
                         f"{'it' if one else 'them'} out")


def _read(path: str, options: LogOptions, simulator: Path | None,
          synthetic: dict[str, Any], slate_size: int
          ) -> tuple[InteractionLog, UserSimulator | None]:
    """The log, and the simulator whose observations the episodes must match."""
    if path == "synthetic":
        from simulators import SyntheticWorld, WorldConfig

        reject_log_options(options, "to the synthetic log (it is generated)")
        if simulator is not None:
            raise InputError("--simulator does not apply to the synthetic log (the "
                             "synthetic world is its simulator); leave it out")
        users = int(synthetic["users"] or 1000)
        if users <= 0:
            raise InputError(f"--users must be positive, got {users}")
        world_config = WorldConfig()
        if users > world_config.n_users:
            world_config = world_config.replace(n_users=users)
        world = SyntheticWorld(world_config, seed=int(synthetic["seed"]))
        log = world.generate_log(synthetic["policy"] or "softmax", n_users=users,
                                 n_days=float(synthetic["days"] or 7.0),
                                 seed=int(synthetic["seed"]), slate_size=slate_size)
        return log, world
    _reject_synthetic_options(path, synthetic)
    log = read_log(path, options)
    if simulator is None:
        return log, None
    from simulators.persistence import load_simulator

    return log, load_simulator(simulator)


def _reward_weights(text: str | None, log: InteractionLog, sim: UserSimulator | None
                    ) -> dict[str, float] | None:
    """`--reward-weights` as numbers, every name a reward of this log (did-you-mean)."""
    from recgym.rewards import check_reward_weights

    weights = parse_reward_weights(text)
    signals = [s.name for s in sim.signals] if sim is not None else log.signal_names
    check_reward_weights(weights, signals, f"--reward-weights ({log.source})")
    return weights


def _behaviour_line(report: dict[str, Any]) -> str:
    """One line on the behaviour model: held-out log-loss and accuracy, calibration."""
    held = report.get("heldout") or report.get("all_steps") or {}
    where = "held-out" if "heldout" in report else "all"
    fit = report.get("fit", {})
    line = (f"behaviour model ({report.get('model', {}).get('encoder', '?')}): {where} "
            f"log-loss {held.get('logloss', float('nan')):.3f}, top-1 "
            f"{held.get('top1_accuracy', float('nan')):.3f}, top-10 "
            f"{held.get('top10_accuracy', float('nan')):.3f}, top-label ECE "
            f"{held.get('top_label', {}).get('ece', float('nan')):.4f}, pairwise ECE "
            f"{held.get('pairwise', {}).get('ece', float('nan')):.4f}")
    if "seconds" in fit:
        line += f"; fitted in {fit['seconds']:.0f} s ({fit.get('epochs_run')} epochs)"
    if "vs_recorded" in report:
        line += (f"; vs recorded propensities: r(log) "
                 f"{report['vs_recorded']['pearson_log']:.3f}")
    return line
