"""Loading throughput: rows per second for KuaiRand-style, generic CSV and Parquet logs.

Writes a synthetic KuaiRand-layout log of `--rows` rows (default 1,000,000) to a temporary
folder, loads it with `load_kuairand`, `load_csv` and `load_parquet`, and also times the real
samples in ../shared/data when they are there. Prints a table, or JSON with `--json`.

    python benchmarks/bench_loading.py [--rows 1000000] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from offline_data import load_csv, load_kuairand, load_movielens, load_parquet

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SIGNALS = ["is_click", "is_like", "is_follow", "is_comment", "is_forward", "is_hate", "long_view"]


def kuairand_like(rows: int, seed: int = 0) -> pd.DataFrame:
    """A KuaiRand-layout frame (19 official columns) of random interactions."""
    rng = np.random.default_rng(seed)
    time_ms = np.sort(1_650_000_000_000 + rng.integers(0, 14 * 86_400_000, rows))
    frame = {
        "user_id": rng.integers(0, 27_000, rows),
        "video_id": rng.integers(0, 7_500, rows),
        "date": 20220425 + rng.integers(0, 5, rows),
        "hourmin": rng.integers(0, 2400, rows),
        "time_ms": time_ms,
    }
    for name, rate in zip(SIGNALS, (0.44, 0.02, 0.001, 0.002, 0.001, 0.001, 0.3), strict=True):
        frame[name] = (rng.random(rows) < rate).astype(np.int64)
    frame["play_time_ms"] = rng.integers(0, 60_000, rows)
    frame["duration_ms"] = rng.integers(0, 120_000, rows)
    for name in ("profile_stay_time", "comment_stay_time", "is_profile_enter", "is_rand"):
        frame[name] = np.zeros(rows, dtype=np.int64)
    frame["tab"] = rng.integers(0, 15, rows)
    return pd.DataFrame(frame)


def timed(label: str, rows: int, load) -> dict:
    start = time.perf_counter()
    log = load()
    seconds = time.perf_counter() - start
    return {"case": label, "rows": rows, "kept": log.n_interactions, "seconds": round(seconds, 3),
            "rows_per_s": round(rows / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the synthetic log")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "kuairand"
        folder.mkdir()
        frame = kuairand_like(args.rows)
        frame.to_csv(folder / "log_standard_4_22_to_5_08_pure.csv", index=False)
        results.append(timed("load_kuairand (synthetic CSV)", args.rows,
                             lambda: load_kuairand(folder, features=False)))
        columns = {"item_id": "video_id", "timestamp": "time_ms"}
        results.append(timed(
            "load_csv (same file, 7 signals)", args.rows,
            lambda: load_csv(folder / "log_standard_4_22_to_5_08_pure.csv", columns=columns,
                             signals={s: "binary" for s in SIGNALS}, time_unit="ms")))
        frame.to_parquet(Path(tmp) / "log.parquet")
        results.append(timed(
            "load_parquet (same rows)", args.rows,
            lambda: load_parquet(Path(tmp) / "log.parquet", columns=columns,
                                 signals={s: "binary" for s in SIGNALS}, time_unit="ms")))
    if (SHARED / "kuairand-pure").is_dir():
        results.append(timed("load_kuairand (real KuaiRand-Pure sample)", 228_329,
                             lambda: load_kuairand(SHARED / "kuairand-pure")))
    if (SHARED / "movielens-100k").is_dir():
        results.append(timed("load_movielens (real ML-100K)", 100_000,
                             lambda: load_movielens(SHARED / "movielens-100k")))

    if args.json:
        print(json.dumps({"results": results}))
        return
    print(f"{'case':<44} {'rows':>10} {'seconds':>8} {'rows/s':>12}")
    for r in results:
        print(f"{r['case']:<44} {r['rows']:>10,} {r['seconds']:>8.2f} {r['rows_per_s']:>12,}")


if __name__ == "__main__":
    main()
