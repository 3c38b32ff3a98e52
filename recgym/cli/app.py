"""The `recgym` Typer application and the option parsers its commands share."""

from __future__ import annotations

import json
from typing import Any

import typer

from offline_data import InputError
from offline_data.log_options import parse_list, parse_pairs

__all__ = ["app", "parse_json", "parse_list", "parse_pairs", "parse_reward_weights"]

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


def parse_reward_weights(text: str | None) -> dict[str, float] | None:
    """`--reward-weights click=1,retention=5` as numbers (None when not given); which
    names a log has is checked where the log is read."""
    pairs = parse_pairs(text, "=", "--reward-weights")
    if not pairs:
        return None
    weights: dict[str, float] = {}
    for key, value in pairs.items():
        try:
            weights[key] = float(value)
        except ValueError:
            raise InputError(f"--reward-weights: the weight of {key!r} must be a number, got "
                             f"{value!r}") from None
    return weights
