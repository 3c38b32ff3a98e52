"""What an environment's observation of a logged user looks like: the signal order, the
signal bounds, the user features and the id spaces, taken from the simulator an agent will
meet online (so offline and online observations agree) or, without one, from the log."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from offline_data.log import InteractionLog
from offline_data.partitioned import PartitionedLog
from offline_data.schema import Signal
from offline_data.shared.errors import InputError
from recgym.spaces import history_bounds, primary_first
from simulators.features import encode_table
from simulators.interface import (
    HasPrimarySignal,
    HasSignalBounds,
    HasUserFeatures,
    UserSimulator,
)


@dataclass(frozen=True)
class ObservationReference:
    """The parts of an environment's observation that do not come from the log's steps.

    `signal_names` has the primary signal first (the environment's order); `low` / `high`
    are the history-feedback bounds in that order (0 always inside, as empty history
    slots hold 0); `user_features(ids)` gives each user's feature row.
    """

    n_users: int
    n_items: int
    signal_names: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray
    user_features: Callable[[np.ndarray], np.ndarray]
    source: str

    def features_of(self, users: np.ndarray) -> np.ndarray:
        """(len(users), d >= 1) float32 user features, as `RecCore` builds them (one zero
        column when there are none)."""
        x = np.asarray(self.user_features(np.asarray(users, dtype=np.int64)), np.float32)
        if x.ndim != 2 or x.shape[0] != len(users):
            raise InputError(f"{self.source}: user_features must give one row per user, got "
                             f"shape {x.shape} for {len(users)} users")
        return x if x.shape[1] else np.zeros((len(users), 1), np.float32)


def reference_from_simulator(simulator: UserSimulator, log: InteractionLog
                             ) -> ObservationReference:
    """The observation of `simulator`'s environments, checked against the log: every
    signal of the simulator must be in the log and the log's ids inside its id spaces."""
    names = [s.name for s in simulator.signals]
    missing = [n for n in names if n not in log.signal_names]
    if missing:
        raise InputError(f"{log.source}: the log has no signal(s) {missing} that the "
                         f"simulator {type(simulator).__name__} responds with; it has "
                         f"{log.signal_names}")
    if log.n_items > simulator.n_items or log.n_users > simulator.n_users:
        raise InputError(f"{log.source}: the log has {log.n_users} users and {log.n_items} "
                         f"items, more than the simulator's {simulator.n_users} and "
                         f"{simulator.n_items}; use a simulator fitted to this log")
    primary = (simulator.primary_signal if isinstance(simulator, HasPrimarySignal)
               else names[0])
    ordered = primary_first(names, primary)
    order = [names.index(n) for n in ordered]
    if isinstance(simulator, HasSignalBounds):
        low, high = history_bounds(*simulator.signal_bounds(), order)
    else:
        low, high = np.full(len(names), -np.inf), np.full(len(names), np.inf)
    if isinstance(simulator, HasUserFeatures):
        features: Callable[[np.ndarray], np.ndarray] = simulator.user_features
    else:
        def features(users: np.ndarray) -> np.ndarray:
            return np.zeros((len(users), 1), np.float32)
    return ObservationReference(
        n_users=int(simulator.n_users), n_items=int(simulator.n_items),
        signal_names=tuple(ordered), low=low, high=high, user_features=features,
        source=type(simulator).__name__)


def reference_from_log(log: InteractionLog, primary: str | None = None
                       ) -> ObservationReference:
    """An observation defined by the log alone: the first binary signal (or `primary`)
    leads, bounds are 0..1 for binary signals and the observed range otherwise, and user
    features are the log's feature table encoded as a fitted simulator encodes it."""
    frame = log.interactions
    ranges = {s.name: (float(frame[s.name].min()), float(frame[s.name].max()))
              for s in log.signals}
    table, _ = encode_table(log.users, log.n_users)
    return _reference(log.signals, ranges, table, log.n_items, log.source, primary)


def reference_from_partitioned(dataset: PartitionedLog, primary: str | None = None
                               ) -> ObservationReference:
    """`reference_from_log` for a log larger than memory, from its metadata (signal
    ranges over the whole log; a partitioned log has no user features)."""
    missing = [s.name for s in dataset.signals if s.name not in dataset.signal_ranges]
    if missing:
        raise InputError(f"{dataset.source}: dataset.json has no range of signal(s) {missing}; "
                         "convert the log again with this recgym")
    table = np.zeros((dataset.n_users, 0), np.float32)
    return _reference(dataset.signals, dataset.signal_ranges, table, dataset.n_items,
                      dataset.source, primary)


def _reference(signals: tuple[Signal, ...], ranges: Mapping[str, tuple[float, float]],
               table: np.ndarray, n_items: int, source: str, primary: str | None
               ) -> ObservationReference:
    names = [s.name for s in signals]
    kinds = {s.name: s.kind for s in signals}
    if primary is None:
        binary = [s.name for s in signals if s.kind == "binary"]
        primary = binary[0] if binary else names[0]
    elif primary not in names:
        raise InputError(f"{source}: primary signal {primary!r} is not in the log; it has "
                         f"{names}")
    ordered = primary_first(names, primary)
    observed_low = [0.0 if kinds[n] == "binary" else ranges[n][0] for n in ordered]
    observed_high = [1.0 if kinds[n] == "binary" else ranges[n][1] for n in ordered]
    low, high = history_bounds(observed_low, observed_high, range(len(ordered)))

    def features(users: np.ndarray) -> np.ndarray:
        return table[users]

    return ObservationReference(
        n_users=len(table), n_items=n_items, signal_names=tuple(ordered), low=low,
        high=high, user_features=features, source=source)
