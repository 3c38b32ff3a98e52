"""`map_jobs`: the same jobs one after another in this process (`local`) or as trials on
Ray Tune (`ray`, the `recgym[ray]` extra): what the leaderboards' `--engine` chooses."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agents.sweep.engine import EngineOptions, Job
from offline_data.shared.errors import InputError

ENGINES = ("local", "ray")


def map_jobs(job: Job, items: Sequence[Any], *, engine: str, storage: Path, name: str,
             options: EngineOptions | None = None) -> list[dict[str, Any]]:
    """Run `job(item, report)` for every item; returns per item the last metrics it
    reported. On Ray a failed job's entry has `error`; locally its error is raised."""
    if engine == "local":
        found = []
        for item in items:
            last: dict[str, Any] = {}
            job(item, last.update)
            found.append(last)
        return found
    if engine == "ray":
        from agents.sweep.engine import run_jobs

        return run_jobs(job, items, storage=storage, name=name,
                        options=options or EngineOptions())
    raise InputError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """`--engine`, `--address` and `--max-concurrent` of a benchmark script."""
    parser.add_argument("--engine", choices=ENGINES, default="local",
                        help="run the jobs here one by one, or as trials on Ray Tune")
    parser.add_argument("--address", default=None,
                        help="--engine ray: a Ray cluster (default: start Ray here)")
    parser.add_argument("--max-concurrent", type=int, default=None,
                        help="--engine ray: jobs at a time (default: one per CPU)")


def script_jobs(job: Job, items: Sequence[Any], args: argparse.Namespace, storage: Path,
                describe: Callable[[Any], str]) -> list[dict[str, Any]]:
    """`map_jobs` with a benchmark script's engine options (`add_engine_options`); bad
    options and failed jobs (named by `describe(item)`) end the script with one line."""
    try:
        done = map_jobs(job, items, engine=args.engine, storage=storage, name="tune",
                        options=EngineOptions(args.address, args.max_concurrent))
    except InputError as error:
        raise SystemExit(f"error: {error}") from None
    failed = [f"{describe(item)}: {result['error']}"
              for item, result in zip(items, done, strict=True) if "error" in result]
    if failed:
        raise SystemExit("error: " + "; ".join(failed))
    return done
