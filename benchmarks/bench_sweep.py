"""Sweep overhead and speed-up on Ray Tune: 8 short trials run plainly in this process (no
Ray), on a local Ray with 1 worker, and with 2 workers.

Prints the wall time of each, Ray's start-up time, the per-trial overhead Ray adds (1 worker
against the plain loop, start-up excluded) and the speed-up of 2 workers over 1. Each trial
is an ordinary `recgym train` run (A2C on RecGym/Synthetic-v0, one torch thread).

    python benchmarks/bench_sweep.py [--trials 8] [--steps 4000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from agents.sweep import EngineOptions, SweepConfig, plan_trials, run_sweep
from agents.sweep.engine import start_ray, stop_ray
from agents.sweep.trial import TrialJob


def sweep_of(trials: int, steps: int) -> SweepConfig:
    """`trials` A2C runs that differ only in their seed."""
    return SweepConfig(fixed={"agent": "a2c", "steps": steps, "eval_every": steps // 2,
                              "eval_users": 20, "n_envs": 4},
                       grid={"seed": list(range(trials))})


def plain_seconds(config: SweepConfig, folder: Path) -> float:
    """The trials one after another in this process, without Ray."""
    job = TrialJob(config.kind, folder)
    started = time.perf_counter()
    for trial in plan_trials(config, folder):
        job(trial, lambda _: None)
    return time.perf_counter() - started


def ray_seconds(config: SweepConfig, folder: Path, workers: int) -> tuple[float, float]:
    """(start-up, sweep) seconds on a local Ray running `workers` trials at a time."""
    started = time.perf_counter()
    start_ray(EngineOptions())
    startup = time.perf_counter() - started
    started = time.perf_counter()
    run_sweep(config, folder, options=EngineOptions(max_concurrent=workers))
    seconds = time.perf_counter() - started
    stop_ray()
    return startup, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4000, help="environment steps per trial")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    config = sweep_of(args.trials, args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        plain = plain_seconds(config, Path(tmp) / "plain")
        startup1, one = ray_seconds(config, Path(tmp) / "one", 1)
        startup2, two = ray_seconds(config, Path(tmp) / "two", 2)
    result: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "trials": args.trials, "steps_per_trial": args.steps,
        "plain_s": round(plain, 1), "ray_1_worker_s": round(one, 1),
        "ray_2_workers_s": round(two, 1),
        "ray_startup_s": round((startup1 + startup2) / 2, 1),
        "overhead_per_trial_s": round((one - plain) / args.trials, 2),
        "speedup_2_over_1": round(one / two, 2),
    }
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
