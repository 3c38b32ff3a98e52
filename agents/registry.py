"""Agents by name: `make_agent("ppo", env, config)` and `load_agent(path)`."""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path
from typing import Any

from agents.base import (
    WEIGHTS_FILE,
    Agent,
    config_from_dict,
    load_agent_files,
    make_env,
    read_meta,
    restore_agent_files,
    unwrap_env,
)
from agents.checkpoint import load_state
from offline_data.shared.errors import InputError
from recgym.spaces import ObsSpec

SB3_NAMES = ("ppo", "a2c", "dqn", "sac", "td3")
CLASSES: dict[str, tuple[str, str]] = {
    "deers": ("agents.online.deers", "DEERSAgent"),
    "drr": ("agents.online.drr", "DRRAgent"),
    "random": ("agents.online.baselines", "RandomAgent"),
    "popular": ("agents.online.baselines", "PopularAgent"),
    "oracle": ("agents.online.baselines", "OracleAgent"),
    "linucb": ("agents.online.baselines", "LinUCBAgent"),
}
AGENT_NAMES: tuple[str, ...] = (*SB3_NAMES, *CLASSES)


def agent_class(name: str) -> type[Agent]:
    """The class behind an agent name (a 'did you mean' for unknown names)."""
    if name in SB3_NAMES:
        from agents.online.sb3_agents import SB3Agent

        return SB3Agent
    if name not in CLASSES:
        close = difflib.get_close_matches(name, AGENT_NAMES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown agent {name!r}{hint} Known: {', '.join(AGENT_NAMES)}")
    module, cls = CLASSES[name]
    return getattr(importlib.import_module(module), cls)


def make_agent(name: str, env: Any, config: Any = None, **overrides: Any) -> Agent:
    """A new agent for an environment (an instance, or an id built with the config's
    `env_kwargs` / `n_envs`). `overrides` change fields of the (default) config."""
    cls = agent_class(name)
    config = config if config is not None else cls.config_class()
    if overrides:
        if not hasattr(config, "replace"):
            raise InputError(f"{name} takes no settings; got {sorted(overrides)}")
        config = config.replace(**overrides)
    if isinstance(env, str):
        env = make_env(env, getattr(config, "n_envs", 1), dict(getattr(config, "env_kwargs",
                                                                       {}) or {}))
    base = unwrap_env(env)
    spec = base.core.spec
    if name in SB3_NAMES:
        from agents.online.sb3_agents import CONTINUOUS, SB3Agent

        embeddings = base.item_embeddings() if name in CONTINUOUS else None
        agent = SB3Agent(spec, config, algo=name, embeddings=embeddings)
        if hasattr(env, "num_envs"):
            agent.attach(env)
        return agent
    return cls.create(env, config)


def load_agent(path: str | Path, env: Any = None) -> Agent:
    """Read an agent saved by `Agent.save` (weights read with `weights_only=True`). With
    `env` and a saved training state, training continues exactly where it stopped."""
    meta = read_meta(path)
    name = meta["agent"]
    cls = agent_class(name)
    if name in SB3_NAMES:
        from agents.online.sb3_agents import SB3Agent

        weights = load_state(Path(path) / WEIGHTS_FILE)  # the embeddings are needed first
        agent = SB3Agent(ObsSpec.from_dict(meta["spec"]),
                         config_from_dict(cls.config_class, meta["config"]), algo=name,
                         embeddings=weights.get("embeddings"))
        return restore_agent_files(agent, path, meta, weights, env)
    return load_agent_files(cls, path, meta, env)
