"""Cross-fitted behaviour propensities: every step's propensity from a behaviour model
that never saw its episode, so over-fitting cannot make the logged actions look likelier
than they were."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from offline_data.shared.errors import InputError
from recgym.offline.behaviour import BehaviourConfig, BehaviourModel
from recgym.offline.behaviour_metrics import SoftmaxMetrics
from recgym.offline.dataset import TrajectoryDataset


def check_folds(dataset: TrajectoryDataset, folds: int) -> None:
    """Raise unless every fold leaves enough episodes to fit and validate on."""
    if dataset.n_episodes < 3 * folds:
        raise InputError(f"{dataset.source}: cross_fit={folds} needs at least {3 * folds} "
                         f"episodes, this dataset has {dataset.n_episodes}; use fewer folds "
                         "or cross_fit=0")


def cross_fitted_log_propensities(dataset: TrajectoryDataset, config: BehaviourConfig
                                  ) -> tuple[np.ndarray, dict[str, Any]]:
    """(S,) log-propensities of `dataset`'s logged actions, each from the model fitted
    to the other `config.cross_fit` - 1 folds of episodes (seeded folds; each fit holds
    out its own validation episodes), and a report: folds, seconds, and the metrics of
    these out-of-sample propensities over every step."""
    folds = config.cross_fit
    check_folds(dataset, folds)
    start = time.perf_counter()
    order = np.random.default_rng(config.seed + 1).permutation(dataset.n_episodes)
    fold_of = np.empty(dataset.n_episodes, dtype=np.int64)
    fold_of[order] = np.arange(dataset.n_episodes) % folds
    inner = config.replace(cross_fit=0, test_fraction=0.0)
    log_p = np.empty(dataset.n_steps)
    metrics = SoftmaxMetrics()
    epochs = []
    for fold in range(folds):
        model = BehaviourModel.fit(dataset.select_episodes(np.flatnonzero(fold_of != fold)),
                                   inner)
        rows = np.flatnonzero(fold_of[dataset.episode] == fold)
        log_p[rows] = model.score(dataset, rows, metrics)
        epochs.append(model.report["fit"]["epochs_run"])
    return log_p, {"folds": folds, "seconds": round(time.perf_counter() - start, 2),
                   "epochs_run": epochs, "all_steps": metrics.result()}
