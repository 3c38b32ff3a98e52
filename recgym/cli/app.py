"""The `recgym` Typer application and the option parsers its commands share."""

from __future__ import annotations

import json
from typing import Any

import typer

from offline_data import InputError
from offline_data.log_options import parse_list, parse_pairs

__all__ = ["app", "parse_json", "parse_list", "parse_pairs"]

app = typer.Typer(
    name="recgym",
    help="Reinforcement-learning recommendation: logs, simulators, environments, agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def parse_json(text: str | None, option: str) -> dict[str, Any]:
    """A JSON object from an option (e.g. --env-kwargs '{"slate_size": 3}')."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{option}: not valid JSON ({exc.msg} at character {exc.pos}); "
                         "write e.g. '{\"slate_size\": 3}'") from None
    if not isinstance(value, dict):
        raise InputError(f"{option}: expected a JSON object like '{{\"slate_size\": 3}}'")
    return value
