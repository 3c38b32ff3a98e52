"""Online leaderboard: every demo agent x 3 seeds on the synthetic world.

Each agent trains with its demo budget (see `agents.demo.FULL`) for seeds 0, 1, 2 and is
evaluated on the same 500 users per seed. The table gives, per agent, the mean over seeds
of each metric and the 95% interval of the episode return over all evaluated users (1,500),
plus the wall time. The planning oracle (`planner`, which reads the true user state and
plans for the combined reward) is the ceiling: every return is also given as a fraction of
its return.

    python benchmarks/leaderboard_online.py [--seeds 3] [--users 500] [--json]
                                            [--out runs/leaderboard] [--agents ppo,dqn]
                                            [--engine local|ray] [--address ray://host:10001]
                                            [--max-concurrent N]

With `--engine ray` the (agent, seed) runs are trials on Ray Tune (`recgym[ray]`): a Ray
started here on this machine's cores, or the cluster at `--address`.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.demo import FULL, TABLE_METRICS, DemoAgent, train_and_evaluate
from agents.determinism import deterministic_torch
from agents.sweep.engine import Report
from agents.sweep.jobs import add_engine_options, script_jobs
from offline_data import InputError
from offline_data.shared.atomic import replace_output_dir
from recgym.evaluate import summary_table

MARKER = "leaderboard.json"
EPISODES = "episodes.csv"


PLANNER = DemoAgent("planner", "planner (ceiling)", 1)
"""The planning oracle: it reads the true user state and plans for the combined reward."""


@dataclass(frozen=True)
class SeedJob:
    """Train and evaluate one (contestant, seed) into `out/<agent>-<seed>/` (a run folder
    plus `episodes.csv`, the final evaluation's users): a job for `map_jobs`."""

    out: Path
    users: int

    def __call__(self, item: tuple[DemoAgent, int], report: Report) -> None:
        """Run one seed and report its seconds."""
        contestant, seed = item
        deterministic_torch(1)  # as the demo: one thread, fixed CPU code paths
        started = time.perf_counter()
        folder = self.out / f"{contestant.agent}-{seed}"
        table = train_and_evaluate(contestant, folder, seed=seed, quick=False,
                                   eval_users=100, env_kwargs={}, progress=False,
                                   final_users=self.users)
        table.attrs["episodes"].to_csv(folder / EPISODES, index=False)
        report({"seconds": time.perf_counter() - started})


def seeds_row(contestant: DemoAgent, out: Path, seconds: list[float]) -> dict[str, Any]:
    """One contestant's row from its seeds' `episodes.csv`: per metric the mean over seeds,
    the return's seed sd and pooled 95% interval, and the seconds per seed."""
    episodes = [pd.read_csv(out / f"{contestant.agent}-{seed}" / EPISODES)
                for seed in range(len(seconds))]
    pooled = summary_table(pd.concat(episodes).drop(columns="user_id"))
    seed_means = pd.DataFrame([e.drop(columns="user_id").mean() for e in episodes])
    row: dict[str, Any] = {"agent": contestant.label, "steps": contestant.steps,
                           "seconds_per_seed": round(float(np.mean(seconds)), 1)}
    for metric in TABLE_METRICS:
        if metric in seed_means:
            row[metric] = round(float(seed_means[metric].mean()), 4)
    row["total_return_seed_std"] = round(float(seed_means["total_return"].std()), 2)
    row["total_return_ci95"] = [round(float(pooled.loc["total_return", "ci95_lo"]), 2),
                                round(float(pooled.loc["total_return", "ci95_hi"]), 2)]
    return row


def add_fraction_of(rows: list[dict[str, Any]], ceiling: str) -> None:
    """Give every row its return as a fraction of the `ceiling` row's (when present)."""
    best = next((r["total_return"] for r in rows if r["agent"] == ceiling), None)
    for row in rows:
        row["fraction_of_planner"] = (None if not best else
                                      round(row["total_return"] / best, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--out", default="runs/leaderboard", help="folder for the runs")
    parser.add_argument("--agents", default=None, help="comma-separated subset")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_engine_options(parser)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    deterministic_torch(1)  # as the demo: one thread, fixed CPU code paths
    try:  # replace only a folder an earlier leaderboard wrote
        out = replace_output_dir(args.out, MARKER, {"seeds": args.seeds, "users": args.users})
    except InputError as error:
        raise SystemExit(f"error: {error}") from None
    chosen = [c for c in [*FULL, PLANNER]
              if args.agents is None or c.agent in args.agents.split(",")]
    items = [(contestant, seed) for contestant in chosen for seed in range(args.seeds)]
    done = script_jobs(SeedJob(out, args.users), items, args, out,
                       describe=lambda item: f"{item[0].agent} seed {item[1]}")
    rows = []
    for contestant in chosen:
        seconds = [r["seconds"] for (c, _), r in zip(items, done, strict=True)
                   if c == contestant]
        rows.append(seeds_row(contestant, out, seconds))
        if not args.json:
            print(json.dumps(rows[-1]), flush=True)
    add_fraction_of(rows, PLANNER.label)
    if args.json:
        print(json.dumps({"seeds": args.seeds, "users": args.users, "results": rows}))
        return
    frame = pd.DataFrame(rows).set_index("agent")
    print(frame.to_string())


if __name__ == "__main__":
    main()
