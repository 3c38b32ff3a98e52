"""Logs larger than memory: throughput and peak memory of `recgym data convert` and of one
streamed simulator fit epoch, for synthetic logs of growing size.

For each size (default 1M, 5M and 20M rows) a synthetic CSV log is generated on the fly
into a temporary folder (written chunk by chunk, never held whole; ~100 rows per user, in
time order, so every user's rows are spread over the whole file). It is converted with
`offline_data.convert.convert_csv` (default partitions and block size), then a simulator
is fitted to the converted folder with `epochs=1, aux_epochs=1` (the scan pass, one
training pass, one validation pass and the calibration pass) on one torch thread. Each
step runs in a fresh subprocess that reports its own peak resident memory
(`ru_maxrss`). Prints rows/s and peak MB per step and size, the growth of peak memory
from the smallest to the largest size, and what converting KuaiRand-27K (322 million
rows) would take at the measured rate; with `--kuairand DIR` (a KuaiRand folder such as
../shared/data/kuairand-pure) the 19-column KuaiRand format's own conversion rate too.

    python benchmarks/bench_large_logs.py [--sizes 1M,5M,20M] [--skip-fit] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

KUAIRAND_27K_ROWS = 322_278_385
ROOT = Path(__file__).resolve().parents[1]
CHUNK_ROWS = 500_000
ROWS_PER_USER = 100
SPAN_S = 3 * 86_400
SIGNALS = "click:binary,like:binary,watch_ratio:continuous"

CONVERT = """
import json, resource, sys, time
from offline_data.convert import convert_csv, convert_kuairand
kind, src, out = sys.argv[1:4]
start = time.perf_counter()
if kind == "kuairand":
    ds = convert_kuairand(src, out)
else:
    ds = convert_csv(src, out, signals=sys.argv[4])
seconds = time.perf_counter() - start
print(json.dumps({"rows": ds.n_interactions, "seconds": seconds,
                  "partitions": ds.n_partitions,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

FIT = """
import json, resource, sys, time
import torch
torch.set_num_threads(1)
from offline_data.partitioned import PartitionedLog
from simulators import fit
from simulators.sim_config import SimulatorConfig
ds = PartitionedLog(sys.argv[1])
start = time.perf_counter()
sim = fit(ds, SimulatorConfig(epochs=1, aux_epochs=1, progress=False, device="cpu"))
seconds = time.perf_counter() - start
print(json.dumps({"rows": ds.n_interactions, "seconds": seconds,
                  "val_loss": sim.meta.fit_report["response"]["val_loss"],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def parse_size(text: str) -> int:
    """'1M' -> 1_000_000, '500k' -> 500_000, '20000' -> 20_000."""
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def write_synthetic_csv(path: Path, rows: int, seed: int = 0) -> int:
    """Write a synthetic log of `rows` rows to `path`, chunk by chunk; returns its bytes."""
    rng = np.random.default_rng(seed)
    users = max(rows // ROWS_PER_USER, 1)
    items = max(min(rows // 20, 200_000), 10)
    start = 1_650_000_000
    with pa_csv.CSVWriter(str(path), pa.schema([
            ("user_id", pa.int64()), ("item_id", pa.int64()), ("timestamp", pa.int64()),
            ("click", pa.int8()), ("like", pa.int8()), ("watch_ratio", pa.float32())])) as out:
        for first in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - first)
            lo = start + SPAN_S * first // rows
            hi = start + SPAN_S * (first + n) // rows
            click = rng.random(n) < 0.3
            out.write_table(pa.table({
                "user_id": rng.integers(0, users, n) * 7919 + 11,
                "item_id": np.minimum(rng.zipf(1.3, n), items) + 1000,
                "timestamp": np.sort(rng.integers(lo, max(hi, lo + 1), n)),
                "click": click.astype(np.int8),
                "like": (click & (rng.random(n) < 0.15)).astype(np.int8),
                "watch_ratio": np.round(np.where(click, rng.gamma(2.0, 0.4, n), 0.0), 3)
                .astype(np.float32),
            }))
    return path.stat().st_size


def run_child(code: str, *args: str) -> dict:
    """Run `code` in a fresh Python process (this checkout first on the path) and return
    the JSON it prints last."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M,5M,20M", help="rows per log, e.g. 1M,5M,20M")
    parser.add_argument("--skip-fit", action="store_true", help="measure conversion only")
    parser.add_argument("--kuairand", type=Path, default=None,
                        help="a KuaiRand folder to measure the KuaiRand format's rate on")
    parser.add_argument("--tmp", type=Path, default=None, help="folder for the temporary logs")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    results: dict = {"sizes": [], "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(dir=args.tmp, prefix="recgym-bench-") as tmp:
        for rows in sizes:
            csv = Path(tmp) / f"log_{rows}.csv"
            started = time.perf_counter()
            size = write_synthetic_csv(csv, rows)
            generated = time.perf_counter() - started
            convert = run_child(CONVERT, "csv", str(csv), str(Path(tmp) / f"ds_{rows}"), SIGNALS)
            csv.unlink()
            entry = {"rows": rows, "csv_mb": round(size / 2**20, 1),
                     "generate_s": round(generated, 1), "convert": convert}
            if not args.skip_fit:
                entry["fit_epoch"] = run_child(FIT, str(Path(tmp) / f"ds_{rows}"))
            results["sizes"].append(entry)
            if not args.json:
                report_size(entry)
        if args.kuairand is not None:
            results["kuairand"] = run_child(CONVERT, "kuairand", str(args.kuairand),
                                            str(Path(tmp) / "kuairand"))
    summarise(results, print_text=not args.json)
    if args.json:
        print(json.dumps(results, indent=2))


def report_size(entry: dict) -> None:
    """Print one size's figures."""
    c = entry["convert"]
    line = (f"{entry['rows']:>12,} rows ({entry['csv_mb']:,.0f} MB CSV, generated in "
            f"{entry['generate_s']:.0f} s)  convert: {c['rows'] / c['seconds']:>9,.0f} rows/s "
            f"({c['seconds']:.1f} s, {c['partitions']} partitions), peak {c['peak_mb']:,.0f} MB")
    if "fit_epoch" in entry:
        f = entry["fit_epoch"]
        line += (f"  |  fit epoch: {f['rows'] / f['seconds']:>8,.0f} rows/s "
                 f"({f['seconds']:.1f} s), peak {f['peak_mb']:,.0f} MB")
    print(line, flush=True)


def summarise(results: dict, print_text: bool) -> None:
    """Add growth ratios and the KuaiRand-27K extrapolation to `results` (and print them)."""
    sizes = results["sizes"]
    if not sizes:
        return
    small, large = sizes[0], sizes[-1]
    summary: dict = {}
    for step in ("convert", "fit_epoch"):
        if step in small:
            summary[f"{step}_peak_growth"] = round(large[step]["peak_mb"]
                                                   / small[step]["peak_mb"], 3)
    rate = large["convert"]["rows"] / large["convert"]["seconds"]
    summary["kuairand_27k_convert_min"] = round(KUAIRAND_27K_ROWS / rate / 60, 1)
    if "kuairand" in results:
        k = results["kuairand"]
        summary["kuairand_format_rows_per_s"] = round(k["rows"] / k["seconds"])
        summary["kuairand_27k_convert_min_at_kuairand_rate"] = round(
            KUAIRAND_27K_ROWS / (k["rows"] / k["seconds"]) / 60, 1)
    if "fit_epoch" in large:
        fit_rate = large["fit_epoch"]["rows"] / large["fit_epoch"]["seconds"]
        summary["kuairand_27k_fit_epoch_h"] = round(KUAIRAND_27K_ROWS / fit_rate / 3600, 1)
    results["summary"] = summary
    if print_text:
        label = f"{small['rows'] / 1e6:g}M -> {large['rows'] / 1e6:g}M rows"
        for step in ("convert", "fit_epoch"):
            key = f"{step}_peak_growth"
            if key in summary:
                print(f"peak memory growth of {step.replace('_', ' ')}, {label}: "
                      f"{summary[key]:.2f}x")
        print(f"KuaiRand-27K ({KUAIRAND_27K_ROWS:,} rows) at {rate:,.0f} rows/s: convert in "
              f"about {summary['kuairand_27k_convert_min']:.0f} min")
        if "kuairand" in results:
            print(f"KuaiRand format (19 columns) converts at "
                  f"{summary['kuairand_format_rows_per_s']:,} rows/s: KuaiRand-27K in about "
                  f"{summary['kuairand_27k_convert_min_at_kuairand_rate']:.0f} min")
        if "kuairand_27k_fit_epoch_h" in summary:
            print(f"one streamed fit epoch of KuaiRand-27K: about "
                  f"{summary['kuairand_27k_fit_epoch_h']:.1f} h (one torch thread)")


if __name__ == "__main__":
    main()
