"""The planning oracle against the click-greedy oracle and random, on the same users.

Each agent is evaluated with `recgym.evaluate` (one episode per user, users drawn from
`--seed`, so every agent meets the same users); the table gives the mean episode return
with its 95% interval, the paired difference to the click-greedy oracle and to the
planner's own greedy first step (`candidates=1`: greedy on the expected combined reward,
no lookahead), and the wall and CPU seconds of the evaluation. `--planner` adds planner
settings as JSON objects (one row each).

    python benchmarks/planner_ceiling.py [--users 300 --seed 50000]
        [--planner '{"horizon": 16, "rollouts": 8}' ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

import recgym
from agents import make_agent
from recgym.evaluate import evaluate, t_interval

ENV_ID = "RecGym/Synthetic-v0"


def run(name: str, settings: dict[str, Any], users: int, seed: int) -> dict[str, Any]:
    """One evaluation: per-user returns, their mean and interval, seconds."""
    agent = make_agent(name, recgym.make_vec(ENV_ID, 2), **settings)
    wall, cpu = time.perf_counter(), time.process_time()
    table = evaluate(agent, ENV_ID, n_users=users, seed=seed)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    returns = table.attrs["episodes"]["total_return"].to_numpy()
    label = name + (f" {json.dumps(settings)}" if settings else "")
    mean, lo, hi = t_interval(returns)
    return {"agent": label, "return": mean, "ci95": [lo, hi], "wall_s": wall, "cpu_s": cpu,
            "returns": returns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--seed", type=int, default=50_000)
    parser.add_argument("--planner", action="append", default=[],
                        help="planner settings as a JSON object (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    agents = [("random", {}), ("oracle", {}), ("planner", {"candidates": 1}), ("planner", {})]
    agents += [("planner", json.loads(text)) for text in args.planner]
    rows = [run(name, settings, args.users, args.seed) for name, settings in agents]
    oracle, greedy = rows[1]["returns"], rows[2]["returns"]
    for row in rows:
        row["vs_oracle"] = list(t_interval(row["returns"] - oracle))
        row["vs_greedy"] = list(t_interval(row["returns"] - greedy))
        del row["returns"]
    if args.json:
        print(json.dumps({"users": args.users, "seed": args.seed, "results": rows}))
        return
    print(f"{ENV_ID}, {args.users} users, seed {args.seed}")
    print(f"{'agent':<44}{'return [95% CI]':>24}{'vs oracle':>24}{'vs greedy':>24}"
          f"{'wall s':>9}{'cpu s':>8}")

    def interval(values: list[float]) -> str:
        mean, lo, hi = values
        return "-" if not np.isfinite(lo) else f"{mean:.2f} [{lo:.2f}, {hi:.2f}]"

    for row in rows:
        print(f"{row['agent']:<44}{interval([row['return'], *row['ci95']]):>24}"
              f"{interval(row['vs_oracle']):>24}{interval(row['vs_greedy']):>24}"
              f"{row['wall_s']:>9.1f}{row['cpu_s']:>8.1f}")


if __name__ == "__main__":
    main()
