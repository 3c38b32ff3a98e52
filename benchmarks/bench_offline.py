"""Offline datasets at scale: KuaiRand-Pure sample -> episodes, Parquet, exports, and the
behaviour model; plus the behaviour model against recorded propensities (synthetic).

Each case runs in a fresh Python process, which reports its wall times and its peak
resident memory (ru_maxrss), so one case's memory never counts for another.

    python benchmarks/bench_offline.py [--data ../shared/data/kuairand-pure]
        [--behaviour] [--exports] [--synthetic-users 1000] [--threads 1] [--json]

Cases: `build` (load the log, build the dataset, write and read it as Parquet);
`exports` (Minari and d3rlpy, with --exports); `behaviour` (fit the behaviour model on
the KuaiRand dataset, with --behaviour); `synthetic` (a softmax log of the synthetic
world, which records its propensities: fitted against recorded, with --synthetic-users).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def kuairand_dataset(path: Path) -> tuple[Any, dict[str, float]]:
    """The KuaiRand dataset and the load / build times."""
    from offline_data import load_kuairand
    from recgym.offline import episodes_from_log

    start = time.perf_counter()
    log = load_kuairand(path)
    loaded = time.perf_counter()
    data = episodes_from_log(log)
    built = time.perf_counter()
    return data, {"rows": log.n_interactions, "load_s": loaded - start,
                  "build_s": built - loaded}


def case_build(path: Path, _: argparse.Namespace) -> dict[str, Any]:
    from recgym.offline import TrajectoryDataset

    start = time.perf_counter()
    data, times = kuairand_dataset(path)
    total = time.perf_counter() - start
    rss = peak_rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        data.to_parquet(Path(tmp) / "ds")
        t1 = time.perf_counter()
        back = TrajectoryDataset.from_parquet(Path(tmp) / "ds")
        t2 = time.perf_counter()
        size = sum(p.stat().st_size for p in (Path(tmp) / "ds").iterdir())
    assert back.n_steps == data.n_steps
    return {**times, "load_and_build_s": total, "peak_rss_mb_build": rss,
            "steps": data.n_steps, "episodes": data.n_episodes,
            "parquet_write_s": t1 - t0, "parquet_read_s": t2 - t1,
            "parquet_mb": size / 2**20, "peak_rss_mb": peak_rss_mb()}


def case_exports(path: Path, _: argparse.Namespace) -> dict[str, Any]:
    from recgym.offline import export_dataset

    data, _times = kuairand_dataset(path)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("d3rlpy", "minari"):
            start = time.perf_counter()
            export_dataset(data, Path(tmp) / fmt, fmt)
            out[f"{fmt}_write_s"] = time.perf_counter() - start
            out[f"{fmt}_mb"] = sum(p.stat().st_size for p in (Path(tmp) / fmt).iterdir()
                                   if p.is_file()) / 2**20
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def case_behaviour(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    from recgym.offline import BehaviourConfig, fit_behaviour

    data, _times = kuairand_dataset(path)
    start = time.perf_counter()
    fitted, _ = fit_behaviour(data, BehaviourConfig(encoder=args.encoder,
                                                    num_threads=args.threads))
    seconds = time.perf_counter() - start
    report = fitted.behaviour_report
    return {"fit_and_apply_s": seconds, "fit": report["fit"], "heldout": _short(
        report["heldout"]), "train_sample": _short(report["train_sample"]),
        "baselines": report["baselines"], "temperature": report["model"]["temperature"],
        "peak_rss_mb": peak_rss_mb()}


def case_synthetic(_: Path, args: argparse.Namespace) -> dict[str, Any]:
    from recgym.offline import BehaviourConfig, episodes_from_log, fit_behaviour
    from simulators import SyntheticWorld, WorldConfig

    world = SyntheticWorld(WorldConfig(), seed=0)
    log = world.generate_log("softmax", n_users=args.synthetic_users, n_days=7, seed=0)
    data = episodes_from_log(log, simulator=world)
    start = time.perf_counter()
    fitted, _ = fit_behaviour(data, BehaviourConfig(encoder=args.encoder,
                                                    num_threads=args.threads))
    report = fitted.behaviour_report
    return {"steps": data.n_steps, "episodes": data.n_episodes,
            "fit_and_apply_s": time.perf_counter() - start, "fit": report["fit"],
            "heldout": _short(report["heldout"]), "baselines": report["baselines"],
            "vs_recorded": report["vs_recorded"],
            "vs_recorded_heldout": report["vs_recorded_heldout"],
            "peak_rss_mb": peak_rss_mb()}


def _short(metrics: dict[str, Any]) -> dict[str, Any]:
    return {"steps": metrics["steps"], "logloss": metrics["logloss"],
            "top1": metrics["top1_accuracy"], "top10": metrics["top10_accuracy"],
            "ece_top": metrics["top_label"]["ece"],
            "ece_top_noise": metrics["top_label"]["ece_noise"],
            "ece_pair": metrics["pairwise"]["ece"],
            "ece_pair_noise": metrics["pairwise"]["ece_noise"]}


CASES = {"build": case_build, "exports": case_exports, "behaviour": case_behaviour,
         "synthetic": case_synthetic}


def run_child(case: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one case in a fresh interpreter and return its JSON."""
    argv = [sys.executable, __file__, "--child", case, "--data", str(args.data),
            "--encoder", args.encoder, "--synthetic-users", str(args.synthetic_users)]
    if args.threads is not None:
        argv += ["--threads", str(args.threads)]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    if done.returncode:
        raise SystemExit(f"case {case} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "kuairand-pure")
    parser.add_argument("--behaviour", action="store_true", help="fit the behaviour model")
    parser.add_argument("--exports", action="store_true", help="time Minari and d3rlpy")
    parser.add_argument("--synthetic-users", type=int, default=0,
                        help="users of the synthetic softmax log (0: skip)")
    parser.add_argument("--encoder", default="drr_ave")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (fits)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.child:
        print(json.dumps(CASES[args.child](args.data, args)))
        return
    results: dict[str, Any] = {}
    if args.data.is_dir():
        results["build"] = run_child("build", args)
        if args.exports:
            results["exports"] = run_child("exports", args)
        if args.behaviour:
            results["behaviour"] = run_child("behaviour", args)
    if args.synthetic_users:
        results["synthetic"] = run_child("synthetic", args)
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print_tables(results)


def print_tables(results: dict[str, Any]) -> None:
    """Markdown tables of the figures."""
    rows = []
    if "build" in results:
        b = results["build"]
        rows += [
            ("load_kuairand", f"{b['rows']:,} rows", b["load_s"], None),
            ("episodes_from_log", f"{b['steps']:,} steps, {b['episodes']:,} episodes",
             b["build_s"], None),
            ("load + build (fresh process)", "", b["load_and_build_s"],
             b["peak_rss_mb_build"]),
            ("to_parquet", f"{b['parquet_mb']:.0f} MiB", b["parquet_write_s"], None),
            ("from_parquet", "", b["parquet_read_s"], b["peak_rss_mb"])]
    if "exports" in results:
        e = results["exports"]
        rows += [("export d3rlpy (h5)", f"{e['d3rlpy_mb']:.0f} MiB", e["d3rlpy_write_s"], None),
                 ("export minari (hdf5)", f"{e['minari_mb']:.0f} MiB", e["minari_write_s"],
                  e["peak_rss_mb"])]
    for key, label in (("behaviour", "behaviour model (KuaiRand)"),
                       ("synthetic", "behaviour model (synthetic)")):
        if key in results:
            r = results[key]
            rows.append((label, f"{r['fit']['epochs_run']} epochs, {r['fit']['train_steps']:,}"
                         " training steps", r["fit_and_apply_s"], r["peak_rss_mb"]))
    if rows:
        print("| case | size | seconds | peak RSS (MiB) |\n|---|---|---|---|")
        for name, size, seconds, rss in rows:
            print(f"| {name} | {size} | {seconds:.2f} | {'' if rss is None else f'{rss:,.0f}'} |")
    for key in ("behaviour", "synthetic"):
        if key in results:
            r = results[key]
            h, pop = r["heldout"], r["baselines"]["popularity"]
            print(f"\n{key}: held-out log-loss {h['logloss']:.3f} (popularity "
                  f"{pop['logloss']:.3f}, uniform {r['baselines']['uniform']['logloss']:.3f}), "
                  f"top-1 {h['top1']:.3f}, top-10 {h['top10']:.3f} (popularity "
                  f"{pop['top10_accuracy']:.3f}), top-label ECE {h['ece_top']:.4f} (noise "
                  f"{h['ece_top_noise']:.4f}), pairwise ECE {h['ece_pair']:.4f} (noise "
                  f"{h['ece_pair_noise']:.4f})")
    if "synthetic" in results:
        print("\n| fitted vs recorded | steps | r(log p) | Spearman | q05 | q25 | median | "
              "q75 | q95 | within 2x | mean recorded/fitted | log-loss fitted / recorded |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for part in ("vs_recorded", "vs_recorded_heldout"):
            c = results["synthetic"][part]
            q = c["ratio_quantiles"]
            print(f"| {'all steps' if part == 'vs_recorded' else 'held-out episodes'} | "
                  f"{c['steps']:,} | {c['pearson_log']:.3f} | {c['spearman']:.3f} | "
                  f"{q['q05']:.2f} | {q['q25']:.2f} | {q['q50']:.2f} | {q['q75']:.2f} | "
                  f"{q['q95']:.2f} | {c['within_2x']:.2f} | "
                  f"{c['mean_recorded_over_fitted']:.2f} | {c['logloss_fitted']:.3f} / "
                  f"{c['logloss_recorded']:.3f} |")


if __name__ == "__main__":
    main()
