"""recgym's FQE (and WDR on it) against d3rlpy's own DiscreteFQE, and both against the truth,
for a CQL agent in the synthetic world: with and without masking recently seen items.

d3rlpy's FQE evaluates the greedy policy of the d3rlpy algorithm as d3rlpy runs it, over
every item; recgym's agents mask recently seen items by default (`exclude_seen`), which
only recgym's FQE (any `action_probabilities`) evaluates.

    python benchmarks/fqe_crosscheck.py [--users 1500] [--fqe-steps 5000] [--cql-steps 3000]
        [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from agents import make_agent
from agents.offline.d3rlpy_fqe import d3rlpy_fqe
from recgym import EnvConfig
from recgym.evaluate import evaluate
from recgym.offline import episodes_from_log
from recgym.offline.fqe import FQEConfig
from recgym.offline.ope import estimate
from simulators import SyntheticWorld, WorldConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1500)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--fqe-steps", type=int, default=5000)
    parser.add_argument("--cql-steps", type=int, default=3000)
    parser.add_argument("--truth-users", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    world = SyntheticWorld(WorldConfig(n_users=2 * args.users, n_items=args.items), seed=0)
    config, weights = EnvConfig(max_sessions=3), {"click": 1.0, "retention": 5.0}
    log = world.generate_log("softmax", n_users=args.users, max_sessions=4, seed=0)
    data = episodes_from_log(log, config, weights, simulator=world, episodes_per_user=1)
    train, held = data.split_by_user(0.3, seed=0)
    rows = []
    if not args.json:
        print(f"softmax log: {train.n_episodes} training / {held.n_episodes} held-out "
              f"episodes; CQL {args.cql_steps} steps, FQE {args.fqe_steps} steps\n")
        print("| CQL policy | truth [95%] | recgym fqe | recgym wdr | d3rlpy DiscreteFQE |")
        print("|---|---|---|---|---|")
    for exclude_seen in (False, True):
        agent = make_agent("cql", train, seed=0, exclude_seen=exclude_seen)
        agent.fit(train, args.cql_steps)
        start = time.perf_counter()
        theirs = d3rlpy_fqe(agent, held, n_steps=args.fqe_steps)
        theirs_s = time.perf_counter() - start
        start = time.perf_counter()
        ours = estimate(held, agent, ("fqe", "wdr"), fqe=FQEConfig(n_steps=args.fqe_steps),
                        n_bootstrap=100)
        ours_s = time.perf_counter() - start
        table = evaluate(agent, "RecGym/Synthetic-v0", n_users=args.truth_users, seed=7,
                         world=world, config=config, reward_weights=weights)
        row = table.loc["total_return"]
        truth = float(row["mean"])

        name = "masked (exclude_seen, the default)" if exclude_seen else "unmasked"
        rows.append({"policy": name, "exclude_seen": exclude_seen, "truth": truth,
                     "truth_ci95": [float(row["ci95_lo"]), float(row["ci95_hi"])],
                     "recgym_fqe": ours["fqe"].value, "recgym_wdr": ours["wdr"].value,
                     "d3rlpy_fqe": theirs.value, "recgym_s": ours_s, "d3rlpy_s": theirs_s})
        if args.json:
            continue
        print(f"| {name} | {truth:.2f} [{float(row['ci95_lo']):.2f}, "
              f"{float(row['ci95_hi']):.2f}] | {cell(ours['fqe'].value, truth)} | "
              f"{cell(ours['wdr'].value, truth)} | {cell(theirs.value, truth)} |  "
              f"<!-- fit s: recgym {ours_s:.0f}, d3rlpy {theirs_s:.0f} -->")
    if args.json:
        print(json.dumps({"settings": {k: v for k, v in vars(args).items() if k != "json"},
                          "train_episodes": train.n_episodes,
                          "heldout_episodes": held.n_episodes, "rows": rows}, default=float))


def cell(value: float, truth: float) -> str:
    """An estimate and its signed relative error."""
    return f"{value:.2f} ({100 * (value - truth) / truth:+.0f}%)"


if __name__ == "__main__":
    main()
