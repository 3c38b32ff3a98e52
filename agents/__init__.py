"""Agents: online (stable-baselines3, DEERS, DRR), baselines, offline (d3rlpy, DT4IER).

The top layer: it may import `recgym`, `simulators` and `offline_data`. Every agent has
`fit(env, total_steps, callbacks)`, `predict(obs, deterministic)`, `save(path)` and is
read back with `load_agent(path)`; `make_agent(name, env, config)` builds one by name.
"""

from agents.base import Agent
from agents.registry import AGENT_NAMES, load_agent, make_agent

__all__ = ["AGENT_NAMES", "Agent", "load_agent", "make_agent"]
