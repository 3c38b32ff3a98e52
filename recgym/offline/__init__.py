"""Offline RL on logs: a log as an environment's episodes (`episodes_from_log`), the
`TrajectoryDataset` that holds them (Parquet, d3rlpy `MDPDataset`), behaviour models for
logs without propensities (`fit_behaviour`)),
and what builds on them."""

from recgym.offline.behaviour import (
    BehaviourConfig,
    BehaviourFileError,
    BehaviourModel,
    fit_behaviour,
)
from recgym.offline.behaviour_metrics import compare_propensities
from recgym.offline.dataset import DatasetFileError, TrajectoryDataset
from recgym.offline.episodes import episodes_from_log
from recgym.offline.reference import (
    ObservationReference,
    reference_from_log,
    reference_from_simulator,
)

__all__ = [
    "BehaviourConfig",
    "BehaviourFileError",
    "BehaviourModel",
    "DatasetFileError",
    "ObservationReference",
    "TrajectoryDataset",
    "compare_propensities",
    "episodes_from_log",
    "fit_behaviour",
    "reference_from_log",
    "reference_from_simulator",
]
