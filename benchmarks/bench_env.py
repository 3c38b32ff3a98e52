"""Environment throughput: user-steps per second with a random policy, as ratios to RecSim.

`RecGym/Synthetic-v0` and `RecGym/Logged-v0` (a simulator fitted to a synthetic log), each
as a single environment from `gym.make` (with its wrappers; resets included in the time)
and as native vector environments of 64, 1024 and 8192 users. When RecSim's venv exists
(`~/.cache/recsim-venv`, see `../shared/bench/README.md`), RecSim's `interest_evolution`
single environment (`../shared/bench/recsim_throughput.py`) is timed in the same run: each
round times RecSim, then every recgym case, and the medians over the rounds are printed
with their ratio to RecSim's. These machines are shared and noisy, so only ratios measured
side by side mean much.

    python benchmarks/bench_env.py [--json] [--seconds 2] [--repeats 3] [--no-recsim]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import recgym
from recgym.envs.base import rec_env
from simulators import SimulatorConfig, fit, synthetic_log

SIZES = (64, 1024, 8192)
RECSIM_PYTHON = Path(os.environ.get("RECSIM_PYTHON",
                                    Path.home() / ".cache" / "recsim-venv" / "bin" / "python"))
RECSIM_SCRIPT = Path(os.environ.get(
    "RECSIM_SCRIPT", Path(__file__).resolve().parents[2] / "shared" / "bench"
    / "recsim_throughput.py"))


def single_env(env_id: str, kwargs: dict[str, Any], seconds: float) -> float:
    """User-steps per second of `gym.make(env_id)` (wrappers and resets included)."""
    env = gym.make(env_id, **kwargs)
    n_items = rec_env(env, "bench_env").core.n_items
    actions = [int(a) for a in np.random.default_rng(0).integers(n_items, size=1 << 16)]
    env.reset(seed=0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            _, _, term, trunc, _ = env.step(actions[steps & 0xFFFF])
            steps += 1
            if term or trunc:
                env.reset()
    return steps / (time.perf_counter() - start)


def vector_env(env_id: str, kwargs: dict[str, Any], n: int, seconds: float) -> float:
    """User-steps per second of `recgym.make_vec(env_id, n)`."""
    env = recgym.make_vec(env_id, n, **kwargs)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    n_items = env.core.n_items
    env.step(rng.integers(n_items, size=n))  # warm up
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or steps < 3:
        env.step(rng.integers(n_items, size=n))
        steps += 1
    return steps * n / (time.perf_counter() - start)


def recsim_steps_per_s(steps: int) -> float | None:
    """RecSim's interest_evolution single env (its own venv, a subprocess); None when the
    venv or the timing script is missing."""
    if not (RECSIM_PYTHON.is_file() and RECSIM_SCRIPT.is_file()):
        return None
    out = subprocess.run([str(RECSIM_PYTHON), str(RECSIM_SCRIPT), "--env", "interest_evolution",
                          "--steps", str(steps)], capture_output=True, text=True, check=True)
    found = re.search(r"steps_per_s=([0-9.]+)", out.stdout)
    return float(found.group(1)) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds, each timing RecSim then every recgym case (medians)")
    parser.add_argument("--no-recsim", action="store_true", help="skip the RecSim peer")
    args = parser.parse_args()
    sim = fit(synthetic_log(n_users=1000, n_days=7, seed=0),
              SimulatorConfig(progress=False, epochs=3, aux_epochs=3))
    cases: list[tuple[str, dict[str, Any]]] = [
        ("RecGym/Synthetic-v0", {"world": {"n_users": 10_000}}),
        ("RecGym/Logged-v0", {"simulator": sim})]
    recsim: list[float] = []
    rates: dict[tuple[str, int], list[float]] = {
        (env_id, n): [] for env_id, _ in cases for n in (0, *SIZES)}
    for _ in range(args.repeats):  # rounds, so RecSim and recgym see the same load
        peer = None if args.no_recsim else recsim_steps_per_s(int(7000 * args.seconds))
        if peer is not None:
            recsim.append(peer)
        for env_id, kwargs in cases:
            rates[env_id, 0].append(single_env(env_id, kwargs, args.seconds))
            for n in SIZES:
                rates[env_id, n].append(vector_env(env_id, kwargs, n, args.seconds))
    peer_median = statistics.median(recsim) if recsim else None
    results: list[dict[str, Any]] = [
        {"env": env_id, "num_envs": n, "user_steps_per_s": round(statistics.median(values)),
         "vs_recsim": None if peer_median is None
         else round(statistics.median(values) / peer_median, 2),
         "runs": [round(v) for v in values]}
        for (env_id, n), values in rates.items()]
    if args.json:
        print(json.dumps({"recsim_interest_evolution_steps_per_s": peer_median and
                          round(peer_median), "recsim_runs": [round(r) for r in recsim],
                          "results": results}))
        return
    if peer_median is None:
        print("RecSim peer: not run (no venv at $RECSIM_PYTHON or no script at $RECSIM_SCRIPT)")
    else:
        print(f"RecSim interest_evolution, single env: {peer_median:,.0f} steps/s (median of "
              f"{len(recsim)} rounds: {', '.join(f'{r:,.0f}' for r in recsim)})")
    print(f"{'env':<22} {'num_envs':>8} {'user-steps/s':>14} {'x RecSim':>9}  runs")
    for r in results:
        ratio = "" if r["vs_recsim"] is None else f"{r['vs_recsim']:.2f}"
        label = "single" if r["num_envs"] == 0 else str(r["num_envs"])
        runs = ", ".join(f"{v:,}" for v in r["runs"])
        print(f"{r['env']:<22} {label:>8} {r['user_steps_per_s']:>14,} {ratio:>9}  {runs}")


if __name__ == "__main__":
    main()
