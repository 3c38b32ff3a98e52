"""Immediate vs long-term engagement of the behaviour policies in the synthetic world.

Each policy serves the same users for `--sessions` sessions; the table shows that the
click-greedy oracle has the best CTR but shorter sessions and longer return gaps than the
diversity-aware policy.

    python benchmarks/world_conflict.py [--users 2000 --sessions 5 --seed 0] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from offline_data.shared.units import HOUR_S
from simulators import SyntheticWorld, WorldConfig, rollout
from simulators.policies import POLICIES


def measure(world: SyntheticWorld, policy: str, users: int, sessions: int, seed: int) -> dict:
    """CTR, like rate, watch ratio, session length, return gap and clicks per user."""
    start = time.perf_counter()
    run = rollout(world, policy, np.arange(users), rng=np.random.default_rng(seed),
                  max_sessions=sessions)
    fb = run.feedback
    return {
        "policy": policy,
        "ctr": round(float(fb["click"].mean()), 4),
        "like_rate": round(float(fb["like"].mean()), 4),
        "watch_ratio": round(float(fb["watch_ratio"].mean()), 4),
        "session_length": round(float(run.session_length.mean()), 2),
        "return_gap_h": round(float(run.session_gap_s.mean() / HOUR_S), 2),
        "clicks_per_user": round(float(fb["click"].sum() / users), 2),
        "user_steps_per_s": round(len(run.user) / (time.perf_counter() - start)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    world = SyntheticWorld(WorldConfig(n_users=args.users), seed=args.seed)
    rows = [measure(world, name, args.users, args.sessions, args.seed) for name in POLICIES]
    if args.json:
        print(json.dumps({"results": rows}))
        return
    keys = [k for k in rows[0] if k != "policy"]
    print(f"{'policy':<16}" + "".join(f"{k:>17}" for k in keys))
    for row in rows:
        print(f"{row['policy']:<16}" + "".join(f"{row[k]:>17,}" for k in keys))


if __name__ == "__main__":
    main()
