"""The most-popular baseline: items ranked by a smoothed rate of the primary signal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from agents.base import is_batched, unwrap_env
from agents.online.baselines.common import as_action, checked_batch, n_choices, rank, shown
from agents.online.baselines.explorer import Explorer, ExplorerConfig
from offline_data.log import InteractionLog
from offline_data.shared.errors import InputError
from recgym.spaces import ObsSpec
from recgym.wrappers.continuous import top_k_by_score


@dataclass(frozen=True)
class PopularConfig(ExplorerConfig):
    """Settings of `PopularAgent`."""

    smoothing: float = 5.0
    """Pseudo-shows at the global rate added to every item (shrinks rarely shown items
    toward the average)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.smoothing < 0:
            raise InputError(f"smoothing must be >= 0, got {self.smoothing}")


class PopularAgent(Explorer):
    """Most popular: items ranked by a smoothed rate of the primary signal,
    `(successes + m * global_rate) / (shows + m)` with `m = config.smoothing`; ties go to
    the lower item id. The same ranking is shown to every user (in candidate mode, the
    best-ranked observed candidates).

    Counts come from `fit(env, steps)`, which recommends uniformly random slates in the
    environment and counts shows and primary-signal values per item, and/or from
    `PopularAgent.from_log(log, spec)`.
    """

    name: ClassVar[str] = "popular"
    config_class: ClassVar[type] = PopularConfig
    config: PopularConfig

    def __init__(self, spec: ObsSpec, config: PopularConfig | None = None) -> None:
        super().__init__(spec, config)
        self.shows = np.zeros(spec.n_items, dtype=np.float64)
        self.successes = np.zeros(spec.n_items, dtype=np.float64)
        self._refresh()

    @classmethod
    def from_log(cls, log: InteractionLog, spec: ObsSpec | Any,
                 config: PopularConfig | None = None) -> PopularAgent:
        """An agent whose counts are the log's shows and primary-signal values per item.

        `spec` is the environment's `ObsSpec` (or the environment); the log's item ids must
        be the environment's (a synthetic log of the same world, or the log a simulator
        was fitted on)."""
        if not isinstance(spec, ObsSpec):
            spec = unwrap_env(spec).core.spec
        primary = spec.signal_names[0]
        if primary not in log.signal_names:
            raise InputError(f"{log.source}: the log has no {primary!r} signal (the "
                             f"environment's primary signal); it has {log.signal_names}")
        items = log.interactions["item_id"].to_numpy()
        if len(items) and items.max() >= spec.n_items:
            raise InputError(f"{log.source}: item ids reach {int(items.max())} but the "
                             f"environment has {spec.n_items} items; use a log in the "
                             "environment's id space")
        agent = cls(spec, config)
        values = log.interactions[primary].to_numpy(dtype=np.float64)
        agent.shows += np.bincount(items, minlength=spec.n_items)
        agent.successes += np.bincount(items, weights=values, minlength=spec.n_items)
        agent._refresh()
        return agent

    def _refresh(self) -> None:
        self._stale = False
        total = self.shows.sum()
        prior = self.successes.sum() / total if total > 0 else 0.0
        m = float(self.config.smoothing)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = (self.successes + m * prior) / (self.shows + m)
        self.rate = np.where(self.shows + m > 0, rate, prior)
        self.order = np.argsort(-self.rate, kind="stable")
        self._position = np.empty(self.spec.n_items, dtype=np.int64)
        self._position[self.order] = np.arange(self.spec.n_items)

    def scores(self) -> np.ndarray:
        """The smoothed rate of every item (n_items,)."""
        if self._stale:
            self._refresh()
        return self.rate.copy()

    def _explore(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        keys = self.rng.random((len(batch["history_items"]), n_choices(self.spec)))
        return top_k_by_score(keys, self.spec.slate_size)

    def _learn(self, before: dict[str, np.ndarray], after: dict[str, np.ndarray],
               stepped: np.ndarray) -> None:
        _, items, feedback = shown(after, stepped, self.spec)
        np.add.at(self.shows, items, 1.0)
        np.add.at(self.successes, items, feedback)
        self._stale = True

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """The top-ranked items (or observed candidates) for one observation or a batch."""
        batch = checked_batch(obs, self.spec)
        if self._stale:
            self._refresh()
        b = len(batch["history_items"])
        # minus the rank position: a score without ties, so the order is deterministic
        scores = np.broadcast_to(-self._position.astype(np.float64), (b, self.spec.n_items))
        return as_action(rank(scores, batch, self.spec, self.config.exclude_seen),
                          is_batched(obs), self.spec.slate_size)

    def weights(self) -> dict[str, Any]:
        return {"shows": self.shows.copy(), "successes": self.successes.copy()}

    def load_weights(self, weights: dict[str, Any]) -> None:
        shows = np.asarray(weights["shows"], dtype=np.float64)
        if shows.shape != (self.spec.n_items,):
            raise ValueError(f"counts for {shows.shape} items, expected {self.spec.n_items}")
        self.shows = shows
        self.successes = np.asarray(weights["successes"], dtype=np.float64)
        self._refresh()
