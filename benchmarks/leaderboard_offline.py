"""Offline leaderboard: every offline agent against BC and the logging policy, on the true
long-term return of a synthetic world and on the KuaiRand-Pure sample, with each
off-policy estimate beside the truth.

Synthetic (`--part synthetic`): a world of `--items` items; for each behaviour policy
(epsilon-greedy on the true click probability, and diversity-aware with `--explore` of
uniform exploration, see below) and each seed, a fresh log of `--users` users (one
session more than an episode, with the recorded propensities) becomes the environment's
episodes (`episodes_from_log(..., episodes_per_user=1)`), split by user into a training
part and `--held-out` of held-out users. Every learner trains `--steps` gradient steps
(its own seed) on the training part and is scored

- TRUE: run in RecGym/Synthetic-v0 (same world, settings and reward weights) for
  `--eval-users` fresh users (the same users for every agent of a seed): episode return,
  CTR, retention (share of sessions the user came back after) and depth (steps per
  session). Stochastic policies (BC, discrete SAC) sample, so the truth is that of the
  policy OPE scores; greedy BC is listed beside (truth only).
- OPE: pdis, wpdis, dr and fqe (`recgym.offline.ope.estimate`, gamma 1) on the held-out
  users' episodes. For the behaviour policy the held-out episodes are on-policy: their
  mean return is listed.

Rows aggregate the seeds: the mean over seeds; the interval is the 95% t-interval over
all users' episodes of all seeds pooled (`--eval-users` x seeds episodes; it leaves out
the spread between training seeds, which the per-seed returns show); OPE columns are
the mean over the first `--ope-seeds` seeds (default 1: FQE dominates the time) of the
estimate and of its bootstrap bounds.

The diversity-aware policy of `simulators.policies` is deterministic (greedy on the
world's satisfaction score, boredom-discounted): a log of it has no coverage (every
propensity is 1) and importance sampling can only check agreement with it. The
benchmark logs it with `--explore` (default 0.1) uniform exploration; `--explore 0`
logs the pure policy.

KuaiRand (`--part kuairand`; skipped with a message when the folder is absent): the
sample's users split (seeded) into training and `--held-out` users; a simulator is
fitted to the training users' log (`simulators.fit`) and the training episodes are
built with its observations; propensities come from a behaviour model fitted to them
(`fit_behaviour`, user ids off so it applies to unseen users), which also gives the
behaviour baseline (`BehaviourAgent.from_model`) and the held-out episodes'
propensities. Each agent trains `--kuairand-steps` steps and is scored in the fitted
simulator (RecGym/Logged-v0, `--eval-users` users) and by OPE on the held-out users'
episodes (one seed).

    python benchmarks/leaderboard_offline.py [--seeds 3] [--users 1200] [--items 150]
        [--steps 3000] [--eval-users 1000] [--part synthetic|kuairand|all]
        [--kuairand-steps 1500] [--agents bc,cql,...] [--agent-kwargs JSON] [--json]
        [--out runs/leaderboard_offline] [--engine local|ray] [--address ray://host:10001]
        [--max-concurrent N]

With `--engine ray` the synthetic part's (behaviour policy, seed) blocks are trials on Ray
Tune (`recgym[ray]`): a Ray started here on this machine's cores, or the cluster at
`--address`; each writes its rows to `--out`.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from bench_offline_agents import KUAIRAND, make

from agents.offline import BehaviourAgent, BehaviourConfig
from agents.sweep.engine import Report
from agents.sweep.jobs import add_engine_options, script_jobs
from offline_data.shared.atomic import replace_output_dir
from offline_data.shared.errors import InputError
from recgym import EnvConfig
from recgym.evaluate import evaluate, summary_table
from recgym.offline import TrajectoryDataset, episodes_from_log
from recgym.offline.fqe import FQEConfig
from recgym.offline.ope import estimate
from simulators import SyntheticWorld, WorldConfig
from simulators.policies import make_policy

LEARNERS = ("bc", "bcq", "cql", "discrete_sac", "double_dqn", "iql")
ESTIMATORS = ("pdis", "wpdis", "dr", "fqe")
METRICS = ("total_return", "ctr", "retention", "depth")
EVAL_SEED = 50_000
MARKER = "leaderboard_offline.json"


def behaviour_settings(name: str, explore: float) -> dict[str, Any]:
    """The logging policy of one leaderboard as `make_policy` / `BehaviourConfig` settings
    (epsilon-greedy keeps its own epsilon; the others get uniform exploration mixed in)."""
    if name == "epsilon_greedy":
        return {"policy": name, "policy_kwargs": {"epsilon": explore}}
    return {"policy": name, "explore": explore}


def behaviour_policy(name: str, explore: float) -> Any:
    """The logging policy itself."""
    settings = behaviour_settings(name, explore)
    return make_policy(settings["policy"], settings.get("explore", 0.0),
                       **settings.get("policy_kwargs", {}))


# ------------------------------------------------------------------ scoring
def truth(agent: Any, env_id: str, n_users: int, seed: int, **env_kwargs: Any
          ) -> pd.DataFrame:
    """Per-user episode metrics of `agent` (sampling when it is stochastic)."""
    table = evaluate(agent, env_id, n_users=n_users, seed=seed, deterministic=False,
                     **env_kwargs)
    return table.attrs["episodes"][list(METRICS)]


def off_policy(held: TrajectoryDataset, agent: Any, args: argparse.Namespace, seed: int
               ) -> dict[str, list[float]]:
    """Each estimator's [value, lo, hi] for `agent` on the held-out episodes."""
    fqe = FQEConfig(n_steps=args.fqe_steps, target_update=args.fqe_target_update, seed=seed)
    results = estimate(held, agent, ESTIMATORS, gamma=1.0, n_bootstrap=100, seed=seed,
                       fqe=fqe)
    return {name: [r.value, *r.ci95] for name, r in results.items()}


def on_policy(held: TrajectoryDataset) -> dict[str, list[float]]:
    """The held-out episodes' mean return with its t-interval (the behaviour's own
    value, which every estimator reduces to on its own log up to model error)."""
    row = summary_table(pd.DataFrame({"r": held.episode_returns()})).loc["r"]
    value = [float(row["mean"]), float(row["ci95_lo"]), float(row["ci95_hi"])]
    return {"logged": value}


def aggregate(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean over seeds; truth intervals over the pooled episodes."""
    pooled = pd.concat([r["episodes"] for r in per_seed], ignore_index=True)
    table = summary_table(pooled)
    row: dict[str, Any] = {}
    for metric in METRICS:
        means = [float(r["episodes"][metric].mean()) for r in per_seed]
        row[metric] = {"mean": float(np.mean(means)), "lo": float(table.loc[metric, "ci95_lo"]),
                       "hi": float(table.loc[metric, "ci95_hi"]),
                       "per_seed": [round(m, 3) for m in means]}
    ope: dict[str, list[float]] = {}
    scored = [r["ope"] for r in per_seed if r["ope"]]
    for name in scored[0] if scored else ():
        ope[name] = [float(np.mean([r[name][i] for r in scored])) for i in range(3)]
    row["ope"] = ope
    row["fit_s"] = float(np.mean([r.get("fit_s", 0.0) for r in per_seed]))
    return row


# ------------------------------------------------------------------ synthetic
def seed_runs(policy_name: str, seed: int, args: argparse.Namespace
              ) -> tuple[dict[str, dict[str, Any]], float]:
    """One seed of one behaviour policy's leaderboard: a fresh log, its episodes, and every
    learner trained on them and scored (truth and OPE); returns the runs by row name and
    the logged return."""
    world = SyntheticWorld(WorldConfig(n_users=max(2000, args.users), n_items=args.items),
                           seed=0)
    config = EnvConfig()
    policy = behaviour_policy(policy_name, args.explore)
    runs: dict[str, dict[str, Any]] = {}
    start = time.perf_counter()
    log = world.generate_log(policy, n_users=args.users,
                             max_sessions=config.max_sessions + 1, seed=1000 + seed)
    data = episodes_from_log(log, config, args.reward_weights, simulator=world,
                             episodes_per_user=1)
    train, held = data.split_by_user(args.held_out, seed=seed)
    logged = float(data.episode_returns().mean())
    env_kwargs = {"world": world, "config": config, "reward_weights": data.reward_weights}
    print(f"[{policy_name} seed {seed}] {train.n_episodes} training episodes "
          f"({train.n_steps} steps), {held.n_episodes} held out; logged return "
          f"{logged:.2f}; built in {time.perf_counter() - start:.1f} s", flush=True)
    eval_seed = EVAL_SEED + 10_000 * seed

    behaviour = BehaviourAgent.create(train, BehaviourConfig(
        seed=seed, **behaviour_settings(policy_name, args.explore)))
    runs["behaviour"] = {
        "episodes": truth(behaviour, "RecGym/Synthetic-v0", args.eval_users, eval_seed,
                          **env_kwargs),
        "ope": on_policy(held) if seed < args.ope_seeds else {}}
    for name in args.agents:
        start = time.perf_counter()
        agent = make(name, train, seed, world, args.agent_kwargs)
        agent.fit(train, args.steps)
        fit_s = time.perf_counter() - start
        episodes = truth(agent, "RecGym/Synthetic-v0", args.eval_users, eval_seed,
                         **env_kwargs)
        start = time.perf_counter()
        ope = off_policy(held, agent, args, seed) if seed < args.ope_seeds else {}
        runs[name] = {"episodes": episodes, "ope": ope, "fit_s": fit_s}
        line = (f"  {name}: true return {episodes['total_return'].mean():.2f}, "
                + ", ".join(f"{k} {v[0]:.2f}" for k, v in ope.items())
                + f" (fit {fit_s:.0f} s, OPE {time.perf_counter() - start:.0f} s)")
        if getattr(agent, "stochastic", False):
            greedy = evaluate(agent, "RecGym/Synthetic-v0", n_users=args.eval_users,
                              seed=eval_seed, **env_kwargs).attrs["episodes"]
            runs[f"{name} (greedy)"] = {"episodes": greedy[list(METRICS)], "ope": {}}
            line += f"; greedy {greedy['total_return'].mean():.2f}"
        print(line, flush=True)
    return runs, logged


@dataclass(frozen=True)
class SeedJob:
    """`seed_runs` of one (behaviour policy, seed), written to `out/<policy>-<seed>/`
    (`runs.json`, and each row's episodes as `<i>.csv`): a job for `map_jobs`."""

    args: argparse.Namespace
    out: Path

    def __call__(self, item: tuple[str, int], report: Report) -> None:
        """Run one seed, write its results and report its seconds."""
        torch.set_num_threads(self.args.threads)
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        runs, logged = seed_runs(*item, self.args)
        folder = self.out / f"{item[0]}-{item[1]}"
        folder.mkdir(parents=True, exist_ok=True)
        for i, run in enumerate(runs.values()):
            run["episodes"].to_csv(folder / f"{i}.csv", index=False)
        meta = {"logged": logged, "runs": [{"name": name, "ope": run["ope"],
                                            "fit_s": run.get("fit_s", 0.0)}
                                           for name, run in runs.items()]}
        (folder / "runs.json").write_text(json.dumps(meta))
        report({"seconds": time.perf_counter() - started})


def read_seed(folder: Path) -> tuple[dict[str, dict[str, Any]], float]:
    """What a `SeedJob` wrote: the runs by row name and the logged return."""
    meta = json.loads((folder / "runs.json").read_text())
    runs = {run["name"]: {"episodes": pd.read_csv(folder / f"{i}.csv"), "ope": run["ope"],
                          "fit_s": run["fit_s"]} for i, run in enumerate(meta["runs"])}
    return runs, float(meta["logged"])


def synthetic(args: argparse.Namespace) -> dict[str, Any]:
    """One leaderboard per behaviour policy in the synthetic world (the (policy, seed)
    blocks run with `--engine`: here one by one, or as trials on Ray Tune)."""
    items = [(policy_name, seed) for policy_name in args.logs for seed in range(args.seeds)]
    try:
        out_dir = replace_output_dir(args.out, MARKER, {"args": str(vars(args))})
    except InputError as error:
        raise SystemExit(f"error: {error}") from None
    script_jobs(SeedJob(args, out_dir), items, args, out_dir,
                describe=lambda item: f"{item[0]} seed {item[1]}")
    out: dict[str, Any] = {}
    for policy_name in args.logs:
        runs: dict[str, list[dict[str, Any]]] = {}
        logged = []
        for seed in range(args.seeds):
            seed_result, logged_return = read_seed(out_dir / f"{policy_name}-{seed}")
            logged.append(logged_return)
            for name, run in seed_result.items():
                runs.setdefault(name, []).append(run)
        out[policy_name] = {"rows": {k: aggregate(v) for k, v in runs.items()},
                            "logged_return": logged,
                            "explore": args.explore}
        print(table(out[policy_name]["rows"], f"synthetic, {describe(policy_name, args)}"),
              flush=True)
        out[policy_name]["goal"] = goal(out[policy_name]["rows"])
        print(out[policy_name]["goal"], flush=True)
    return out


def describe(policy_name: str, args: argparse.Namespace) -> str:
    if policy_name == "epsilon_greedy":
        return f"epsilon-greedy log (epsilon {args.explore})"
    return f"diversity-aware log ({args.explore:g} uniform exploration)"


# ------------------------------------------------------------------ KuaiRand
def kuairand(args: argparse.Namespace) -> dict[str, Any]:
    """Agents trained on the KuaiRand-Pure training users, scored in the simulator fitted
    to them and by OPE on the held-out users."""
    from offline_data import load_kuairand
    from recgym.offline import BehaviourConfig as ModelConfig
    from recgym.offline import fit_behaviour
    from simulators import SimulatorConfig, fit

    start = time.perf_counter()
    log = load_kuairand(args.kuairand)
    train_log, test_log = log.split_by_user(args.held_out, seed=0)
    sim = fit(train_log, SimulatorConfig(progress=False, seed=0))
    sim_s = time.perf_counter() - start
    config = EnvConfig()
    train = episodes_from_log(train_log, config, simulator=sim)
    held = episodes_from_log(test_log, config, simulator=sim)
    train, model = fit_behaviour(train, ModelConfig(use_user_id=False, seed=0,
                                                    num_threads=args.threads))
    held = model.apply(held)
    env_kwargs = {"simulator": sim, "config": config, "reward_weights": train.reward_weights}
    print(f"[kuairand] simulator fitted in {sim_s:.0f} s; {train.n_episodes} training "
          f"episodes ({train.n_steps} steps), {held.n_episodes} held out ({held.n_steps} "
          f"steps); behaviour model held-out "
          + ", ".join(f"{k} {model.report['heldout'][k]:.4f}"
                      for k in ("logloss", "top1_accuracy", "top10_accuracy"))
          + f", fitted in "
          f"{model.report['fit']['seconds']} s; "
          f"ready after {time.perf_counter() - start:.0f} s", flush=True)
    embeddings = np.random.default_rng(0).normal(size=(train.spec.n_items, 32))
    rows: dict[str, Any] = {}
    behaviour = BehaviourAgent.from_model(model, train, BehaviourConfig(seed=0))
    candidates: list[tuple[str, Any, float]] = [("behaviour", behaviour, 0.0)]
    for name in args.agents:
        begin = time.perf_counter()
        agent = make(name, train, 0, embeddings, args.agent_kwargs)
        agent.fit(train, args.kuairand_steps)
        candidates.append((name, agent, time.perf_counter() - begin))
    for name, agent, fit_s in candidates:
        begin = time.perf_counter()
        episodes = truth(agent, "RecGym/Logged-v0", args.eval_users, EVAL_SEED, **env_kwargs)
        ope = off_policy(held, agent, args, 0)
        rows[name] = aggregate([{"episodes": episodes, "ope": ope, "fit_s": fit_s}])
        print(f"  {name}: simulator return {episodes['total_return'].mean():.2f}, "
              + ", ".join(f"{k} {v[0]:.2f}" for k, v in ope.items())
              + f" (fit {fit_s:.0f} s, scoring {time.perf_counter() - begin:.0f} s)",
              flush=True)
    logged = float(held.episode_returns().mean())
    print(table(rows, "KuaiRand-Pure, fitted simulator / OPE on held-out users"))
    print(f"held-out users' logged return per episode: {logged:.2f}")
    print(goal(rows), flush=True)
    return {"rows": rows, "held_out_logged_return": logged, "steps": args.kuairand_steps,
            "goal": goal(rows),
            "behaviour_model": model.report}


# ------------------------------------------------------------------ output
def cell(value: list[float] | None) -> str:
    if not value:
        return "-"
    return f"{value[0]:.1f} [{value[1]:.1f}, {value[2]:.1f}]"


def table(rows: dict[str, Any], title: str) -> str:
    head = ("| agent | true return [95%] | CTR | retention | depth | per seed | "
            + " | ".join(ESTIMATORS) + " |")
    lines = [f"\n{title}\n", head, "|" + "---|" * (6 + len(ESTIMATORS))]
    order = sorted(rows, key=lambda k: -rows[k]["total_return"]["mean"])
    for name in order:
        row = rows[name]
        ret = row["total_return"]
        ope = row["ope"]
        if "logged" in ope:
            estimates = [f"{cell(ope['logged'])} (logged)"] + ["-"] * (len(ESTIMATORS) - 1)
        else:
            estimates = [cell(ope.get(e)) for e in ESTIMATORS]
        lines.append(
            f"| {name} | **{ret['mean']:.1f}** [{ret['lo']:.1f}, {ret['hi']:.1f}] | "
            f"{row['ctr']['mean']:.3f} | {row['retention']['mean']:.3f} | "
            f"{row['depth']['mean']:.2f} | "
            + ", ".join(f"{v:.1f}" for v in ret["per_seed"]) + " | "
            + " | ".join(estimates) + " |")
    return "\n".join(lines)


def goal(rows: dict[str, Any]) -> str:
    """Does the best offline learner beat BC and the behaviour policy on true return with
    disjoint 95% intervals?"""
    baselines = [k for k in rows if k in ("behaviour", "bc", "bc (greedy)")]
    learners = [k for k in rows if k not in baselines]
    if not learners or not baselines:
        return "goal: not checked (no learner or no baseline)"
    best = max(learners, key=lambda k: rows[k]["total_return"]["mean"])
    top = max(baselines, key=lambda k: rows[k]["total_return"]["hi"])
    b, t = rows[best]["total_return"], rows[top]["total_return"]
    verdict = "MET" if b["lo"] > t["hi"] else "NOT met"
    return (f"goal {verdict}: best learner {best} {b['mean']:.1f} [{b['lo']:.1f}, "
            f"{b['hi']:.1f}] vs {top} {t['mean']:.1f} [{t['lo']:.1f}, {t['hi']:.1f}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--users", type=int, default=1200, help="users per synthetic log")
    parser.add_argument("--items", type=int, default=150, help="items of the synthetic world")
    parser.add_argument("--steps", type=int, default=3000, help="gradient steps (synthetic)")
    parser.add_argument("--eval-users", type=int, default=1000)
    parser.add_argument("--held-out", type=float, default=0.25,
                        help="share of users held out for OPE")
    parser.add_argument("--explore", type=float, default=0.1,
                        help="epsilon of the epsilon-greedy log; uniform exploration mixed "
                             "into the diversity-aware log")
    parser.add_argument("--ope-seeds", type=int, default=1,
                        help="OPE for the first this many seeds (FQE dominates the time)")
    parser.add_argument("--fqe-steps", type=int, default=2000)
    parser.add_argument("--fqe-target-update", type=int, default=20,
                        help="FQE steps per iteration (steps / this should exceed the "
                             "episode length: gamma is 1)")
    parser.add_argument("--part", choices=("synthetic", "kuairand", "all"), default="all")
    parser.add_argument("--kuairand", type=Path, default=KUAIRAND)
    parser.add_argument("--kuairand-steps", type=int, default=1500)
    parser.add_argument("--logs", default="epsilon_greedy,diversity_aware",
                        help="behaviour policies of the synthetic logs")
    parser.add_argument("--agents", default=",".join(LEARNERS))
    parser.add_argument("--agent-kwargs", default="{}", help="JSON settings for every agent")
    parser.add_argument("--reward-weights", default=None,
                        help="JSON reward weights of the synthetic episodes (default: the "
                             "environment's, click + 5 x retention)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")
    parser.add_argument("--out", default="runs/leaderboard_offline",
                        help="folder for each synthetic seed's results (and Ray's state)")
    add_engine_options(parser)
    args = parser.parse_args()
    args.agents = [a for a in args.agents.split(",") if a]
    args.logs = [a for a in args.logs.split(",") if a]
    args.agent_kwargs = json.loads(args.agent_kwargs)
    if args.reward_weights is not None:
        args.reward_weights = json.loads(args.reward_weights)
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    result: dict[str, Any] = {"args": {k: (str(v) if isinstance(v, Path) else v)
                                       for k, v in vars(args).items()}}
    if args.part in ("synthetic", "all"):
        result["synthetic"] = synthetic(args)
    if args.part in ("kuairand", "all"):
        if args.kuairand.is_dir():
            result["kuairand"] = kuairand(args)
        else:
            print(f"kuairand: {args.kuairand} not found; KuaiRand part skipped")
    result["wall_s"] = round(time.perf_counter() - start, 1)
    print(f"\nwall time {result['wall_s'] / 60:.1f} min ({args.threads} torch thread(s))")
    if args.json:
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
