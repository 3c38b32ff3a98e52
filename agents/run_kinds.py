"""Run folders of both kinds, online (`recgym train`) and offline (`recgym offline`,
`"kind": "offline"` in `config.json`): what commands that take any run need of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.offline_runs.config import is_offline_config, offline_config_from
from agents.offline_runs.data import evaluation_env
from agents.train_config import read_config
from offline_data.shared.jsonfile import read_json_object
from recgym.runs import CONFIG_FILE


def run_environment(folder: Path) -> tuple[str, dict[str, Any]]:
    """The environment id and arguments a run's agent is evaluated in (for an offline run:
    the synthetic world of its log, or the simulator fitted to its training users)."""
    data = read_json_object(folder / CONFIG_FILE, hint="the run cannot be read",
                            missing=f"{folder}: no {CONFIG_FILE}; is it a run folder?")
    if is_offline_config(data):
        return evaluation_env(offline_config_from(data, folder), folder)
    config = read_config(folder)
    return config.env, dict(config.env_kwargs)
