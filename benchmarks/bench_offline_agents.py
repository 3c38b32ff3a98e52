"""Offline agents: training speed and true return on a synthetic log, speed on KuaiRand.

Synthetic: the default synthetic world (2,000 users, 500 items) logged by the softmax
behaviour policy (6 whole sessions of every user), turned into episodes (each user's
first, up to 5 sessions) with the default environment settings; every offline agent
trains `--steps` gradient steps per seed and is evaluated on `--users` fresh users of the
same world (true return, mean over seeds of the return and of its 95% interval), beside
the behaviour policy, most-popular counted from the dataset and random. KuaiRand: the
KuaiRand-Pure sample (`../shared/data/kuairand-pure`, 6,361 items) as episodes; each
agent trains `--kuairand-steps` steps and the gradient steps per second are printed (no
true return: there is no ground truth to act in).

    python benchmarks/bench_offline_agents.py [--steps 5000] [--seeds 2] [--users 500]
        [--agents cql,bc] [--kuairand PATH | --no-kuairand] [--kuairand-steps 300] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents import make_agent
from agents.offline import BehaviourAgent, IQLAgent, popular_from_dataset
from agents.online.baselines.random_agent import RandomAgent
from recgym import EnvConfig
from recgym.evaluate import evaluate
from recgym.offline import TrajectoryDataset, episodes_from_log
from simulators import SyntheticWorld, WorldConfig

ENV = "RecGym/Synthetic-v0"
LEARNERS = ("bc", "bcq", "cql", "discrete_sac", "double_dqn", "iql")
WEIGHTS = {"click": 1.0, "like": 1.0, "watch_ratio": 1.0, "retention": 5.0}
KUAIRAND = Path(__file__).resolve().parents[2] / "shared" / "data" / "kuairand-pure"


def make(name: str, data: TrajectoryDataset, seed: int, embeddings: Any,
         settings: dict[str, Any]) -> Any:
    """An offline agent of `name` with `settings` and `seed`."""
    if name == "iql":
        return IQLAgent.create(data, IQLAgent.config_class(seed=seed, **settings),
                               embeddings=embeddings)
    return make_agent(name, data, seed=seed, **settings)


def timed_fit(agent: Any, data: TrajectoryDataset, steps: int) -> float:
    """Gradient steps per second of `fit` (the dataset's transitions built beforehand)."""
    agent.fit(data, 1)
    start = time.perf_counter()
    agent.fit(data, steps)
    return steps / (time.perf_counter() - start)


def synthetic(args: argparse.Namespace) -> dict[str, Any]:
    """Speed and true return of every agent on a synthetic log."""
    world = SyntheticWorld(WorldConfig(), seed=0)
    start = time.perf_counter()
    # one session more than an episode holds, so episodes end as the environment's do (a
    # timeout after max_sessions), not where each user's log stops
    config = EnvConfig()
    log = world.generate_log("softmax", max_sessions=config.max_sessions + 1, seed=0)
    data = episodes_from_log(log, config, WEIGHTS, simulator=world, episodes_per_user=1)
    built = time.perf_counter() - start
    print(f"synthetic: {data} built in {built:.1f} s; logged return per episode "
          f"{data.episode_returns().mean():.1f}")

    def score(agent: Any) -> dict[str, float]:
        table = evaluate(agent, ENV, n_users=args.users, seed=10_000, world=world,
                         config=config, reward_weights=WEIGHTS)
        row = table.loc["total_return"]
        return {"return": float(row["mean"]), "lo": float(row["ci95_lo"]),
                "hi": float(row["ci95_hi"]), "ctr": float(table.loc["ctr", "mean"])}

    rows: dict[str, Any] = {
        "random": score(RandomAgent(data.spec)),
        "behaviour (softmax)": score(BehaviourAgent.create(data)),
        "popular (from dataset)": score(popular_from_dataset(data)),
    }
    for name in args.agents:
        per_seed = []
        for seed in range(args.seeds):
            agent = make(name, data, seed, world, args.agent_kwargs)
            speed = timed_fit(agent, data, args.steps - 1)
            per_seed.append({**score(agent), "steps_per_s": speed})
        rows[name] = {key: float(np.mean([r[key] for r in per_seed])) for key in per_seed[0]}
        rows[name]["per_seed_return"] = [round(r["return"], 2) for r in per_seed]
        print(f"  {name}: {rows[name]}")
    return {"dataset": repr(data), "steps": args.steps, "seeds": args.seeds, "rows": rows}


def kuairand(args: argparse.Namespace) -> dict[str, Any]:
    """Training speed of every agent on the KuaiRand-Pure sample."""
    from offline_data import load_kuairand

    start = time.perf_counter()
    data = episodes_from_log(load_kuairand(args.kuairand))
    print(f"kuairand: {data} ({data.spec.n_items} items, flat observation of "
          f"{data.spec.flat_dim}) built in {time.perf_counter() - start:.1f} s")
    embeddings = np.random.default_rng(0).normal(size=(data.spec.n_items, 32))
    speeds = {}
    for name in args.agents:
        agent = make(name, data, 0, embeddings, args.agent_kwargs)
        speeds[name] = timed_fit(agent, data, args.kuairand_steps)
        batch = {k: v[:512] for k, v in data.observations.items()}
        start = time.perf_counter()
        probs = agent.action_probabilities(batch)
        per_obs_ms = 1000 * (time.perf_counter() - start) / 512
        print(f"  {name}: {speeds[name]:.0f} gradient steps/s; action_probabilities "
              f"{probs.shape} at {per_obs_ms:.3f} ms per observation")
    return {"dataset": repr(data), "steps": args.kuairand_steps, "steps_per_s": speeds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--agents", default=",".join(LEARNERS))
    parser.add_argument("--agent-kwargs", default="{}", help="JSON settings for every agent")
    parser.add_argument("--kuairand", type=Path, default=KUAIRAND)
    parser.add_argument("--no-kuairand", action="store_true")
    parser.add_argument("--kuairand-steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    args.agents = [a for a in args.agents.split(",") if a]
    args.agent_kwargs = json.loads(args.agent_kwargs)
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    result = {"synthetic": synthetic(args)}
    if not args.no_kuairand:
        if args.kuairand.is_dir():
            result["kuairand"] = kuairand(args)
        else:
            print(f"kuairand: {args.kuairand} not found; skipped")
    if args.json:
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
