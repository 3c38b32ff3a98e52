"""The `recgym` Typer application and the option parsers its commands share."""

from __future__ import annotations

import json
from typing import Any

import typer

from offline_data import InputError

app = typer.Typer(
    name="recgym",
    help="Reinforcement-learning recommendation: logs, simulators, environments, agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def parse_pairs(text: str | None, sep: str, option: str) -> dict[str, str]:
    """Parse 'a=b,c=d' (or 'a:b,...') into a dict, naming the option on bad input.

    Empty parts (a trailing comma) are skipped; an empty name or value, or a name given
    twice, is an error.
    """
    if not text:
        return {}
    pairs: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if sep not in part:
            raise InputError(f"{option}: {part.strip()!r} is not of the form name{sep}value")
        key, value = (x.strip() for x in part.split(sep, 1))
        if not key or not value:
            raise InputError(f"{option}: {part.strip()!r} needs both a name and a value "
                             f"(name{sep}value)")
        if key in pairs:
            raise InputError(f"{option}: {key!r} is given more than once")
        pairs[key] = value
    return pairs


def parse_list(text: str | None, option: str) -> list[str] | None:
    """Parse 'a.csv,b.csv' into a list (None when the option was not given)."""
    if text is None:
        return None
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise InputError(f"{option}: give at least one name, e.g. {option} a.csv,b.csv")
    return items


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
