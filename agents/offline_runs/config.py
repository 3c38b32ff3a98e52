"""What an offline run runs: `OfflineRunConfig` (the flags of `recgym offline`), read back
from a run folder's `config.json`, which says `"kind": "offline"`."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from agents.registry import AGENT_NAMES, OFFLINE_AGENT_NAMES
from agents.settings import store_ints, store_plain
from offline_data.log_options import LogOptions
from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from offline_data.shared.numbers import is_real
from recgym.env_config import EnvConfig
from recgym.offline.behaviour import BehaviourConfig
from recgym.offline.estimators import ESTIMATORS
from recgym.runs import CONFIG_FILE
from simulators.policies import make_policy
from simulators.sim_config import SimulatorConfig

OFFLINE_KIND = "offline"
"""`config.json["kind"]` of an offline run (online runs have no `kind`)."""
SYNTHETIC = "synthetic"
"""`data` that logs the synthetic world instead of reading a file."""


@dataclass(frozen=True)
class OfflineRunConfig(ConfigMixin):
    """What `recgym offline` runs (CLI flags map onto these fields)."""

    algo: str = "cql"
    """Offline agent (`agents.OFFLINE_AGENT_NAMES`): bc, bcq, cql, discrete_sac, ..."""
    data: str = SYNTHETIC
    """'synthetic' (a log of the synthetic world) or the path of a log."""
    log_options: dict[str, Any] = field(default_factory=dict, hash=False)
    """How to read `data` (fields of `offline_data.log_options.LogOptions`)."""
    users: int = 1_000
    """Synthetic: users logged (the first ones of the world)."""
    days: float | None = None
    """Synthetic: log this many days of each user; None logs each user's first
    `max_sessions` + 1 whole sessions from a fresh start (the environment's episodes)."""
    behaviour: str = "softmax"
    """Synthetic: the behaviour policy that writes the log (`simulators.policies`)."""
    behaviour_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    """Synthetic: its arguments (e.g. {"temperature": 0.1} for softmax)."""
    explore: float = 0.0
    """Synthetic: uniform exploration mixed into the behaviour policy (a deterministic
    one, such as diversity_aware, logs one item per state without it)."""
    world: dict[str, Any] = field(default_factory=dict, hash=False)
    """Synthetic: `WorldConfig` fields."""
    world_seed: int = 0
    env_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    """Episode settings (`EnvConfig` fields, incl. `reward_weights`) of the dataset and of
    the environment the agent is evaluated in."""
    steps: int = 5_000
    """Gradient steps."""
    seed: int = 0
    """Seeds the log (synthetic), the user split, the fits and the agent."""
    encoder: str | None = None
    """State encoder (default: the agent's own)."""
    agent_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    """Further agent settings (fields of its config)."""
    heldout_fraction: float = 0.2
    """Users held out from training: off-policy evaluation runs on their episodes."""
    eval_every: int = 1_000
    """Gradient steps between evaluations (and checkpoints)."""
    eval_users: int = 200
    """Users of the online evaluation in the simulator."""
    eval_seed: int = 10_000
    ope: tuple[str, ...] = ("snips", "wpdis")
    """Estimators of the periodic off-policy evaluation: cheap ones, for the trend (the
    model-based `wdr` / `dr` / `fqe`, the most accurate in the README's validation, fit a
    Q model each time; `recgym ope RUN` runs them once at the end)."""
    simulator: str | None = None
    """Logs from files: a simulator folder (`recgym fit-sim`) to evaluate in, instead of
    fitting one to the training users (its ids must cover the log's)."""
    simulator_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    """Logs from files: `simulators.SimulatorConfig` fields of the simulator fitted to the
    training users."""
    behaviour_model: dict[str, Any] = field(default_factory=dict, hash=False)
    """Logs without propensities: `recgym.offline.BehaviourConfig` fields."""
    name: str | None = None
    """A label for plots and tables (default: the algorithm name)."""
    kind: str = OFFLINE_KIND

    def __post_init__(self) -> None:
        store_ints(self, {"users": 1, "steps": 1, "seed": 0, "eval_every": 1,
                          "eval_users": 2, "eval_seed": 0, "world_seed": 0})
        store_plain(self, "log_options", "world", "env_kwargs", "agent_kwargs",
                    "simulator_kwargs", "behaviour_model", "behaviour_kwargs")
        if self.kind != OFFLINE_KIND:
            raise InputError(f"kind must be {OFFLINE_KIND!r}, got {self.kind!r}")
        if self.algo not in OFFLINE_AGENT_NAMES:
            if self.algo in AGENT_NAMES:
                raise InputError(f"{self.algo!r} is an online agent (train it with `recgym "
                                 f"train`); offline agents: {', '.join(OFFLINE_AGENT_NAMES)}")
            close = difflib.get_close_matches(str(self.algo), OFFLINE_AGENT_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"unknown offline agent {self.algo!r}{hint}; known: "
                             f"{', '.join(OFFLINE_AGENT_NAMES)}")
        if not isinstance(self.data, str) or not self.data:
            raise InputError("data must be 'synthetic' or the path of a log")
        known = {f.name for f in fields(LogOptions)}
        unknown = sorted(set(self.log_options) - known)
        if unknown:
            raise InputError(f"log_options: unknown option(s) {unknown}; known: "
                             f"{', '.join(sorted(known))}")
        if self.days is not None and (not is_real(self.days) or self.days <= 0):
            raise InputError(f"days must be a positive number of days, got {self.days!r}")
        if not is_real(self.heldout_fraction) or not 0 < self.heldout_fraction < 1:
            raise InputError(f"heldout_fraction must be between 0 and 1, got "
                             f"{self.heldout_fraction!r}")
        object.__setattr__(self, "ope", tuple(str(n).lower() for n in self.ope))
        bad = [n for n in self.ope if n not in ESTIMATORS]
        if bad:
            raise InputError(f"ope: unknown estimator(s) {bad}; known: "
                             f"{', '.join(ESTIMATORS)}")
        if not is_real(self.explore) or not 0 <= self.explore <= 1:
            raise InputError(f"explore must be a probability in [0, 1], got {self.explore!r}")
        if not self.synthetic and (self.explore or self.behaviour_kwargs
                                   or self.behaviour != "softmax"):
            raise InputError("behaviour, behaviour_kwargs and explore describe the synthetic "
                             "log's behaviour policy; a log from a file has its own")
        if self.synthetic:
            make_policy(self.behaviour, self.explore, **self.behaviour_kwargs)  # checked
        if self.synthetic and (self.simulator is not None or self.simulator_kwargs):
            raise InputError("simulator / simulator_kwargs apply to logs from files; with "
                             "data 'synthetic' the agent is evaluated in the world itself")
        if self.simulator is not None and self.simulator_kwargs:
            raise InputError("give either simulator (a fitted one) or simulator_kwargs (to "
                             "fit one), not both")
        self.env_config()  # bad settings fail here, naming the field
        for name, config_class in (("simulator_kwargs", SimulatorConfig),
                                   ("behaviour_model", BehaviourConfig)):
            try:
                config_class().replace(**getattr(self, name))
            except InputError as exc:
                raise InputError(f"{name}: {exc}") from None

    @property
    def synthetic(self) -> bool:
        """Whether the log comes from the synthetic world."""
        return self.data == SYNTHETIC

    @property
    def label(self) -> str:
        """The run's name in plots and tables."""
        return self.name or self.algo

    def env_config(self) -> EnvConfig:
        """The episode settings of the dataset and of the evaluation environment."""
        try:
            return EnvConfig().replace(**self.env_kwargs)
        except InputError as exc:
            raise InputError(f"env_kwargs: {exc}") from None

    def log_reader_options(self) -> LogOptions:
        """`log_options` as the `LogOptions` that read `data`."""
        return LogOptions(**self.log_options)


def is_offline_config(data: dict[str, Any]) -> bool:
    """Whether a run's `config.json` contents describe an offline run."""
    return data.get("kind") == OFFLINE_KIND


def offline_config_from(data: dict[str, Any], path: Path) -> OfflineRunConfig:
    """The `OfflineRunConfig` of a `config.json`'s contents (errors name the file)."""
    try:
        return OfflineRunConfig().replace(**data)
    except InputError as exc:
        raise InputError(f"{path / CONFIG_FILE}: {exc}; correct the file") from None
