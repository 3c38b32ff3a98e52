"""Sim2Rec transfer: policies trained on simulators fitted to a log, judged on simulators
they have not seen and on the world that wrote the log.

A set of `--k` simulators is fitted on a synthetic log (`--heldout` of them held out);
every policy gets the same PPO budget, encoder and hyperparameters:

- single:      PPO on one fitted simulator (the set's plain member 0)
- domain-rand: PPO on the training members, a member per episode, no extractor
- sim2rec:     context-aware PPO on the training members (extractor + parameter head)
- sim2rec-probe: the same with the head as a probe only (its loss does not train the
               extractor) -- the ablation of the parameter loss
- true-world:  PPO trained in the world itself (the upper bound; synthetic only)
- random:      uniform items (the floor)

and is evaluated on (a) the held-out members, (b) the true world, and (c) a shifted world:
the same users and items whose behaviour moved after the log was written (clicks less
driven by interest, more by popularity, less patience), a world between the set's members
rather than at its plain fit. Per target: episode return, CTR, retention and churn, means
over seeds with 95% t-intervals over seeds; the parameter head's R² on the held-out members
(pooled and per parameter); training seconds. `--kuairand DIR` runs the same on a set fitted
to KuaiRand-Pure (held-out members only: there is no truth).

    python benchmarks/sim2rec_transfer.py --seeds 3 [--steps 60000] [--spread 1]
        [--users 1000] [--eval-users 500] [--history 10] [--jobs 2] [--work DIR]
        [--json FILE]
        [--kuairand ../shared/data/kuairand-pure]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

import recgym
from agents import make_agent
from offline_data.log import InteractionLog
from recgym.envs.vector import RecVectorEnv
from recgym.evaluate import evaluate, t_interval
from recgym.report import interval_text as cell
from simulators import SimulatorConfig, SimulatorSet, held_out
from simulators.pipeline import fitting_world, synthetic_fitting_log
from simulators.synthetic import SyntheticWorld
from simulators.world_view import WorldAsLogged

POLICIES = ("single", "domain-rand", "sim2rec", "sim2rec-probe", "true-world", "random")
METRICS = ("total_return", "ctr", "retention", "churn_rate")
SHIFT = {"affinity_scale": 2.0, "popularity_scale": 0.8, "leave_bias": -2.7}
"""The shifted world's behaviour (the log's world: affinity 2.5, popularity 0.4, leave
bias -3.0)."""
PPO_SETTINGS: dict[str, Any] = {
    "encoder": "drr_ave", "gamma": 0.9, "net_arch": [128, 128, 128, 32],
    "algo_kwargs": {"n_steps": 64, "batch_size": 256, "n_epochs": 4, "ent_coef": 0.02,
                    "gae_lambda": 0.95, "clip_range": 0.2}}
"""The same for every policy: Sim2Rec's policy MLP and PPO settings (gamma 0.9 rather
than the paper's 0.99: recgym's episodes are up to five sessions of a few dozen steps)."""


def main() -> None:
    """Fit the sets, train and evaluate every policy for every seed, print the tables."""
    args = parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"args": vars(args)}
    sets = {"synthetic": synthetic_set(args, work)}
    if args.kuairand:
        sets["kuairand"] = kuairand_set(args, work)
    if args.identifiability:
        for name, folder in sets.items():
            check = identifiability(SimulatorSet.load(folder, device="cpu"), args.history)
            print(f"{name}: linear R² of member parameters from history statistics "
                  f"(random policy, history {args.history}): {check}")
        return
    for name, folder in sets.items():
        jobs = [(name, folder, seed, args) for seed in range(args.seeds)]
        started = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            runs = list(pool.map(run_seed, jobs))
        results[name] = {"runs": runs, "summary": summarise(runs),
                         "wall_s": round(time.perf_counter() - started, 1),
                         "set": SimulatorSet.load(folder, device="cpu").summary()}
        print_tables(name, results[name], args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))
        print(f"\nwrote {args.json}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60_000, help="PPO steps per policy")
    parser.add_argument("--k", type=int, default=8, help="members of the set")
    parser.add_argument("--heldout", type=int, default=2, help="held-out members")
    parser.add_argument("--spread", type=float, default=1.0,
                        help="width of the set's behaviour perturbations")
    parser.add_argument("--users", type=int, default=1000, help="users of the synthetic log")
    parser.add_argument("--days", type=float, default=7.0, help="days of the synthetic log")
    parser.add_argument("--eval-users", type=int, default=500)
    parser.add_argument("--n-envs", type=int, default=16)
    parser.add_argument("--history", type=int, default=10,
                        help="items (and feedback) in the observation's history")
    parser.add_argument("--jobs", type=int, default=2, help="seeds trained in parallel")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--work", default="/tmp/sim2rec_transfer",
                        help="folder for the fitted sets (reused when present)")
    parser.add_argument("--kuairand", default="", help="KuaiRand-Pure folder (optional)")
    parser.add_argument("--json", default="")
    parser.add_argument("--identifiability", action="store_true",
                        help="only the linear identifiability check of the sets")
    return parser.parse_args()


# ------------------------------------------------------------------ the sets
def synthetic_set(args: argparse.Namespace, work: Path) -> Path:
    """The set fitted on the synthetic log (fitted once per settings, then reused)."""
    folder = work / f"synthetic_u{args.users}_d{args.days:g}_k{args.k}_h{args.heldout}_" \
                    f"s{args.spread:g}"
    if not folder.exists():
        log, fraction = synthetic_log(args)
        fit_set(log, held_out(log, fraction), args, folder)
    return folder


def synthetic_log(args: argparse.Namespace) -> tuple[InteractionLog, float]:
    """The synthetic log (the same for every process: it is seeded)."""
    return synthetic_fitting_log(users=args.users, days=args.days, fresh_days=1.0, seed=0)


def kuairand_set(args: argparse.Namespace, work: Path) -> Path:
    """The set fitted on KuaiRand-Pure's standard log."""
    from offline_data import load_kuairand

    folder = work / f"kuairand_k{args.k}_h{args.heldout}_s{args.spread:g}"
    if not folder.exists():
        log = load_kuairand(args.kuairand)
        fit_set(log, held_out(log, 0.1), args, folder)
    return folder


def fit_set(log: InteractionLog, split: Any, args: argparse.Namespace, folder: Path) -> None:
    started = time.perf_counter()
    config = SimulatorConfig(progress=False, epochs=15, aux_epochs=8)
    sims = SimulatorSet.fit(log, args.k, config=config, n_heldout=args.heldout, seed=0,
                            split=split, spread=args.spread)
    sims.save(folder)
    print(f"fitted {folder.name} in {time.perf_counter() - started:.0f}s: "
          f"{sims.summary()['disagreement']:.4f} disagreement")


# ------------------------------------------------------------------ one seed
def run_seed(job: tuple[str, Path, int, argparse.Namespace]) -> dict[str, Any]:
    """Train every policy with `seed` and evaluate it on every target."""
    name, folder, seed, args = job
    torch.set_num_threads(1)
    sims = SimulatorSet.load(folder, device="cpu")
    worlds = synthetic_worlds(args, sims) if name == "synthetic" else {}
    history = {"history_len": args.history}
    targets = {"heldout": lambda n: recgym.make_vec("RecGym/SimSet-v0", n, simulator_set=sims,
                                                    members="heldout", **history)}
    for label, view in worlds.items():
        targets[label] = lambda n, view=view: RecVectorEnv(view, n, **history)
    out: dict[str, Any] = {"seed": seed}
    for policy in args.policies.split(","):
        if policy == "true-world" and "world" not in worlds:
            continue
        started = time.perf_counter()
        agent = trained(policy, sims, worlds, seed, args)
        row: dict[str, Any] = {"train_s": round(time.perf_counter() - started, 1)}
        for target, make in targets.items():
            table = evaluate(agent, make(min(args.eval_users, 256)), n_users=args.eval_users,
                             seed=10_000 + seed)
            row[target] = {m: float(table.loc[m, "mean"]) for m in METRICS}
        if policy.startswith("sim2rec"):
            row["param_r2"] = agent.param_r2(targets["heldout"](128), steps=200, seed=seed)
            row["param_r2_train"] = agent.param_r2(
                recgym.make_vec("RecGym/SimSet-v0", 128, simulator_set=sims, **history),
                steps=200, seed=seed)
        out[policy] = row
        print(f"[{name} seed {seed}] {policy}: {short(row)}", flush=True)
    return out


def synthetic_worlds(args: argparse.Namespace, sims: SimulatorSet) -> dict[str, WorldAsLogged]:
    """The true world and the shifted world, seen through the set's ids and features."""
    log, _ = synthetic_log(args)
    world = fitting_world(args.users, seed=0)
    shifted = SyntheticWorld(world.config.replace(**SHIFT), seed=0)
    return {"world": WorldAsLogged(world, log, sims[0]),
            "shifted": WorldAsLogged(shifted, log, sims[0])}


def trained(policy: str, sims: SimulatorSet, worlds: dict[str, WorldAsLogged], seed: int,
            args: argparse.Namespace) -> Any:
    """One policy trained for `args.steps` steps with `seed`."""
    n, history = args.n_envs, {"history_len": args.history}
    if policy == "random":
        env = recgym.make_vec("RecGym/SimSet-v0", n, simulator_set=sims, **history)
        return make_agent("random", env, seed=seed)
    if policy == "single":
        env = RecVectorEnv(sims[0], n, **history)
    elif policy == "true-world":
        env = RecVectorEnv(worlds["world"], n, **history)
    else:
        env = recgym.make_vec("RecGym/SimSet-v0", n, simulator_set=sims, **history)
    settings = {**PPO_SETTINGS, "seed": seed, "n_envs": n}
    if policy.startswith("sim2rec"):
        agent = make_agent("sim2rec", env, param_loss=policy == "sim2rec", **settings)
    else:
        agent = make_agent("ppo", env, **settings)
    return agent.fit(env, args.steps)


def identifiability(sims: SimulatorSet, history: int, users: int = 256, steps: int = 200
                    ) -> dict[str, float]:
    """How much the observation can tell about the member: least squares of the members'
    behaviour parameters on the history's click rate, the session step and index (a
    random policy, states with a full history), fitted on the training members and
    scored (R², members weighted equally, against the training mean) on fresh rows of the
    training members and on the held-out members."""
    from agents.sim2rec.agent import BEHAVIOUR_PARAMS
    from agents.sim2rec.param_head import param_columns, r_squared

    columns = param_columns(BEHAVIOUR_PARAMS)
    mean = sims.params[list(sims.train_indices)][:, columns].mean(axis=0)
    scale = sims.params[list(sims.train_indices)][:, columns].std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)

    def rows(members: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        env = recgym.make_vec("RecGym/SimSet-v0", users, simulator_set=sims,
                              members=members, history_len=history)
        obs, info = env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        x, y, g = [], [], []
        for _ in range(steps):
            full = obs["history_mask"].all(axis=1)
            clicks = obs["history_feedback"][:, :, 0].mean(axis=1)
            x.append(np.c_[clicks, obs["session_step"][:, 0], obs["session_index"][:, 0],
                           np.ones(users)][full])
            y.append((info["member_params"][:, columns][full] - mean) / scale)
            g.append(info["member"][full])
            obs, _, _, _, info = env.step(rng.integers(0, env.core.n_items, users))
        return np.concatenate(x), np.concatenate(y), np.concatenate(g)

    x, y, _ = rows("train", 1)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    out = {}
    for label, (xs, ys, gs) in (("train", rows("train", 2)), ("heldout", rows("heldout", 3))):
        out[label] = round(r_squared(xs @ coef, ys, reference=0.0, groups=gs)["pooled"], 3)
    return out


# ------------------------------------------------------------------ tables
def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per policy and target: [mean, lo, hi] over seeds of every metric; R² and time."""
    out: dict[str, Any] = {}
    for policy in POLICIES:
        rows = [r[policy] for r in runs if policy in r]
        if not rows:
            continue
        entry: dict[str, Any] = {"train_s": [r["train_s"] for r in rows]}
        for target in ("heldout", "world", "shifted"):
            if target in rows[0]:
                entry[target] = {m: list(t_interval([r[target][m] for r in rows]))
                                 for m in METRICS}
        for key in ("param_r2", "param_r2_train"):
            if key in rows[0]:
                entry[key] = {m: list(t_interval([r[key][m] for r in rows]))
                              for m in rows[0][key]}
        out[policy] = entry
    return out


def print_tables(name: str, result: dict[str, Any], args: argparse.Namespace) -> None:
    summary = result["summary"]
    print(f"\n# {name}: set of {args.k} ({args.heldout} held out, spread {args.spread:g}), "
          f"history {args.history}, {args.steps:,} PPO steps per policy, {args.seeds} seeds, "
          f"{args.eval_users} users per evaluation; 95% t-intervals over seeds; wall "
          f"{result['wall_s']}s")
    for target in ("heldout", "world", "shifted"):
        if not any(target in e for e in summary.values()):
            continue
        print(f"\n## {target}\n")
        print("| policy | return | CTR | retention | churn |\n|---|---|---|---|---|")
        for policy, entry in summary.items():
            if target in entry:
                m = entry[target]
                print(f"| {policy} | {cell(m['total_return'], 2)} | {cell(m['ctr'])} | "
                      f"{cell(m['retention'])} | {cell(m['churn_rate'])} |")
    print("\n## parameter head R² (held-out members; training members)\n")
    for policy, entry in summary.items():
        if "param_r2" in entry:
            held = ", ".join(f"{k[3:] or 'pooled'} {cell(v, 2)}" if k != "r2" else
                             f"pooled {cell(v, 2)}" for k, v in entry["param_r2"].items())
            print(f"- {policy}: held-out {held}; training pooled "
                  f"{cell(entry['param_r2_train']['r2'], 2)}")
    print(f"\n## training seconds per policy and seed (one thread; {args.jobs} seeds at "
          "a time, so a lone last seed runs faster)\n")
    for policy, entry in summary.items():
        print(f"- {policy}: {', '.join(f'{t:.0f}' for t in entry['train_s'])}")


def short(row: dict[str, Any]) -> str:
    parts = [f"{t} {row[t]['total_return']:.1f}/{row[t]['retention']:.3f}"
             for t in ("heldout", "world", "shifted") if t in row]
    if "param_r2" in row:
        parts.append(f"R2 {row['param_r2']['r2']:.2f}")
    return f"{'; '.join(parts)} ({row['train_s']}s)"


if __name__ == "__main__":
    main()
