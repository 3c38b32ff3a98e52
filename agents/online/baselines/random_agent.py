"""The uniformly random baseline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from agents.base import CountingOnly, is_batched
from agents.online.baselines.common import as_action, checked_batch, n_choices
from agents.settings import store_ints
from offline_data.shared.config import ConfigMixin
from recgym.spaces import ObsSpec
from recgym.wrappers.continuous import top_k_by_score


@dataclass(frozen=True)
class RandomConfig(ConfigMixin):
    """Settings of `RandomAgent`."""

    seed: int = 0
    """Seed of the agent's own random generator."""

    def __post_init__(self) -> None:
        store_ints(self, {"seed": 0})


class RandomAgent(CountingOnly):
    """Uniformly random distinct items (or candidate indices).

    The agent draws from its own generator seeded by `config.seed`, so the sequence of
    actions is reproducible; `predict(deterministic=True)` is still random (a random
    policy has no deterministic version) and advances the generator. The generator's state
    is saved with the weights, so a loaded agent continues the same sequence. `fit` does
    nothing but count steps.
    """

    name: ClassVar[str] = "random"
    config_class: ClassVar[type] = RandomConfig
    config: RandomConfig

    def __init__(self, spec: ObsSpec, config: RandomConfig | None = None) -> None:
        super().__init__(spec, config)
        self.rng = np.random.default_rng(self.config.seed)

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """Random distinct item ids / candidate indices for one observation or a batch."""
        batch = checked_batch(obs, self.spec)
        keys = self.rng.random((len(batch["history_items"]), n_choices(self.spec)))
        return as_action(top_k_by_score(keys, self.spec.slate_size), is_batched(obs),
                         self.spec.slate_size)

    def weights(self) -> dict[str, Any]:
        """The generator's state (a loaded agent continues the same sequence)."""
        return {"rng": self.rng.bit_generator.state}

    def load_weights(self, weights: dict[str, Any]) -> None:
        """Inverse of `weights`."""
        self.rng.bit_generator.state = weights["rng"]
