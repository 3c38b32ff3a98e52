"""Fit a simulator on a log and measure it: what `recgym fit-sim` runs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from offline_data.log import InteractionLog
from offline_data.shared.atomic import atomic_directory
from simulators.fidelity import (
    evaluate,
    ground_truth,
    held_out,
    popularity_baseline,
    predict_rows,
    signal_metrics,
)
from simulators.fitting import fit
from simulators.logged import LoggedUserSimulator
from simulators.persistence import META_FILE, write_simulator_files
from simulators.sim_config import SimulatorConfig
from simulators.sim_set import SimulatorSet
from simulators.synthetic import SyntheticWorld
from simulators.world_config import WorldConfig

FIDELITY_FILE = "fidelity.json"
SET_FOLDER = "set"


@dataclass
class FitResult:
    """A fitted simulator, its fidelity report and, when asked, a simulator set."""

    simulator: LoggedUserSimulator
    fidelity: dict[str, Any]
    simulator_set: SimulatorSet | None = None

    def save(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Write simulator, `fidelity.json` and the set (in `set/`) in one atomic step."""
        with atomic_directory(directory, overwrite=overwrite, marker=META_FILE) as tmp:
            write_simulator_files(self.simulator, tmp)
            (tmp / FIDELITY_FILE).write_text(json.dumps(self.fidelity, indent=2))
            if self.simulator_set is not None:
                (tmp / SET_FOLDER).mkdir()
                self.simulator_set.write_files(tmp / SET_FOLDER)
        return Path(directory)


def synthetic_fitting_log(users: int = 2000, days: float = 14.0, fresh_days: float = 3.0,
                          seed: int = 0) -> tuple[InteractionLog, float]:
    """A synthetic log of `days + fresh_days` days with the true click probabilities
    recorded, and the share of its window that is fresh (held out for the ground truth)."""
    world = SyntheticWorld(WorldConfig(n_users=max(users, WorldConfig().n_users)), seed=seed)
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
    seed: int = 0,
) -> FitResult:
    """Hold out part of `log`, fit on the rest, and measure fidelity on the held-out part:
    per-signal metrics, sessions, baselines, the ground truth (synthetic logs recorded with
    truth) and, with `set_size` > 1, a Sim2Rec simulator set."""
    config = config or SimulatorConfig()
    split = held_out(log, test_fraction)
    train = split.train(log)
    started = time.perf_counter()
    sim = fit(train, config)
    report: dict[str, Any] = {
        "data": {"source": log.source, "interactions": log.n_interactions,
                 "users": log.n_users, "items": log.n_items, "held_out": split.description},
        **evaluate(sim, log, split, seed),
        "fit": {**sim.meta.fit_report, "seconds": round(time.perf_counter() - started, 2)},
    }
    if baselines:
        report["baselines"] = baseline_report(sim, train, log, split.signal_mask, config)
    if "true_click_prob" in log.context_columns:
        report["ground_truth"] = ground_truth(sim, log, split, seed)
    simulator_set = None
    if set_size > 1:
        started = time.perf_counter()
        simulator_set = SimulatorSet.fit(log, set_size, config=config, n_heldout=set_heldout,
                                         seed=seed, split=split)
        report["set"] = {**simulator_set.summary(),
                         "seconds": round(time.perf_counter() - started, 2)}
    return FitResult(sim, report, simulator_set)


def baseline_report(sim: LoggedUserSimulator, train: InteractionLog, log: InteractionLog,
                    mask: np.ndarray, config: SimulatorConfig) -> dict[str, Any]:
    """Held-out metrics of a popularity-only and a user-item-only model (ids only: no
    features, no history), and of the global mean for continuous signals, beside the
    simulator's own."""
    plain = fit(train, config.replace(use_features=False, use_history=False))
    plain_pred = predict_rows(plain, log, mask)
    own = predict_rows(sim, log, mask)
    out: dict[str, Any] = {}
    for signal in sim.signals:
        y = log.interactions[signal.name].to_numpy(dtype=np.float64)[mask]
        entry: dict[str, Any] = {
            "simulator": signal_metrics(signal.is_binary, y, own[signal.name]),
            "popularity": signal_metrics(signal.is_binary, y,
                                         popularity_baseline(train, log, mask, signal.name)),
            "user_item": signal_metrics(signal.is_binary, y, plain_pred[signal.name]),
        }
        if signal.is_binary:
            entry["auc_gain_vs_popularity"] = entry["simulator"]["auc"] - entry["popularity"]["auc"]
            entry["auc_gain_vs_user_item"] = entry["simulator"]["auc"] - entry["user_item"]["auc"]
        else:
            mean = float(train.interactions[signal.name].mean())
            entry["mean"] = signal_metrics(False, y, np.full_like(y, mean))
        out[signal.name] = entry
    return out
