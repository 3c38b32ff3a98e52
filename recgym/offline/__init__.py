"""Offline RL on logs: a log as an environment's episodes (`episodes_from_log`), the
`TrajectoryDataset` that holds them (Parquet, d3rlpy `MDPDataset`), behaviour models for
logs without propensities (`fit_behaviour`), exports (`export_dataset`: Parquet, Minari,
d3rlpy), the same episodes as sessions (`sessions_of`, the steps of a decision
transformer over sessions), and what builds on them."""

from recgym.offline.behaviour import (
    BehaviourConfig,
    BehaviourFileError,
    BehaviourModel,
    fit_behaviour,
)
from recgym.offline.behaviour_metrics import compare_propensities
from recgym.offline.dataset import DatasetFileError, TrajectoryDataset
from recgym.offline.episodes import episodes_from_log
from recgym.offline.export import FORMATS, export_dataset, read_d3rlpy, to_d3rlpy
from recgym.offline.minari_export import from_minari, to_minari
from recgym.offline.reference import (
    ObservationReference,
    reference_from_log,
    reference_from_simulator,
)
from recgym.offline.sessions import Sessions, sessions_of

__all__ = [
    "FORMATS",
    "BehaviourConfig",
    "BehaviourFileError",
    "BehaviourModel",
    "DatasetFileError",
    "ObservationReference",
    "Sessions",
    "TrajectoryDataset",
    "compare_propensities",
    "episodes_from_log",
    "export_dataset",
    "fit_behaviour",
    "from_minari",
    "read_d3rlpy",
    "reference_from_log",
    "reference_from_simulator",
    "sessions_of",
    "to_d3rlpy",
    "to_minari",
]
