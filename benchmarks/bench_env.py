"""Environment throughput: user-steps per second with a random policy.

`RecGym/Synthetic-v0` and `RecGym/Logged-v0` (a simulator fitted to a synthetic log) as a
single environment (`num_envs` 0 in the JSON) and as native vector environments of 64,
1024 and 8192 users. For the single environment it also reports the step time and the
part of it spent outside the simulator's own calls (the environment's overhead).

    python benchmarks/bench_env.py [--json] [--seconds 2]
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import numpy as np

import recgym
from simulators import SimulatorConfig, fit, synthetic_log

SIZES = (64, 1024, 8192)


def single_env(env_id: str, kwargs: dict, seconds: float) -> dict:
    env = gym.make(env_id, **kwargs).unwrapped  # no checker / order-enforcing layers
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    n_items = env.core.n_items
    sim, timed = env.core.sim, {"t": 0.0}
    for name in ("respond", "step_state", "leave_prob", "return_gap", "next_session"):
        original = getattr(sim, name)

        def wrapped(*args, _f=original, **kw):
            start = time.perf_counter()
            out = _f(*args, **kw)
            timed["t"] += time.perf_counter() - start
            return out

        setattr(sim, name, wrapped)
    steps, stepping, start = 0, 0.0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        action = int(rng.integers(n_items))
        began = time.perf_counter()
        _, _, term, trunc, _ = env.step(action)
        stepping += time.perf_counter() - began
        steps += 1
        if term or trunc:
            env.reset()  # resets are not part of the step time
    elapsed = stepping
    for name in ("respond", "step_state", "leave_prob", "return_gap", "next_session"):
        delattr(sim, name)
    return {"env": env_id, "num_envs": 0, "user_steps_per_s": round(steps / elapsed),
            "step_us": round(elapsed / steps * 1e6, 1),
            "overhead_us": round((elapsed - timed["t"]) / steps * 1e6, 1)}


def vector_env(env_id: str, kwargs: dict, n: int, seconds: float) -> dict:
    env = recgym.make_vec(env_id, n, **kwargs)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    n_items = env.single_action_space.n
    env.step(rng.integers(n_items, size=n))  # warm up
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or steps < 3:
        env.step(rng.integers(n_items, size=n))
        steps += 1
    elapsed = time.perf_counter() - start
    return {"env": env_id, "num_envs": n, "user_steps_per_s": round(steps * n / elapsed),
            "step_ms": round(elapsed / steps * 1e3, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    sim = fit(synthetic_log(n_users=1000, n_days=7, seed=0),
              SimulatorConfig(progress=False, epochs=3, aux_epochs=3))
    cases = [("RecGym/Synthetic-v0", {"world": {"n_users": 10_000}}),
             ("RecGym/Logged-v0", {"simulator": sim})]
    results = []
    for env_id, kwargs in cases:
        results.append(single_env(env_id, kwargs, args.seconds))
        results += [vector_env(env_id, kwargs, n, args.seconds) for n in SIZES]
    if args.json:
        print(json.dumps({"results": results}))
        return
    print(f"{'env':<22} {'num_envs':>8} {'user-steps/s':>14}  notes")
    for r in results:
        note = (f"step {r['step_us']} us, of which env overhead {r['overhead_us']} us"
                if r["num_envs"] == 0 else f"{r['step_ms']} ms per batched step")
        print(f"{r['env']:<22} {r['num_envs']:>8} {r['user_steps_per_s']:>14,}  {note}")


if __name__ == "__main__":
    main()
