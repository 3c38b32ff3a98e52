"""Fit a simulator on a log and measure it: what `recgym fit-sim` runs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from offline_data.log import InteractionLog
from offline_data.partitioned import PartitionedLog
from offline_data.shared.atomic import atomic_directory
from simulators.fidelity import (
    HeldOut,
    ground_truth,
    held_out,
    popularity_baseline,
    predict_rows,
    replay_sessions,
    session_fidelity,
    signal_metrics,
)
from simulators.fidelity_plot import FidelityData, fidelity_png
from simulators.fitting import fit
from simulators.logged import LoggedUserSimulator
from simulators.persistence import META_FILE, write_simulator_files
from simulators.sim_config import SimulatorConfig
from simulators.sim_set import SimulatorSet
from simulators.streamed_fit import fit_partitioned
from simulators.synthetic import SyntheticWorld
from simulators.world_config import WorldConfig

FIDELITY_FILE = "fidelity.json"
PLOT_FILE = "fidelity.png"
SET_FOLDER = "set"


@dataclass
class FitResult:
    """A fitted simulator, its fidelity report, the held-out arrays behind the report's
    plot and, when asked, a simulator set."""

    simulator: LoggedUserSimulator
    fidelity: dict[str, Any]
    simulator_set: SimulatorSet | None = None
    data: FidelityData | None = None

    def save(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Write simulator, `fidelity.json`, `fidelity.png` (when the held-out arrays are
        kept) and the set (in `set/`) in one atomic step."""
        with atomic_directory(directory, overwrite=overwrite, marker=META_FILE) as tmp:
            write_simulator_files(self.simulator, tmp)
            (tmp / FIDELITY_FILE).write_text(json.dumps(self.fidelity, indent=2))
            if self.data is not None:
                (tmp / PLOT_FILE).write_bytes(fidelity_png(self.data, self.fidelity))
            if self.simulator_set is not None:
                (tmp / SET_FOLDER).mkdir()
                self.simulator_set.write_files(tmp / SET_FOLDER)
        return Path(directory)


def fitting_world(users: int = 2000, seed: int = 0) -> SyntheticWorld:
    """The world `synthetic_fitting_log(users, ..., seed)` logs (the truth its fitted
    simulators are compared with)."""
    return SyntheticWorld(WorldConfig(n_users=max(users, WorldConfig().n_users)), seed=seed)


def synthetic_fitting_log(users: int = 2000, days: float = 14.0, fresh_days: float = 3.0,
                          seed: int = 0) -> tuple[InteractionLog, float]:
    """A synthetic log of `days + fresh_days` days with the true click probabilities
    recorded, and the share of its window that is fresh (held out for the ground truth)."""
    world = fitting_world(users, seed)
    log = world.generate_log("epsilon_greedy", n_users=users, n_days=days + fresh_days,
                             seed=seed, truth=True)
    return log, fresh_days / (days + fresh_days)


def fit_with_fidelity(
    log: InteractionLog,
    config: SimulatorConfig | None = None,
    *,
    test_fraction: float = 0.1,
    baselines: bool = True,
    set_size: int = 0,
    set_heldout: int = 2,
    set_spread: float = 1.0,
    seed: int = 0,
) -> FitResult:
    """Hold out part of `log`, fit on the rest, and measure fidelity on the held-out part:
    per-signal metrics, sessions, the calibration's effect (metrics and sessions of the
    uncalibrated networks beside them), baselines, the ground truth (synthetic logs
    recorded with truth) and, with `set_size` > 1, a Sim2Rec simulator set (behaviour
    perturbations `set_spread` wide, see `member_specs`)."""
    config = config or SimulatorConfig()
    split = held_out(log, test_fraction)
    train = split.train(log)
    started = time.perf_counter()
    sim = fit(train, config)
    fit_seconds = round(time.perf_counter() - started, 2)
    mask = split.signal_mask
    outcomes = {s.name: log.interactions[s.name].to_numpy(dtype=np.float64)[mask]
                for s in sim.signals}
    own = predict_rows(sim, log, mask)
    replay = replay_sessions(sim, log, split.session_mask, seed)
    report: dict[str, Any] = {
        "data": {"source": log.source, "interactions": log.n_interactions,
                 "users": log.n_users, "items": log.n_items, "held_out": split.description},
        "signals": {s.name: signal_metrics(s.is_binary, outcomes[s.name], own[s.name])
                    for s in sim.signals},
        **session_fidelity(replay),
        "fit": {**sim.meta.fit_report, "seconds": fit_seconds},
    }
    binary = [s.name for s in sim.signals if s.is_binary]
    predictions = {name: {"simulator": own[name]} for name in binary}
    uncalibrated_replay = None
    if sim.meta.calibration is not None:
        raw = sim.with_calibration(None)
        raw_pred = predict_rows(raw, log, mask)
        uncalibrated_replay = replay_sessions(raw, log, split.session_mask, seed)
        report["calibration"] = calibration_report(
            sim, outcomes, own, raw_pred, session_fidelity(uncalibrated_replay))
        for name in binary:
            predictions[name]["simulator, uncalibrated"] = raw_pred[name]
    if baselines:
        report["baselines"], baseline_pred = baseline_report(sim, train, log, split, own,
                                                             config)
        for name in binary:
            predictions[name] |= baseline_pred[name]
    if "true_click_prob" in log.context_columns:
        report["ground_truth"] = ground_truth(sim, log, split, seed)
    simulator_set = None
    if set_size > 1:
        started = time.perf_counter()
        simulator_set = SimulatorSet.fit(log, set_size, config=config, n_heldout=set_heldout,
                                         seed=seed, split=split, spread=set_spread)
        report["set"] = {**simulator_set.summary(),
                         "seconds": round(time.perf_counter() - started, 2)}
    data = FidelityData(outcomes={name: outcomes[name] for name in binary},
                        predictions=predictions, replay=replay,
                        uncalibrated_replay=uncalibrated_replay)
    return FitResult(sim, report, simulator_set, data)


def fit_partitioned_with_fidelity(
    dataset: PartitionedLog,
    config: SimulatorConfig | None = None,
    *,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> FitResult:
    """`fit_with_fidelity` for a log larger than memory: the simulator is fitted one
    partition at a time on every partition minus its held-out rows (`held_out`), and its
    fidelity (per-signal metrics, replayed sessions) is measured on the held-out rows of
    the largest partition, a sample of whole users. No baselines or simulator sets."""
    config = config or SimulatorConfig()
    started = time.perf_counter()
    sim = fit_partitioned(dataset, config, test_fraction=test_fraction)
    fit_seconds = round(time.perf_counter() - started, 2)
    index = int(np.argmax([p.rows for p in dataset.partition_info]))
    log = dataset.partition(index)
    split = held_out(log, test_fraction)
    mask = split.signal_mask
    outcomes = {s.name: log.interactions[s.name].to_numpy(dtype=np.float64)[mask]
                for s in sim.signals}
    own = predict_rows(sim, log, mask)
    replay = replay_sessions(sim, log, split.session_mask, seed)
    info = dataset.partition_info[index]
    report: dict[str, Any] = {
        "data": {"source": dataset.source, "interactions": dataset.n_interactions,
                 "users": dataset.n_users, "items": dataset.n_items,
                 "held_out": f"{split.description} of partition {index + 1}/"
                             f"{dataset.n_partitions} ({info.users:,} users); the fit streamed "
                             "every partition without its held-out rows"},
        "signals": {s.name: signal_metrics(s.is_binary, outcomes[s.name], own[s.name])
                    for s in sim.signals},
        **session_fidelity(replay),
        "fit": {**sim.meta.fit_report, "seconds": fit_seconds},
    }
    binary = [s.name for s in sim.signals if s.is_binary]
    data = FidelityData(outcomes={name: outcomes[name] for name in binary},
                        predictions={name: {"simulator": own[name]} for name in binary},
                        replay=replay, uncalibrated_replay=None)
    return FitResult(sim, report, None, data)


def calibration_report(
    sim: LoggedUserSimulator, outcomes: dict[str, np.ndarray], calibrated: dict[str, np.ndarray],
    uncalibrated: dict[str, np.ndarray], uncalibrated_sessions: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """Held-out metrics of each binary signal before and after calibration (with the maps
    and their validation-slice ECE from the fit), the leave map, and the session figures of
    the uncalibrated simulator."""
    fitted = sim.meta.fit_report
    heads = fitted.get("response", {}).get("calibration", {})
    signals = {}
    for signal in sim.signals:
        if not signal.is_binary:
            continue
        y = outcomes[signal.name]
        before = signal_metrics(True, y, uncalibrated[signal.name])
        after = signal_metrics(True, y, calibrated[signal.name])
        signals[signal.name] = {
            **{f"{k}_before": v for k, v in before.items()},
            **{f"{k}_after": v for k, v in after.items()},
            **heads.get(signal.name, {}),
        }
    return {"method": "platt (scale and shift of each binary head's logit and of the leave "
                      "hazard's, fitted on the validation slice)",
            "signals": signals, "leave": fitted.get("leave", {}).get("calibration", {}),
            "uncalibrated_sessions": uncalibrated_sessions}


def baseline_report(
    sim: LoggedUserSimulator, train: InteractionLog, log: InteractionLog, split: HeldOut,
    own: dict[str, np.ndarray], config: SimulatorConfig,
) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """Held-out metrics of a popularity-only and a user-item-only model (ids only: no
    features, no history; calibrated as the simulator is, its uncalibrated figures beside),
    and of the global mean for continuous signals, beside the simulator's own (`own`: its
    predictions on the held-out rows). Also returns the baselines' probabilities of each
    binary signal on those rows."""
    mask = split.signal_mask
    plain = fit(train, config.replace(use_features=False, use_history=False))
    plain_pred = predict_rows(plain, log, mask)
    raw_pred = (predict_rows(plain.with_calibration(None), log, mask)
                if plain.meta.calibration is not None else None)
    out: dict[str, Any] = {}
    predictions: dict[str, dict[str, np.ndarray]] = {}
    for signal in sim.signals:
        y = log.interactions[signal.name].to_numpy(dtype=np.float64)[mask]
        popularity = popularity_baseline(train, log, mask, signal.name)
        entry: dict[str, Any] = {
            "simulator": signal_metrics(signal.is_binary, y, own[signal.name]),
            "popularity": signal_metrics(signal.is_binary, y, popularity),
            "user_item": signal_metrics(signal.is_binary, y, plain_pred[signal.name]),
        }
        if signal.is_binary:
            if raw_pred is not None:
                entry["user_item_uncalibrated"] = signal_metrics(True, y, raw_pred[signal.name])
            entry["auc_gain_vs_popularity"] = entry["simulator"]["auc"] - entry["popularity"]["auc"]
            entry["auc_gain_vs_user_item"] = entry["simulator"]["auc"] - entry["user_item"]["auc"]
            predictions[signal.name] = {"popularity": popularity,
                                        "user-item": plain_pred[signal.name]}
        else:
            mean = float(train.interactions[signal.name].mean())
            entry["mean"] = signal_metrics(False, y, np.full_like(y, mean))
        out[signal.name] = entry
    return out, predictions
