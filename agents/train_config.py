"""What a training run runs: `TrainConfig`, read back from a run folder's `config.json`,
and the agent settings it implies."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from agents.registry import agent_class, check_agent_name
from agents.settings import store_ints, store_plain
from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from offline_data.shared.jsonfile import read_json_object
from recgym.runs import CONFIG_FILE


@dataclass(frozen=True)
class TrainConfig(ConfigMixin):
    """What `recgym train` runs (CLI flags map onto these fields)."""

    agent: str = "ppo"
    """Agent name (see `agents.AGENT_NAMES`)."""
    env: str = "RecGym/Synthetic-v0"
    env_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    steps: int = 20_000
    """Environment steps to train for."""
    seed: int = 0
    encoder: str | None = None
    """State encoder for agents that take one (default: the agent's own)."""
    n_envs: int = 8
    """Parallel users in the training vector environment."""
    eval_every: int = 5_000
    """Steps between evaluations (and checkpoints)."""
    eval_users: int = 200
    eval_seed: int = 10_000
    """Seed of the evaluation users (the same for every agent and every evaluation)."""
    agent_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    """Further agent settings (fields of its config)."""
    name: str | None = None
    """A label for plots and tables (default: the agent name)."""

    def __post_init__(self) -> None:
        store_ints(self, {"steps": 1, "n_envs": 1, "eval_every": 1, "eval_users": 1,
                          "seed": 0, "eval_seed": 0})
        store_plain(self, "env_kwargs", "agent_kwargs")
        check_agent_name(self.agent)  # unknown names fail here, with a hint


def agent_settings(config: TrainConfig) -> dict[str, Any]:
    """The settings a run gives its agent's config: `agent_kwargs`, plus the run's seed,
    env count and encoder where the agent's config has those fields (an encoder for an
    agent without one is refused)."""
    config_class = agent_class(config.agent).config_class
    known = {f.name for f in fields(config_class)} if is_dataclass(config_class) else set()
    settings = dict(config.agent_kwargs)
    for name, value in (("seed", config.seed), ("n_envs", config.n_envs),
                        ("encoder", config.encoder)):
        if value is not None and name in known:
            settings.setdefault(name, value)
    if config.encoder is not None and "encoder" not in known:
        raise InputError(f"agent {config.agent!r} takes no encoder; leave --encoder out")
    return settings


def read_config(out: str | Path) -> TrainConfig:
    """The `TrainConfig` of a run folder (or checkpoint) from its `config.json`; unknown
    keys and bad values are refused, naming the file."""
    path = Path(out) / CONFIG_FILE
    data = read_json_object(path, hint="the run cannot be resumed",
                            missing=f"cannot resume {out}: no {CONFIG_FILE} (was it written "
                            "by `recgym train`?)")
    try:
        return TrainConfig().replace(**data)
    except InputError as exc:
        raise InputError(f"{path}: {exc}; correct the file") from None
