"""Agents by name: `make_agent("ppo", env, config)` and `load_agent(path)`.

Every agent is one class with its registered `name`; the registry maps names to entry
points (`"module:Class"`, imported on first use, so naming an agent does not import its
module, e.g. stable-baselines3). Adding an agent is one entry in `ENTRY_POINTS`;
`agent_class` checks that the class's `name` is the entry's.
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path
from typing import Any

from agents.base import AGENT_FILE, Agent, load_agent_files, make_env, read_meta
from offline_data.shared.errors import InputError

ENTRY_POINTS: dict[str, str] = {
    "ppo": "agents.online.sb3_agents:PPOAgent",
    "a2c": "agents.online.sb3_agents:A2CAgent",
    "dqn": "agents.online.sb3_agents:DQNAgent",
    "sac": "agents.online.sb3_agents:SACAgent",
    "td3": "agents.online.sb3_agents:TD3Agent",
    "deers": "agents.online.deers:DEERSAgent",
    "drr": "agents.online.drr:DRRAgent",
    "random": "agents.online.baselines.random_agent:RandomAgent",
    "popular": "agents.online.baselines.popular:PopularAgent",
    "oracle": "agents.online.baselines.oracle:OracleAgent",
    "planner": "agents.online.baselines.planner:PlannerAgent",
    "linucb": "agents.online.baselines.linucb:LinUCBAgent",
    "sim2rec": "agents.sim2rec.agent:Sim2RecAgent",
    # offline agents: fit(dataset, n_steps) on a recgym.offline.TrajectoryDataset
    "bc": "agents.offline.discrete:BCAgent",
    "bcq": "agents.offline.discrete:BCQAgent",
    "cql": "agents.offline.discrete:CQLAgent",
    "discrete_sac": "agents.offline.discrete:DiscreteSACAgent",
    "double_dqn": "agents.offline.discrete:DoubleDQNAgent",
    "iql": "agents.offline.iql:IQLAgent",
    "behaviour": "agents.offline.baselines:BehaviourAgent",
    "d3rlpy_dt": "agents.offline.d3rlpy_dt:DecisionTransformerAgent",
    "seqrec": "agents.offline.seqrec:SequentialRecommenderAgent",
    "dt4ier": "agents.offline.dt4ier.agent:DT4IERAgent",
    "dt": "agents.offline.dt4ier.agent:PlainDTAgent",
}
OFFLINE_AGENT_NAMES: tuple[str, ...] = ("bc", "bcq", "cql", "discrete_sac", "double_dqn",
                                        "iql", "behaviour", "d3rlpy_dt", "seqrec", "dt4ier",
                                        "dt")
"""Agents that learn from a logged dataset (`recgym offline`), not in an environment."""
AGENT_NAMES: tuple[str, ...] = tuple(n for n in ENTRY_POINTS if n not in OFFLINE_AGENT_NAMES)
"""Agents trained in an environment (`recgym train`)."""


def check_agent_name(name: str) -> str:
    """`name` if an agent is registered under it, else an `InputError` with a 'did you
    mean' (nothing is imported)."""
    if name not in ENTRY_POINTS:
        close = difflib.get_close_matches(name, ENTRY_POINTS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown agent {name!r}{hint} Known: {', '.join(ENTRY_POINTS)}")
    return name


def agent_class(name: str) -> type[Agent]:
    """The class registered under `name` (a 'did you mean' for unknown names)."""
    module, _, attribute = ENTRY_POINTS[check_agent_name(name)].partition(":")
    cls = getattr(importlib.import_module(module), attribute)
    if not (isinstance(cls, type) and issubclass(cls, Agent)) or cls.name != name:
        raise TypeError(f"{ENTRY_POINTS[name]} is not an Agent class named {name!r}")
    return cls


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
        env = make_env(env, getattr(config, "n_envs", 1),
                       dict(getattr(config, "env_kwargs", {}) or {}))
    return cls.create(env, config)


def load_agent(path: str | Path, env: Any = None) -> Agent:
    """Read an agent saved by `Agent.save` (weights read with `weights_only=True`). With
    `env` and a saved training state, training continues exactly where it stopped."""
    meta = read_meta(path)
    name = meta.get("agent")
    if not isinstance(name, str) or name not in ENTRY_POINTS:
        raise InputError(f"{Path(path) / AGENT_FILE}: unknown agent {name!r}; this recgym "
                         f"knows {', '.join(ENTRY_POINTS)}")
    return load_agent_files(agent_class(name), path, meta, env)
