"""The myopic oracle: greedy on the simulator's own predicted primary signal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from agents.base import CountingOnly, is_batched, unwrap_env
from agents.online.baselines.common import as_action, attached_core, checked_batch, rank
from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from recgym.spaces import ObsSpec


@dataclass(frozen=True)
class OracleConfig(ConfigMixin):
    """Settings of `OracleAgent`: none (it is greedy and draws nothing at random)."""

    RETIRED: ClassVar[tuple[str, ...]] = ("seed",)
    """Removed fields that agents saved earlier may still hold: `seed` had no effect."""


class OracleAgent(CountingOnly):
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

    def __init__(self, spec: ObsSpec, config: OracleConfig | None = None) -> None:
        super().__init__(spec, config)
        self.env: Any = None

    @classmethod
    def create(cls, env: Any, config: Any = None) -> OracleAgent:
        """A new oracle attached to `env`."""
        agent = cls(unwrap_env(env).core.spec, config)
        agent.attach(env)
        return agent

    def observe(self, env: Any) -> None:
        """Act in `env` from now on (evaluation calls this): read its hidden state."""
        self.attach(env)

    def attach(self, env: Any) -> Any:
        """Read the hidden state of `env` (an instance) from now on; returns it."""
        self.check_spaces(env)
        self.env = env
        return env

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """The items (or candidates) with the highest true primary-signal probability for
        the attached environment's current users."""
        if self.env is None:
            raise InputError("the oracle reads the simulator's hidden state: attach it to "
                             "the environment first (agent.attach(env)), or build it with "
                             "make_agent('oracle', env)")
        batch = checked_batch(obs, self.spec)
        core = attached_core("oracle", self.env, batch)
        scores = np.asarray(core.primary_scores(), dtype=np.float64)
        return as_action(rank(scores, batch, self.spec), is_batched(obs),
                         self.spec.slate_size)
