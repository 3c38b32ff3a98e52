"""Resuming a run checks that its checkpoint was trained with the run's settings.

A checkpoint continues one training: the agent, its environment (`env`, `env_kwargs`,
`n_envs`: the saved environment state has that shape), its settings (`encoder`,
`agent_kwargs`, `seed`) and the users its metrics are measured on (`eval_users`,
`eval_seed`: every row of `metrics.csv` compares the same users) must be the ones it was
trained with (`MUST_MATCH`). The budget (`steps`), how often it is evaluated
(`eval_every`) and its label (`name`) may change on resume (`MAY_CHANGE`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.base import AGENT_FILE, read_meta
from agents.registry import agent_class
from agents.run_folder import AGENT_FOLDER
from agents.settings import config_from_dict, config_to_dict
from agents.train_config import TrainConfig, agent_settings, read_config
from offline_data.shared.errors import InputError, show
from recgym.runs import CONFIG_FILE
from recgym.spaces import ObsSpec

MUST_MATCH = ("agent", "env", "env_kwargs", "encoder", "seed", "n_envs", "agent_kwargs",
              "eval_users", "eval_seed")
MAY_CHANGE = ("steps", "eval_every", "name")


def check_resume(out: Path, config: Any, checkpoint: Path | None, *,
                 read: Callable[[Path], Any] = read_config,
                 may_change: tuple[str, ...] = MAY_CHANGE) -> None:
    """Refuse to resume `out` with `config` when the checkpoint to continue (or, before
    the first checkpoint, the run's `config.json`, read by `read`) was made with other
    settings; the error names the first mismatch, both values and what to do. For a
    `TrainConfig` the fields `MUST_MATCH` are compared; for other run configs every
    field but `may_change`."""
    must_match = (MUST_MATCH if isinstance(config, TrainConfig) else
                  tuple(k for k in config.to_dict() if k not in may_change))
    if checkpoint is None:
        recorded, where = read(out).to_dict(), f"{out / CONFIG_FILE}"
        mismatch = _first_mismatch(recorded, config.to_dict(), must_match)
    elif (checkpoint / CONFIG_FILE).is_file():
        recorded, where = read(checkpoint).to_dict(), f"checkpoint {checkpoint}"
        mismatch = _first_mismatch(recorded, config.to_dict(), must_match)
    else:  # written before checkpoints kept their config: what agent.json tells
        where = f"checkpoint {checkpoint}"
        mismatch = _agent_mismatch(checkpoint / AGENT_FOLDER, config)
    if mismatch is not None:
        name, was, now = mismatch
        fix = "remove it" if was is _ABSENT else f"set it back to {_show(was)}"
        raise InputError(
            f"cannot resume {out}: {name} is {_show(now)} in the run's config but "
            f"{_show(was)} in {where}; {fix} (in {out / CONFIG_FILE} or on the command line) "
            "to continue that training, or start a new run in another folder (only "
            f"{', '.join(may_change)} may change on resume)")


def check_spec(out: Path, checkpoint: Path, spec: ObsSpec) -> None:
    """Refuse a checkpoint whose agent was built for another environment than `spec`."""
    meta = read_meta(checkpoint / AGENT_FOLDER)
    saved = ObsSpec.from_dict(meta["spec"])
    if saved != spec:
        differ = [k for k, v in saved.to_dict().items() if spec.to_dict()[k] != v]
        raise InputError(
            f"cannot resume {out}: the agent in checkpoint {checkpoint} was built for another "
            f"environment ({', '.join(differ)} differ); set env and env_kwargs back to the "
            "ones it was trained with, or start a new run in another folder")


def _first_mismatch(recorded: dict[str, Any], config: dict[str, Any],
                    must_match: tuple[str, ...]) -> tuple[str, Any, Any] | None:
    for name in must_match:
        found = _difference(name, _json(recorded.get(name)), _json(config.get(name)))
        if found is not None:
            return found
    return None


def _agent_mismatch(agent_folder: Path, config: TrainConfig) -> tuple[str, Any, Any] | None:
    """The first difference between `config` and an agent folder's `agent.json` (its
    agent name, and every setting the run gives the agent; fields the saved config lacks
    take their defaults, as when it is loaded)."""
    meta = read_meta(agent_folder)
    if meta.get("agent") != config.agent:
        return "agent", meta.get("agent"), config.agent
    config_class = agent_class(config.agent).config_class
    saved = config_to_dict(config_from_dict(config_class, meta.get("config") or {},
                                            agent_folder / AGENT_FILE))
    for key, value in agent_settings(config).items():
        name = f"agent_kwargs[{key!r}]" if key in config.agent_kwargs else key
        found = _difference(name, _json(saved.get(key, _ABSENT)), _json(value))
        if found is not None:
            return found
    return None


def _difference(name: str, was: Any, now: Any) -> tuple[str, Any, Any] | None:
    """(name, recorded, given) of the first difference, looking into dicts by key."""
    if isinstance(was, dict) and isinstance(now, dict):
        for key in sorted(set(was) | set(now), key=str):
            found = _difference(f"{name}[{key!r}]", was.get(key, _ABSENT),
                                now.get(key, _ABSENT))
            if found is not None:
                return found
        return None
    return None if was == now else (name, was, now)


class _Absent:
    def __repr__(self) -> str:
        return "absent"


_ABSENT = _Absent()


def _json(value: Any) -> Any:
    """`value` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value, default=str))


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "absent"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return show(value)
