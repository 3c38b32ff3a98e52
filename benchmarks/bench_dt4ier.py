"""DT4IER's cost: sessions built from the KuaiRand-Pure sample, training time per 100
gradient steps and peak memory, beside d3rlpy's DiscreteDecisionTransformer on the same
log (the peer, timed in the same run: these machines vary 2-3x from day to day); and the
smoke configuration the tests use (100 synthetic users) trained end to end.

Each case runs in a fresh Python process, which reports its wall times and its peak
resident memory (ru_maxrss), so one case's memory never counts for another.

    python benchmarks/bench_dt4ier.py [--data ../shared/data/kuairand-pure] [--steps 200]
        [--threads 2] [--device auto] [--cases kuairand,peer,smoke] [--json]

With a GPU (`--device cuda`, or auto when one is present) the full configuration trains
there; nothing requires one.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ROOT = Path(__file__).resolve().parents[1]
SMOKE = {"embed_dim": 32, "heads": 4, "list_size": 5, "history": 10, "context": 8,
         "reward_net_steps": 50, "batch_size": 16}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def kuairand_episodes(path: Path) -> tuple[Any, dict[str, float]]:
    """The KuaiRand-Pure episodes (observations from the log itself) and their build
    times."""
    from offline_data import load_kuairand
    from recgym.offline import episodes_from_log

    start = time.perf_counter()
    log = load_kuairand(path)
    data = episodes_from_log(log)
    return data, {"rows": log.n_interactions, "episodes_s": time.perf_counter() - start}


def timed_fit(agent: Any, data: Any, steps: int) -> float:
    """Seconds per 100 gradient steps (after 5 warm-up steps)."""
    agent.fit(data, 5)
    start = time.perf_counter()
    agent.fit(data, steps)
    return (time.perf_counter() - start) / steps * 100


def case_kuairand(args: argparse.Namespace) -> dict[str, Any]:
    from agents.registry import make_agent
    from recgym.offline import sessions_of

    data, times = kuairand_episodes(Path(args.data))
    start = time.perf_counter()
    sessions = sessions_of(data, history=30, list_size=10)
    times["sessions_s"] = time.perf_counter() - start
    agent = make_agent("dt4ier", data, device=args.device)
    return {**times, "steps": data.n_steps, "sessions": sessions.n_sessions,
            "episodes": sessions.n_episodes, "items": data.spec.n_items,
            "device": agent.device, "s_per_100_steps": timed_fit(agent, data, args.steps),
            "peak_rss_mb": peak_rss_mb()}


def case_peer(args: argparse.Namespace) -> dict[str, Any]:
    from agents.registry import make_agent

    data, times = kuairand_episodes(Path(args.data))
    device = "auto" if args.device == "auto" else args.device
    agent = make_agent("d3rlpy_dt", data, device=device, batch_size=32)
    return {**times, "s_per_100_steps": timed_fit(agent, data, args.steps),
            "peak_rss_mb": peak_rss_mb()}


def case_smoke(args: argparse.Namespace) -> dict[str, Any]:
    import tempfile

    from agents.offline_runs import OfflineRunConfig
    from agents.offline_runs.data import prepare
    from agents.registry import make_agent

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        data = prepare(OfflineRunConfig(users=100), Path(folder), progress=False)
    built = time.perf_counter()
    agent = make_agent("dt4ier", data.train, **SMOKE)
    agent.fit(data.train, 400)
    return {"data_s": built - start, "train_400_steps_s": time.perf_counter() - built,
            "peak_rss_mb": peak_rss_mb()}


CASES = {"kuairand": case_kuairand, "peer": case_peer, "smoke": case_smoke}


def main() -> None:
    """Run each case in its own process and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED / "kuairand-pure"))
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cases", default="kuairand,peer,smoke")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(CASES[args.case](args)))
        return
    results = {}
    for case in args.cases.split(","):
        if case in ("kuairand", "peer") and not Path(args.data).exists():
            print(f"skip {case}: {args.data} not found (put ../shared/data beside the repo)")
            continue
        command = [sys.executable, __file__, "--case", case, "--data", args.data,
                   "--steps", str(args.steps), "--threads", str(args.threads),
                   "--device", args.device]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
        if done.returncode:
            print(f"{case} failed:\n{done.stderr[-2000:]}")
            continue
        results[case] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{case}: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in results[case].items()), flush=True)
    if "kuairand" in results and "peer" in results:
        ratio = results["kuairand"]["s_per_100_steps"] / results["peer"]["s_per_100_steps"]
        print(f"DT4IER step time / d3rlpy DiscreteDecisionTransformer step time: {ratio:.2f}")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
