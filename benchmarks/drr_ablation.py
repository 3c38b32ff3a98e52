"""Why DRR was weak, measured: DRR-att on the synthetic world at the demo budget, from the
paper's DDPG to this library's DRR one change at a time, beside DEERS.

Variants (all `agents.online.drr` with the drr_att encoder, 30,000 steps, seeds 0..S-1,
evaluated on the same fresh users as the online leaderboard):

- paper:        the paper's DDPG: concat critic, the actor's nearest item, pre-trained item
                embeddings only (critic=concat, refine=1, item_dim=0)
- +items:       plus 8 learned features per item beside the pre-trained embeddings
- +bilinear:    plus the bilinear critic term <P h(s), e>
- +refine:      plus the critic re-ranking the 10 items nearest the actor's vector (the
                library's default DRR)
- refine-only:  the critic re-ranking without learned item features (critic=bilinear,
                refine=10, item_dim=0)
- deers:        DEERS at its demo budget (the goal: DRR-att at least as good)

By default the library's DRR and DEERS (the goal's comparison); name the others with
`--variants` (each takes about 3 x 30,000 steps).

    python benchmarks/drr_ablation.py [--seeds 3] [--users 500] [--variants +refine,deers,...]
        [--out runs/drr_ablation] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

from leaderboard_online import seeds_row

from agents.demo import DemoAgent
from agents.determinism import deterministic_torch
from offline_data import InputError
from offline_data.shared.atomic import replace_output_dir

STEPS = 30_000
VARIANTS = {
    "paper": DemoAgent("drr", "paper", STEPS, "drr_att",
                       {"critic": "concat", "refine": 1, "item_dim": 0}),
    "+items": DemoAgent("drr", "+items", STEPS, "drr_att",
                        {"critic": "concat", "refine": 1, "item_dim": 8}),
    "+bilinear": DemoAgent("drr", "+bilinear", STEPS, "drr_att",
                           {"critic": "bilinear", "refine": 1, "item_dim": 8}),
    "+refine": DemoAgent("drr", "+refine", STEPS, "drr_att",
                         {"critic": "bilinear", "refine": 10, "item_dim": 8}),
    "refine-only": DemoAgent("drr", "refine-only", STEPS, "drr_att",
                             {"critic": "bilinear", "refine": 10, "item_dim": 0}),
    "deers": DemoAgent("deers", "deers", STEPS),
}
MARKER = "drr_ablation.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--variants", default="+refine,deers",
                        help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--out", default="runs/drr_ablation", help="folder for the runs")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    deterministic_torch(1)  # as the demo and the leaderboard
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"error: unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    try:
        out = replace_output_dir(args.out, MARKER, {"seeds": args.seeds})
    except InputError as error:
        raise SystemExit(f"error: {error}") from None
    rows = []
    for name in names:
        variant = VARIANTS[name]
        row = {"variant": name, **variant.settings,
               **seeds_row(variant, out / name.replace("+", "plus-"), args.seeds, args.users)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"seeds": args.seeds, "users": args.users,
                                               "results": rows}, indent=1))


if __name__ == "__main__":
    main()
