"""Is a seeded training run bit-for-bit the same under other thread counts or CPU code paths?

Each variant trains the same agent (same seed, same settings) in a fresh subprocess with
its own torch thread count and environment variables (OMP / MKL threads, the instruction
set torch's own kernels and MKL use, OpenBLAS's core type), records a digest of all
weights after every chunk of training, and evaluates the final agent. The table says per
variant whether the final weights equal the first variant's bit for bit, the largest
weight difference, the first chunk at which the weights differ, the evaluation return and
the training time. Chunks count from 0; "users differ" means the simulated users' state
(histories, interests, ...) differs: the agent acted differently, or the simulator's own
float arithmetic differed (numpy's kernels).

    python benchmarks/determinism_check.py --agents dqn,deers,drr,ppo --steps 3000
        [--chunk 500] [--variants threads1,threads2,aten_avx2] [--deterministic]
        [--default-world] [--growth] [--json]

`--deterministic` calls `agents.determinism.deterministic_torch(1)` in each child after
setting the variant's thread count (which then stands for the machine's core count).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

WORLD: dict[str, Any] = {"world": {"n_users": 300, "n_items": 60}}
SETTINGS: dict[str, dict[str, Any]] = {
    "dqn": {"encoder": "drr_att", "algo_kwargs": {"learning_starts": 200}},
    "ppo": {"encoder": "drr_att"},  # the demo's n_steps 64 x 8 envs, batch 256, 4 epochs
    "deers": {"learning_starts": 200},
    "drr": {"encoder": "drr_ave", "learning_starts": 200},
    "linucb": {},  # numpy only: OpenBLAS and numpy's own kernels
}
VARIANTS: dict[str, tuple[int, dict[str, str]]] = {
    # name: (torch.set_num_threads, extra environment variables); each one changes one
    # thing a different machine would change
    "threads1": (1, {}),
    "threads1_again": (1, {}),  # run-to-run: must equal threads1
    "threads2": (2, {"OMP_WAIT_POLICY": "PASSIVE"}),  # passive: only faster when shared
    "threads4": (4, {"OMP_WAIT_POLICY": "PASSIVE"}),
    "aten_avx2": (1, {"ATEN_CPU_CAPABILITY": "avx2"}),  # torch's kernels as on AVX2 CPUs
    "mkl_cbwr_avx2": (1, {"MKL_CBWR": "AVX2"}),
    "mkl_cbwr_compatible": (1, {"MKL_CBWR": "COMPATIBLE"}),
    "openblas_haswell": (1, {"OPENBLAS_CORETYPE": "Haswell"}),  # numpy's BLAS kernels
    "openblas_threads1": (1, {"OPENBLAS_NUM_THREADS": "1"}),
    "numpy_avx2": (1, {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"}),
}


def digest(weights: Any) -> tuple[str, list[np.ndarray]]:
    """sha256 over every tensor / array in a nested weights dict (sorted keys), and the
    arrays themselves."""
    import torch

    arrays: list[np.ndarray] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key in sorted(value, key=str):
                walk(value[key])
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, torch.Tensor):
            arrays.append(value.detach().cpu().numpy().copy())
        elif isinstance(value, np.ndarray):
            arrays.append(value.copy())

    walk(weights)
    h = hashlib.sha256()
    for array in arrays:
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:16], arrays


def child(spec: dict[str, Any]) -> None:
    """Train one agent as `spec` says and write the result as JSON + the weights as npz."""
    import warnings

    import torch

    warnings.simplefilter("ignore")
    threads = int(spec["threads"])
    torch.set_num_threads(threads)  # the machine's default: its core count
    if spec["deterministic"]:
        from agents.determinism import deterministic_torch

        deterministic_torch(1)
    import recgym
    from agents.registry import make_agent
    from recgym.evaluate import evaluate

    env_id = "RecGym/Synthetic-v0"
    world = WORLD if spec["small"] else {}
    env = recgym.make_vec(env_id, 8, **world)  # one env instance, as `agents.training.train`
    agent = make_agent(spec["agent"], env, None, seed=spec["seed"], n_envs=8,
                       **SETTINGS[spec["agent"]])
    chunks: list[str] = []
    trajectory: list[str] = []
    saved: dict[str, np.ndarray] = {}
    seconds = 0.0
    while agent.num_steps < spec["steps"]:
        started = time.perf_counter()
        agent.fit(env, spec["chunk"], budget=spec["steps"])
        seconds += time.perf_counter() - started
        key, arrays = digest(agent.weights())
        chunks.append(key)
        saved.update({f"{len(chunks) - 1}_{i}": a for i, a in enumerate(arrays)})
        trajectory.append(digest(env.get_state()["arrays"])[0])  # the simulated users
    final = chunks[-1]
    table = evaluate(agent, env_id, n_users=spec["users"], seed=50_000, **world)
    np.savez(spec["weights_out"], **saved)  # type: ignore[arg-type]
    result = {"digest": final, "chunks": chunks, "trajectory": trajectory,
              "seconds": round(seconds, 2),
              "return": float(table["mean"]["total_return"]),
              "torch_threads": torch.get_num_threads(),
              "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    Path(spec["result_out"]).write_text(json.dumps(result))


def run_variant(agent: str, variant: str, args: argparse.Namespace, tmp: Path
                ) -> dict[str, Any]:
    """One subprocess for (agent, variant)."""
    threads, extra = VARIANTS[variant]
    spec = {"agent": agent, "threads": threads, "steps": args.steps, "chunk": args.chunk,
            "small": not args.default_world,
            "seed": args.seed, "users": args.users, "deterministic": args.deterministic,
            "weights_out": str(tmp / f"{agent}-{variant}.npz"),
            "result_out": str(tmp / f"{agent}-{variant}.json")}
    env = {**os.environ, **extra}
    subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env,
                   check=True)
    result: dict[str, Any] = json.loads(Path(spec["result_out"]).read_text())
    result["weights"] = spec["weights_out"]
    return result


def first_difference(a: list[str], b: list[str]) -> int | None:
    """Index of the first chunk whose digests differ (None: none)."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)


def compare(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """The largest absolute weight difference after each chunk and the first chunks whose
    weights / simulated users differ."""
    a, b = np.load(base["weights"]), np.load(other["weights"])
    growth = []
    for chunk in range(len(base["chunks"])):
        keys = [k for k in a.files if k.startswith(f"{chunk}_") and a[k].size]
        growth.append(max((float(np.max(np.abs(a[k].astype(np.float64)
                                                - b[k].astype(np.float64)))) for k in keys),
                          default=0.0))
    return {"max_abs_diff": growth[-1], "diff_by_chunk": growth,
            "weights_differ_from_chunk": first_difference(base["chunks"], other["chunks"]),
            "users_differ_from_chunk": first_difference(base["trajectory"],
                                                        other["trajectory"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="dqn,deers,drr,ppo")
    parser.add_argument("--variants", default="threads1,threads2")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--deterministic", action="store_true")
    parser.add_argument("--default-world", action="store_true",
                        help="the demo's world (default: 300 users, 60 items)")
    parser.add_argument("--growth", action="store_true",
                        help="also print the largest weight difference after each chunk")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(json.loads(args.child))
        return
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for agent in args.agents.split(","):
            results = {v: run_variant(agent, v, args, Path(folder)) for v in variants}
            base = results[variants[0]]
            for variant, result in results.items():
                rows.append({"agent": agent, "variant": variant,
                             "same_as_first": result["digest"] == base["digest"],
                             **compare(base, result), "digest": result["digest"],
                             "return": round(result["return"], 3),
                             "seconds": result["seconds"],
                             "capability": result["cpu_capability"]})
    if args.json:
        print(json.dumps(rows))
        return
    header = ("agent", "variant", "same_as_first", "max_abs_diff",
              "weights_differ_from_chunk", "users_differ_from_chunk", "return", "seconds",
              "capability")
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(f"{row[h]:.3g}" if isinstance(row[h], float) and h == "max_abs_diff"
                         else str(row[h]) for h in header))
    if args.growth:
        print("\nlargest weight difference to the first variant after each chunk:")
        for row in rows:
            if row["variant"] == variants[0]:
                continue
            print(f"{row['agent']} {row['variant']}: "
                  + " ".join(f"{d:.1e}" for d in row["diff_by_chunk"]))


if __name__ == "__main__":
    main()
