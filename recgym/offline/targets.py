"""A target policy's probabilities over a dataset's steps, computed in chunks and checked:
what off-policy estimators ask of a `StochasticPolicy`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from offline_data.shared.errors import InputError
from recgym.offline.dataset import TrajectoryDataset
from recgym.offline.policy import ActingPolicy, StochasticPolicy, as_stochastic

CHUNK = 4096
"""Steps per call of the target policy."""
CACHE_ENTRIES = 1 << 24
"""Largest (steps x items) table of probabilities kept in memory (float32, 64 MiB)."""


class TargetProbabilities:
    """pi(. | s) of a target policy at the steps of one dataset, for any set of rows.

    The whole (steps, n_items) table is computed once and kept when it has at most
    `cache_entries` entries; otherwise rows are computed on demand, `chunk` at a time.
    Every answer is checked: shape (rows, n_items), finite, non-negative, rows summing
    to 1.
    """

    def __init__(self, policy: StochasticPolicy | ActingPolicy, dataset: TrajectoryDataset,
                 *, chunk: int = CHUNK, cache_entries: int = CACHE_ENTRIES) -> None:
        self.policy = as_stochastic(policy, dataset.spec.n_items)
        self.dataset = dataset
        self.n_items = dataset.spec.n_items
        self.chunk = max(int(chunk), 1)
        self._table: np.ndarray | None = None
        if dataset.n_steps * self.n_items <= cache_entries:
            self._table = np.concatenate(
                [p for _, p in self._compute(np.arange(dataset.n_steps))], axis=0)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), n_items) float32 probabilities at the given step indices."""
        index = np.asarray(rows, dtype=np.int64)
        if self._table is not None:
            return self._table[index]
        if len(index) == 0:
            return np.zeros((0, self.n_items), np.float32)
        return np.concatenate([p for _, p in self._compute(index)], axis=0)

    def reduce(self, per_chunk: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        """`per_chunk(rows, probabilities)` over every step in chunks, concatenated: how
        to keep only what is needed (pi of the logged action, E_pi[Q(s, .)])."""
        everything = np.arange(self.dataset.n_steps)
        if self._table is not None:
            return np.asarray(per_chunk(everything, self._table))
        return np.concatenate([np.asarray(per_chunk(rows, probs))
                               for rows, probs in self._compute(everything)])

    def logged(self) -> np.ndarray:
        """(steps,) pi(a_t | s_t) of each logged action."""
        actions = self.dataset.actions
        return self.reduce(lambda rows, p: p[np.arange(len(rows)), actions[rows]]
                           ).astype(np.float64)

    def _compute(self, index: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        observations = self.dataset.observations
        for start in range(0, len(index), self.chunk):
            rows = index[start:start + self.chunk]
            batch = {key: value[rows] for key, value in observations.items()}
            yield rows, checked(self.policy.action_probabilities(batch), len(rows),
                                self.n_items, type(self.policy).__name__)


def checked(probabilities: object, rows: int, n_items: int, name: str) -> np.ndarray:
    """`probabilities` as a (rows, n_items) float32 array, or an `InputError` naming what
    is wrong with it."""
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.shape != (rows, n_items):
        raise InputError(f"{name}.action_probabilities returned shape {probs.shape} for "
                         f"{rows} observations; it must return ({rows}, {n_items}): one "
                         "probability per item (n_items of the dataset) for each observation")
    if not np.all(np.isfinite(probs)) or probs.min(initial=0.0) < 0.0:
        raise InputError(f"{name}.action_probabilities returned negative or non-finite "
                         "values; return probabilities in [0, 1]")
    sums = probs.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-3):
        bad = int(np.argmax(np.abs(sums - 1.0)))
        raise InputError(f"{name}.action_probabilities rows must sum to 1 (row {bad} sums to "
                         f"{sums[bad]:.4g}); normalise them (e.g. a softmax)")
    return probs.astype(np.float32)
