"""Offline RL on logs: a log as an environment's episodes (`episodes_from_log`), the
`TrajectoryDataset` that holds them (Parquet, d3rlpy `MDPDataset`), and what builds on it."""

from recgym.offline.dataset import DatasetFileError, TrajectoryDataset
from recgym.offline.episodes import episodes_from_log
from recgym.offline.reference import (
    ObservationReference,
    reference_from_log,
    reference_from_simulator,
)

__all__ = [
    "DatasetFileError",
    "ObservationReference",
    "TrajectoryDataset",
    "episodes_from_log",
    "reference_from_log",
    "reference_from_simulator",
]
