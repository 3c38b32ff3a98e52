"""The myopic oracle: greedy on the simulator's own predicted primary signal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from agents.base import is_batched
from agents.online.baselines.common import (
    ReadsHiddenState,
    as_action,
    rank,
)
from offline_data.shared.config import ConfigMixin


@dataclass(frozen=True)
class OracleConfig(ConfigMixin):
    """Settings of `OracleAgent`: none (it is greedy and draws nothing at random)."""

    RETIRED: ClassVar[tuple[str, ...]] = ("seed",)
    """Removed fields that agents saved earlier may still hold: `seed` had no effect."""


class OracleAgent(ReadsHiddenState):
    """Greedy on the simulator's predicted primary signal: the myopic oracle.

    It ranks items by `core.primary_scores()`, the simulator's own probability of the
    primary signal (e.g. a click) given each user's current hidden state, so it must be
    attached to the environment whose observations it is given (`attach(env)`;
    `create` / `make_agent` attach the environment they are given; a loaded agent needs
    `attach`). For a vector env the batch rows are its sub-environments; for a single env
    the batch is its one row. `fit` does nothing but count steps.
    """

    name: ClassVar[str] = "oracle"
    config_class: ClassVar[type] = OracleConfig

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """The items (or candidates) with the highest true primary-signal probability for
        the attached environment's current users."""
        batch, core = self.attached(obs)
        scores = np.asarray(core.primary_scores(), dtype=np.float64)
        return as_action(rank(scores, batch, self.spec), is_batched(obs),
                         self.spec.slate_size)
