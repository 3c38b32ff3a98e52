"""A replay buffer of batched transitions (dict of arrays), uniform or prioritised."""

from __future__ import annotations

from typing import Any

import numpy as np


class ReplayBuffer:
    """Fixed-capacity ring buffer of transitions stored as named arrays.

    With `prioritized`, sampling is proportional to priority ** alpha (Schaul et al.
    2016) and `sample` returns importance weights (normalised to max 1) for `beta`.
    """

    def __init__(self, capacity: int, prioritized: bool = False, alpha: float = 0.6) -> None:
        self.capacity = int(capacity)
        self.prioritized = prioritized
        self.alpha = alpha
        self.size = 0
        self.pos = 0
        self.data: dict[str, np.ndarray] = {}
        self.priority = np.zeros(self.capacity)

    def __len__(self) -> int:
        return self.size

    def add(self, batch: dict[str, np.ndarray]) -> None:
        """Append transitions (every array has the same first axis)."""
        n = len(next(iter(batch.values())))
        if n == 0:
            return
        if not self.data:
            self.data = {k: np.zeros((self.capacity, *np.shape(v)[1:]), dtype=np.asarray(v).dtype)
                         for k, v in batch.items()}
        index = (self.pos + np.arange(n)) % self.capacity
        for key, values in batch.items():
            self.data[key][index] = values
        top = self.priority[: self.size].max() if self.size else 1.0
        self.priority[index] = top
        self.pos = int((self.pos + n) % self.capacity)
        self.size = int(min(self.size + n, self.capacity))

    def sample(self, n: int, rng: np.random.Generator, beta: float = 0.4
               ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """(transitions, their indices, importance weights) for `n` draws."""
        if self.prioritized:
            p = self.priority[: self.size] ** self.alpha
            p = p / p.sum()
            index = rng.choice(self.size, size=n, p=p)
            # normalised by the largest weight any stored transition could get
            weights = (self.size * p[index]) ** (-beta) / (self.size * p.min()) ** (-beta)
        else:
            index = rng.integers(0, self.size, size=n)
            weights = np.ones(n)
        return {k: v[index] for k, v in self.data.items()}, index, weights

    def update_priorities(self, index: np.ndarray, errors: np.ndarray) -> None:
        """Set the priorities of sampled transitions from their TD errors."""
        self.priority[index] = np.abs(errors) + 1e-6

    def state(self) -> dict[str, Any]:
        """Contents for a checkpoint."""
        return {"size": self.size, "pos": self.pos, "priority": self.priority[: self.size].copy(),
                "data": {k: v[: self.size].copy() for k, v in self.data.items()}}

    def load(self, state: dict[str, Any]) -> None:
        """Restore `state()`."""
        size = int(state["size"])
        data = state["data"]
        self.data = {k: np.zeros((self.capacity, *v.shape[1:]), dtype=v.dtype)
                     for k, v in data.items()}
        for key, values in data.items():
            self.data[key][:size] = values
        self.priority[:] = 0.0
        self.priority[:size] = state["priority"]
        self.size, self.pos = size, int(state["pos"])
