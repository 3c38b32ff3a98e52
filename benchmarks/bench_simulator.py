"""Fitted-simulator throughput: `respond` user-steps per second by batch size.

Fits a simulator on a synthetic log (or loads one with `--simulator DIR`), then times
`respond` (sampling every signal for one item per user) for batches of 1, 64, 1024 and
8192 users. Also reports a full step (respond + step_state + leave_prob).

    python benchmarks/bench_simulator.py [--simulator DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from simulators import LoggedUserSimulator, SimulatorConfig, fit, synthetic_log

BATCHES = (1, 64, 1024, 8192)


def timed_rate(fn, batch: int, min_seconds: float = 1.0) -> float:
    """Calls of `fn` per second times `batch`, measured for at least `min_seconds`."""
    fn()  # warm up
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < min_seconds or calls < 3:
        fn()
        calls += 1
    return calls * batch / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", help="a saved simulator folder (default: fit one)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.simulator:
        sim = LoggedUserSimulator.load(args.simulator)
    else:
        sim = fit(synthetic_log(n_users=1000, n_days=7, seed=0),
                  SimulatorConfig(progress=False, epochs=3))
    rng = np.random.default_rng(0)
    results = []
    for batch in BATCHES:
        users = rng.integers(0, sim.n_users, batch)
        state = sim.start(users, rng)
        slates = rng.integers(0, sim.n_items, (batch, 1))

        def respond(state=state, slates=slates):
            return sim.respond(state, slates, rng)

        def full_step(state=state, slates=slates):
            feedback = sim.respond(state, slates, rng)
            after = sim.step_state(state, slates, feedback)
            return sim.leave_prob(after, feedback)

        results.append({"batch": batch, "user_steps_per_s": round(timed_rate(respond, batch)),
                        "full_step_user_steps_per_s": round(timed_rate(full_step, batch))})
    info = {"torch_threads": torch.get_num_threads(), "device": str(sim.device),
            "signals": sim.signal_names}
    if args.json:
        print(json.dumps({"results": results, **info}))
        return
    print(f"simulator: {sim}  ({info['torch_threads']} torch threads, {info['device']})")
    print(f"{'batch':>6} {'respond user-steps/s':>22} {'full step user-steps/s':>24}")
    for r in results:
        full = r["full_step_user_steps_per_s"]
        print(f"{r['batch']:>6} {r['user_steps_per_s']:>22,} {full:>24,}")


if __name__ == "__main__":
    main()
