"""The DRR paper's offline protocol on MovieLens-100k (Liu et al. 2018, arXiv:1810.12027).

Users are split 80 / 20 (`InteractionLog.split_by_user`, seeded by `--split-seed`); item
embeddings come from a truncated SVD of the training users' ratings
(`simulators.replay.rating_embeddings`, a PMF stand-in). Every method trains in
`RecGym/LoggedReplay-v0` over the training users (an episode: one user, 20
recommendations among the items they rated and were not yet recommended, the reward
their normalised rating, the state their latest positive items) and is evaluated on
every test user once: average reward, Precision@20, NDCG@20 and MAP
(`recgym.replay_eval`). Per method: means over seeds, the 95% interval over all test
episodes of all seeds, the seed sd, training seconds; the paper's figures beside them, a
check of the paper's ordering, and the ceiling: each test user's best remaining ratings
in order (`recgym.replay_eval.replay_ceiling`), the most any policy can get.

    python benchmarks/drr_reproduction.py [--data ../shared/data/movielens-100k]
        [--seeds 3] [--steps 10000] [--methods drr-att,deers] [--scale centered]
        [--state-size 5] [--positive 4] [--episode-steps 20] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import recgym
from agents import make_agent
from agents.determinism import deterministic_torch
from offline_data import InputError, load_movielens
from recgym.evaluate import t_interval
from recgym.replay_eval import METRICS, replay_ceiling, replay_evaluate
from recgym.report import interval_text
from simulators.replay import RatingReplay, rating_embeddings

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens-100k"
ENV = "RecGym/LoggedReplay-v0"
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "most-popular": ("popular", {}),
    "linucb": ("linucb", {}),
    "dqn": ("dqn", {"encoder": "drr_n"}),
    "ddpg": ("drr", {"encoder": "drr_n"}),
    "deers": ("deers", {}),
    "drr-p": ("drr", {"encoder": "drr_p"}),
    "drr-u": ("drr", {"encoder": "drr_u"}),
    "drr-ave": ("drr", {"encoder": "drr_ave"}),
    "drr-att": ("drr", {"encoder": "drr_att"}),
    "drr-att (paper's ddpg)": ("drr", {"encoder": "drr_att", "critic": "concat",
                                       "refine": 1, "item_dim": 0}),
    "random": ("random", {}),
}
"""Method -> (agent, settings). DQN and DDPG use DRR-n (no state module); 'paper's ddpg'
is DRR-att without this library's fixes (see README: DRR that learns)."""
PAPER = {  # MovieLens-100k, the paper's offline table: avg reward, P@20, NDCG@20, MAP
    "drr-att": (0.7466, 0.6784, 0.9025, 0.7768), "drr-ave": (0.7105, None, None, None),
    "deers": (0.7035, 0.6481, 0.8933, 0.7226), "drr-u": (0.6522, None, None, None),
    "drr-p": (0.6338, None, None, None), "ddpg": (0.5783, None, None, None),
    "dqn": (0.5752, None, None, None), "linucb": (0.4266, None, None, None)}
ORDER = (("drr-att", "drr-ave"), ("drr-ave", "drr-p"), ("drr-att", "deers"),
         ("deers", "dqn"), ("dqn", "linucb"))
"""The paper's ordering: each pair (better, worse) on average reward."""


def build(args: argparse.Namespace) -> tuple[Any, Any]:
    """(training vector env, test vector env) over the split users."""
    log = load_movielens(args.data)
    parts = log.split_by_user(0.2, seed=args.split_seed)
    train, test = (np.unique(part.interactions["user_id"].to_numpy()) for part in parts)
    settings: dict[str, Any] = {"signal": "rating", "state_size": args.state_size,
                                "positive": args.positive, "scale": args.scale}
    embeddings = rating_embeddings(log, train, args.embed_dim, "rating", args.split_seed)
    train_replay = RatingReplay(log, train, embeddings=embeddings, **settings)
    test_replay = RatingReplay(log, test, embeddings=embeddings, **settings)
    # one candidate width for both, so agents trained on one act in the other
    episode = {"max_steps": args.episode_steps,
               "n_candidates": max(train_replay.max_choices, test_replay.max_choices)}
    return (recgym.make_vec(ENV, 8, replay=train_replay, **episode),
            recgym.make_vec(ENV, 16, replay=test_replay, **episode))


def run_method(name: str, seed: int, steps: int, train_env: Any, test_env: Any,
               k: int) -> tuple[pd.DataFrame, float]:
    """Train one method for `steps` steps with `seed`; its per-user test metrics and the
    training seconds."""
    agent_name, settings = METHODS[name]
    started = time.perf_counter()
    agent = make_agent(agent_name, train_env, seed=seed, **settings)
    if agent_name != "random":
        agent.fit(train_env, steps)
    seconds = time.perf_counter() - started
    return replay_evaluate(agent, test_env, k=k, seed=seed), seconds


def summarise(name: str, frames: list[pd.DataFrame], seconds: list[float]) -> dict[str, Any]:
    """One row: per metric the mean over seeds, the pooled 95% interval and the seed sd."""
    pooled = pd.concat(frames)
    row: dict[str, Any] = {"method": name, "seconds_per_seed": round(float(np.mean(seconds)),
                                                                      1)}
    for metric in METRICS:
        mean, low, high = t_interval(pooled[metric].to_numpy())
        row[metric] = round(mean, 4)
        row[f"{metric}_ci95"] = [round(low, 4), round(high, 4)]
        row[f"{metric}_seed_sd"] = round(float(np.std([f[metric].mean() for f in frames],
                                                      ddof=1)) if len(frames) > 1 else 0.0, 4)
    paper = PAPER.get(name)
    row["paper_avg_reward"] = None if paper is None else paper[0]
    return row


def ordering(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Which of the paper's pairwise orderings hold on average reward."""
    value = {r["method"]: r["avg_reward"] for r in rows}
    return [{"better": a, "worse": b, "holds": value[a] > value[b]}
            for a, b in ORDER if a in value and b in value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="MovieLens-100k folder")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10_000, help="training steps a method")
    parser.add_argument("--methods", default=None, help="comma-separated subset of "
                        + ", ".join(METHODS))
    parser.add_argument("--scale", default="centered", help="'centered' (r-3)/2 or 'unit' r/5")
    parser.add_argument("--state-size", type=int, default=5)
    parser.add_argument("--positive", type=float, default=4.0)
    parser.add_argument("--episode-steps", type=int, default=20)
    parser.add_argument("--embed-dim", type=int, default=32)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    deterministic_torch(1)
    if not Path(args.data, "u.data").exists():
        raise SystemExit(f"error: no MovieLens-100k at {args.data} (u.data missing); pass "
                         "--data DIR")
    names = list(METHODS) if args.methods is None else args.methods.split(",")
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise SystemExit(f"error: unknown method(s) {unknown}; choose from {list(METHODS)}")
    started = time.perf_counter()
    try:
        train_env, test_env = build(args)
    except InputError as error:
        raise SystemExit(f"error: {error}") from None
    ceiling = summarise("ceiling", [replay_ceiling(test_env.simulator, args.episode_steps)],
                        [0.0])
    print(json.dumps(ceiling), flush=True)
    rows = []
    for name in names:
        frames, seconds = [], []
        for seed in range(args.seeds):
            frame, spent = run_method(name, seed, args.steps, train_env, test_env,
                                      args.episode_steps)
            frames.append(frame)
            seconds.append(spent)
        row = summarise(name, frames, seconds)
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"settings": {k: v for k, v in vars(args).items() if k != "json"},
              "test_users": len(test_env.simulator.users),
              "train_users": len(train_env.simulator.users),
              "wall_s": round(time.perf_counter() - started, 1),
              "ceiling": ceiling, "results": rows, "ordering": ordering(rows)}
    print()
    print("| method | avg reward | 95% CI | P@20 | NDCG@20 | MAP | paper avg reward | s / seed |")
    print("|---|---|---|---|---|---|---|---|")
    for r in [*rows, ceiling]:
        ci = interval_text((r["avg_reward"], *r["avg_reward_ci95"]), 4).split(" ", 1)[-1]
        print(f"| {r['method']} | {r['avg_reward']:.4f} | {ci} | {r['precision']:.4f} | "
              f"{r['ndcg']:.4f} | {r['map']:.4f} | {r['paper_avg_reward'] or '-'} | "
              f"{r['seconds_per_seed']} |")
    for check in result["ordering"]:
        print(f"{check['better']} > {check['worse']}: {'holds' if check['holds'] else 'no'}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
