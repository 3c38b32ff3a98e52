"""Online leaderboard: every demo agent x 3 seeds on the synthetic world.

Each agent trains with its demo budget (see `agents.demo.FULL`) for seeds 0, 1, 2 and is
evaluated on the same 500 users per seed. The table gives, per agent, the mean over seeds
of each metric and the 95% interval of the episode return over all evaluated users (1,500),
plus the wall time. The planning oracle (`planner`, which reads the true user state and
plans for the combined reward) is the ceiling: every return is also given as a fraction of
its return.

    python benchmarks/leaderboard_online.py [--seeds 3] [--users 500] [--json]
                                            [--out runs/leaderboard] [--agents ppo,dqn]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from agents.demo import FULL, TABLE_METRICS, DemoAgent, train_and_evaluate
from agents.determinism import deterministic_torch
from offline_data import InputError
from offline_data.shared.atomic import replace_output_dir
from recgym.evaluate import summary_table

MARKER = "leaderboard.json"


PLANNER = DemoAgent("planner", "planner (ceiling)", 1)
"""The planning oracle: it reads the true user state and plans for the combined reward."""


def seeds_row(contestant: DemoAgent, out: Path, seeds: int, users: int) -> dict[str, Any]:
    """Train and evaluate one contestant for seeds 0..seeds-1 on `users` fresh users each:
    per metric the mean over seeds, the return's seed sd and pooled 95% interval, and
    the seconds per seed."""
    started = time.perf_counter()
    episodes, means = [], []
    for seed in range(seeds):
        table = train_and_evaluate(contestant, out / f"{contestant.agent}-{seed}", seed=seed,
                                   quick=False, eval_users=100, env_kwargs={},
                                   progress=False, final_users=users)
        episodes.append(table.attrs["episodes"])
        means.append(table["mean"])
    pooled = summary_table(pd.concat(episodes).drop(columns="user_id"))
    seed_means = pd.DataFrame(means)
    row: dict[str, Any] = {"agent": contestant.label, "steps": contestant.steps,
                           "seconds_per_seed": round((time.perf_counter() - started) / seeds,
                                                     1)}
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
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    deterministic_torch(1)  # as the demo: one thread, fixed CPU code paths
    try:  # replace only a folder an earlier leaderboard wrote
        out = replace_output_dir(args.out, MARKER, {"seeds": args.seeds, "users": args.users})
    except InputError as error:
        raise SystemExit(f"error: {error}") from None
    chosen = [c for c in [*FULL, PLANNER]
              if args.agents is None or c.agent in args.agents.split(",")]
    rows = []
    for contestant in chosen:
        row = seeds_row(contestant, out, args.seeds, args.users)
        rows.append(row)
        if not args.json:
            print(json.dumps(row), flush=True)
    add_fraction_of(rows, PLANNER.label)
    if args.json:
        print(json.dumps({"seeds": args.seeds, "users": args.users, "results": rows}))
        return
    frame = pd.DataFrame(rows).set_index("agent")
    print(frame.to_string())


if __name__ == "__main__":
    main()
