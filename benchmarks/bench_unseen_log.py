"""Fidelity on a KuaiRand log the defaults were not tuned on: a seeded subset of users.

Draws `--users` users with at least `--min-rows` rows from a KuaiRand folder, writes their
rows (and the feature tables) as a KuaiRand folder of their own in a temporary directory,
loads it as any log and runs `fit_with_fidelity` on it: held-out AUC, log-loss and ECE per
binary signal before and after calibration, beside the popularity and user-item baselines,
and session length and return gap against the log. Prints the `recgym fit-sim` report.

    python benchmarks/bench_unseen_log.py --data ../shared/data/kuairand-pure \\
        --users 1400 --min-rows 20 --seed 1 [--out DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from offline_data import load_kuairand
from recgym.report import fidelity_text
from simulators import SimulatorConfig, fit_with_fidelity


def user_subset(source: Path, target: Path, users: int, min_rows: int, seed: int) -> int:
    """Write the rows of `users` random users (with >= `min_rows` rows) of the KuaiRand
    folder `source` into `target` under the same file names; returns the rows written."""
    logs = {f.name: pd.read_csv(f) for f in sorted(source.glob("log_*.csv"))
            if "smoke" not in f.name}
    if not logs:
        raise SystemExit(f"{source}: no log_*.csv files; pass a KuaiRand folder")
    counts = pd.concat(logs.values()).groupby("user_id").size()
    pool = counts.index[counts >= min_rows].to_numpy()
    if len(pool) < users:
        raise SystemExit(f"only {len(pool)} users have >= {min_rows} rows; ask for fewer")
    chosen = np.random.default_rng(seed).choice(pool, users, replace=False)
    rows = 0
    for name, frame in logs.items():
        part = frame[frame["user_id"].isin(chosen)]
        part.to_csv(target / name, index=False)
        rows += len(part)
    for features in source.glob("*features*.csv"):
        table = pd.read_csv(features)
        if "user_id" in table.columns:
            table = table[table["user_id"].isin(chosen)]
        table.to_csv(target / features.name, index=False)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a KuaiRand folder")
    parser.add_argument("--users", type=int, default=1400)
    parser.add_argument("--min-rows", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1, help="seed of the user draw")
    parser.add_argument("--fit-seed", type=int, default=0)
    parser.add_argument("--out", help="also save the simulator, fidelity.json and .png here")
    parser.add_argument("--json", action="store_true", help="print fidelity.json instead")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="recgym-unseen-"))
    folder = scratch / f"kuairand-{args.users}-users-seed-{args.seed}"  # names the log
    folder.mkdir()
    try:
        rows = user_subset(Path(args.data), folder, args.users, args.min_rows, args.seed)
        log = load_kuairand(folder)
        started = time.perf_counter()
        result = fit_with_fidelity(log, SimulatorConfig(progress=False, seed=args.fit_seed),
                                   seed=args.fit_seed)
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.out:
        result.save(args.out, overwrite=True)
    if args.json:
        print(json.dumps(result.fidelity, indent=2))
        return
    print(f"user subset: {args.users} users with >= {args.min_rows} rows (seed {args.seed}), "
          f"{rows:,} rows; fit and measurement {seconds:.0f} s")
    print(fidelity_text(result.fidelity))


if __name__ == "__main__":
    main()
