"""Online leaderboard: every demo agent x 3 seeds on the synthetic world.

Each agent trains with its demo budget (see `agents.demo.FULL`) for seeds 0, 1, 2 and is
evaluated on the same 500 users per seed. The table gives, per agent, the mean over seeds
of each metric and the 95% interval of the episode return over all evaluated users (1,500),
plus the wall time.

    python benchmarks/leaderboard_online.py [--seeds 3] [--users 500] [--json]
                                            [--out runs/leaderboard] [--agents ppo,dqn]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import pandas as pd

from agents.demo import FULL, TABLE_METRICS, train_and_evaluate
from offline_data import InputError
from offline_data.shared.atomic import replace_output_dir
from recgym.evaluate import summary_table

MARKER = "leaderboard.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--out", default="runs/leaderboard", help="folder for the runs")
    parser.add_argument("--agents", default=None, help="comma-separated subset")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    try:  # replace only a folder an earlier leaderboard wrote
        out = replace_output_dir(args.out, MARKER, {"seeds": args.seeds, "users": args.users})
    except InputError as error:
        raise SystemExit(f"error: {error}") from None
    chosen = [c for c in FULL if args.agents is None or c.agent in args.agents.split(",")]
    rows = []
    for contestant in chosen:
        started = time.perf_counter()
        episodes, means = [], []
        for seed in range(args.seeds):
            table = train_and_evaluate(contestant, out / f"{contestant.agent}-{seed}",
                                       seed=seed, quick=False, eval_users=100, env_kwargs={},
                                       progress=False, final_users=args.users)
            episodes.append(table.attrs["episodes"])
            means.append(table["mean"])
        pooled = summary_table(pd.concat(episodes).drop(columns="user_id"))
        seed_means = pd.DataFrame(means)
        row = {"agent": contestant.label, "steps": contestant.steps,
               "seconds_per_seed": round((time.perf_counter() - started) / args.seeds, 1)}
        for metric in TABLE_METRICS:
            if metric in seed_means:
                row[metric] = round(float(seed_means[metric].mean()), 4)
        row["total_return_seed_std"] = round(float(seed_means["total_return"].std()), 2)
        row["total_return_ci95"] = [round(float(pooled.loc["total_return", "ci95_lo"]), 2),
                                    round(float(pooled.loc["total_return", "ci95_hi"]), 2)]
        rows.append(row)
        if not args.json:
            print(json.dumps(row), flush=True)
    if args.json:
        print(json.dumps({"seeds": args.seeds, "users": args.users, "results": rows}))
        return
    frame = pd.DataFrame(rows).set_index("agent")
    print(frame.to_string())


if __name__ == "__main__":
    main()
