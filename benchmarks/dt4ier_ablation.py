"""DT4IER in the synthetic world, where the truth is known: the ablation table (full,
without each part, plain DT), the baselines on the same logged episodes (d3rlpy's
decision transformer with a scalar return-to-go, the click-only sequential recommender,
CQL, BC, the logging policy and random), and the RTG-prompt sensitivity of DT4IER.

Each seed draws its own log, split by user: one episode per user, written by two
recommenders at once as in an A/B test (`mixture`: half the users get the click-greedy
oracle, half the diversity-aware policy, each with 10% uniform exploration), so the log
holds both sides of the clicks-against-retention trade-off. (A single softmax logger
leaves the return-to-go nothing to condition on: with it, permuting the returns-to-go of
a trained DT4IER changed its cross-entropy by < 0.001 and prompts 0.2 to 1.2 changed its
CTR by < 0.002.)
every method learns from the training users, is evaluated online in the world that wrote
the log (the same evaluation users for all) and offline on the held-out users' sessions
(HR@10, NDCG@10, precision@10). Intervals are 95% t-intervals over the seeds.

    python benchmarks/dt4ier_ablation.py [--users 1000] [--seeds 0 1 2] [--steps 400]
        [--baseline-steps 3000] [--eval-users 300] [--out benchmarks/out/dt4ier]
        [--dt-kwargs '{"dropout": 0.2}'] [--smoke] [--combine] [--json FILE]
    python benchmarks/dt4ier_ablation.py --run runs/dt4ier-kr [--eval-users 300]

Prints the tables (markdown) and writes `results.json` and `rtg_prompt.png` to --out
(`--json FILE`: the same results also to FILE).
With `--run`, only the RTG-prompt sweep of a trained `recgym offline --algo dt4ier` run,
in the run's own simulator (e.g. the one fitted to KuaiRand).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recgym.evaluate import t_interval
from recgym.report import interval_text as cell

VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "DT4IER (full)": ("dt4ier", {}),
    "- user weights": ("dt4ier", {"user_weights": False}),
    "- reward encoder": ("dt4ier", {"reward_encoder": False}),
    "- contrastive": ("dt4ier", {"contrastive": False}),
    "plain DT (all off)": ("dt", {}),
}
BASELINES = ("d3rlpy_dt", "seqrec", "cql", "bc", "behaviour", "random")
ONLINE = ("total_return", "long_term_return", "retention", "return_gap", "churn_rate", "ctr",
          "like_rate", "sessions")
OFFLINE = ("hr@10", "ndcg@10", "precision@10")
PROMPTS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2)
BEHAVIOUR, EXPLORE = "mixture", 0.1


def main() -> None:
    """Run the benchmark and print its tables."""
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.smoke:
        args.users, args.seeds, args.steps, args.baseline_steps = 150, [0], 20, 20
        args.eval_users = 20
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.run:
        sweep = prompt_summary(run_sweep(Path(args.run), args.eval_users))
        print_sweep(sweep)
        plot_sweep(sweep, out / "rtg_prompt_run.png")
        print(f"\nwrote {out / 'rtg_prompt_run.png'}")
        return
    for seed in args.seeds:
        if args.combine:
            break
        run_seed(seed, args, out / f"seed-{seed}.json")
    runs: dict[str, list[dict[str, float]]] = {}
    prompts: list[dict[str, float]] = []
    for seed in args.seeds:
        saved = json.loads((out / f"seed-{seed}.json").read_text())
        for label, metrics in saved["runs"].items():
            runs.setdefault(label, []).append(metrics)
        prompts += saved["prompts"]
    table = summary(runs)
    print_tables(table, args)
    sweep = prompt_summary(prompts)
    print_sweep(sweep)
    plot_sweep(sweep, out / "rtg_prompt.png")
    text = json.dumps({"settings": vars(args), "runs": runs, "summary": table,
                       "prompts": prompts}, indent=1, default=float)
    (out / "results.json").write_text(text)
    if args.json:
        Path(args.json).write_text(text)
    print(f"\nwrote {out / 'results.json'} and {out / 'rtg_prompt.png'}")


def run_seed(seed: int, args: argparse.Namespace, path: Path) -> None:
    """Every method on the log of one seed; the results go to `path` (so seeds can run
    in parallel processes and be combined with --combine)."""
    print(f"seed {seed}: building the log ({args.users} users)", flush=True)
    data = seed_data(args.users, seed, args.behaviour, args.explore)
    logging = {"policy": args.behaviour, "explore": args.explore}
    runs: dict[str, dict[str, float]] = {}
    prompts: list[dict[str, float]] = []
    methods = [(label, algo, settings, args.steps) for label, (algo, settings)
               in VARIANTS.items()]
    methods += [(algo, algo, {}, args.baseline_steps) for algo in BASELINES]
    for label, algo, settings, steps in methods:
        agent, seconds = trained(algo, data, seed, steps, {**settings, **args.dt_kwargs}
                                 if algo in ("dt4ier", "dt") else settings, logging)
        runs[label] = {**measure(agent, data, args.eval_users), "train_s": seconds}
        print(f"  seed {seed} {label}: {short(runs[label])}", flush=True)
        if label == "DT4IER (full)":
            prompts += prompt_sweep(agent, data.env_id, data.env_kwargs, args.eval_users,
                                    seed)
    path.write_text(json.dumps({"seed": seed, "runs": runs, "prompts": prompts}, indent=1,
                               default=float))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=400, help="DT gradient steps")
    parser.add_argument("--baseline-steps", type=int, default=3000)
    parser.add_argument("--eval-users", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/out/dt4ier")
    parser.add_argument("--behaviour", default=BEHAVIOUR, help="logging policy")
    parser.add_argument("--explore", type=float, default=EXPLORE)
    parser.add_argument("--smoke", action="store_true", help="a one-minute check")
    parser.add_argument("--run", help="a dt4ier run folder: its RTG-prompt sweep only")
    parser.add_argument("--combine", action="store_true",
                        help="only combine the seed-N.json files --out already holds")
    parser.add_argument("--json", default="", help="also write the results JSON to this file")
    parser.add_argument("--dt-kwargs", type=json.loads, default={},
                        help="settings of every DT variant, as JSON")
    return parser.parse_args()


def seed_data(users: int, seed: int, behaviour: str, explore: float) -> Any:
    """The training / held-out episodes and the world of one seed."""
    from agents.offline_runs import OfflineRunConfig
    from agents.offline_runs.data import prepare

    config = OfflineRunConfig(users=users, seed=seed, behaviour=behaviour, explore=explore)
    with tempfile.TemporaryDirectory() as folder:
        data = prepare(config, Path(folder), progress=False)
    return data


def trained(algo: str, data: Any, seed: int, steps: int, settings: dict[str, Any],
            logging: dict[str, Any]) -> tuple[Any, float]:
    """A trained agent of `algo` and its training time (s); `logging` is the logging
    policy (what the 'behaviour' agent replays)."""
    import recgym
    from agents.offline_runs.training import new_agent
    from agents.registry import agent_class, make_agent

    start = time.perf_counter()
    if algo == "random":
        agent = make_agent("random", recgym.make_vec(data.env_id, 2, **data.env_kwargs))
        return agent, 0.0
    base = {"seed": seed, **settings}
    if algo == "behaviour":
        base.update(logging)
    agent = new_agent(algo, data, base)
    if agent_class(algo).learns:
        agent.fit(data.train, steps)
    return agent, time.perf_counter() - start


def measure(agent: Any, data: Any, users: int) -> dict[str, float]:
    """Online metrics in the world (evaluation users seeded 10,000...) and ranking metrics
    on the held-out sessions."""
    from agents.offline.session_ranking import can_rank, session_ranking
    from recgym.evaluate import evaluate

    table = evaluate(agent, data.env_id, n_users=users, seed=10_000, **data.env_kwargs)
    out = {m: float(table.loc[m, "mean"]) for m in ONLINE if m in table.index}
    if can_rank(agent):
        ranking = session_ranking(agent, data.heldout, 10)
        out.update({m: ranking[m] for m in OFFLINE})
    return out


def prompt_sweep(agent: Any, env_id: str, env_kwargs: dict[str, Any], users: int,
                 seed: int) -> list[dict[str, float]]:
    """DT4IER's online CTR, retention and long-term return at each RTG prompt."""
    from recgym.evaluate import evaluate

    rows = []
    original = agent.config
    for prompt in PROMPTS:
        agent.config = replace(original, rtg_prompt=prompt)
        agent.reset_memory()
        table = evaluate(agent, env_id, n_users=users, seed=10_000, **env_kwargs)
        rows.append({"seed": seed, "prompt": prompt,
                     **{m: float(table.loc[m, "mean"]) for m in
                        ("ctr", "retention", "long_term_return", "total_return")}})
    agent.config = original
    agent.reset_memory()
    return rows


def run_sweep(folder: Path, users: int) -> list[dict[str, float]]:
    """The prompt sweep of a run's trained agent in the run's simulator."""
    from agents.offline_runs.data import LOGGED_ENV, saved_simulator
    from agents.offline_runs.training import read_offline_config
    from agents.registry import load_agent
    from agents.run_folder import AGENT_FOLDER
    from agents.run_kinds import run_environment

    config = read_offline_config(folder)
    env_id, env_kwargs = run_environment(folder)
    simulator = saved_simulator(config, folder)
    env_kwargs["world" if env_id != LOGGED_ENV else "simulator"] = simulator
    env_kwargs.pop("world_seed", None)
    agent = load_agent(folder / AGENT_FOLDER)
    return prompt_sweep(agent, env_id, env_kwargs, users, config.seed)


def summary(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, list[float]]]:
    """Per method and metric: [mean, lo, hi] over seeds."""
    return {label: {m: list(t_interval([r.get(m, float("nan")) for r in rows]))
                    for m in (*ONLINE, *OFFLINE, "train_s")}
            for label, rows in runs.items()}


def print_tables(table: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> None:
    print(f"\n## Online in the synthetic world ({args.eval_users} users, seeds "
          f"{args.seeds}; 95% intervals over seeds)\n")
    columns = ("total_return", "long_term_return", "retention", "churn_rate", "ctr",
               "like_rate")
    print("| method | " + " | ".join(columns) + " | train s |")
    print("|---" * (len(columns) + 2) + "|")
    for label, metrics in table.items():
        print(f"| {label} | " + " | ".join(cell(metrics[c], 2 if c == "total_return" else 3)
                                            for c in columns)
              + f" | {metrics['train_s'][0]:.0f} |")
    print("\n## Offline on the held-out users' sessions\n")
    print("| method | " + " | ".join(OFFLINE) + " |")
    print("|---" * (len(OFFLINE) + 1) + "|")
    for label, metrics in table.items():
        if np.isfinite(metrics["hr@10"][0]):
            print(f"| {label} | " + " | ".join(cell(metrics[c]) for c in OFFLINE) + " |")
    full, plain = table.get("DT4IER (full)"), table.get("plain DT (all off)")
    seqrec = table.get("seqrec")
    if full and plain:
        disjoint = full["long_term_return"][1] > plain["long_term_return"][2]
        ctr_loss = 1 - full["ctr"][0] / plain["ctr"][0]
        print(f"\nDT4IER vs plain DT: long-term return {cell(full['long_term_return'])} vs "
              f"{cell(plain['long_term_return'])} (disjoint: {disjoint}); CTR change "
              f"{-ctr_loss:+.1%}")
    if full and seqrec:
        print(f"DT4IER vs click-only seqrec: retention {cell(full['retention'])} vs "
              f"{cell(seqrec['retention'])}")


def prompt_summary(rows: list[dict[str, float]]) -> dict[float, dict[str, list[float]]]:
    """Per prompt and metric: [mean, lo, hi] over seeds."""
    out: dict[float, dict[str, list[float]]] = {}
    for prompt in PROMPTS:
        chosen = [r for r in rows if r["prompt"] == prompt]
        out[prompt] = {m: list(t_interval([r[m] for r in chosen]))
                       for m in ("ctr", "retention", "long_term_return", "total_return")}
    return out


def print_sweep(sweep: dict[float, dict[str, list[float]]]) -> None:
    print("\n## DT4IER: RTG prompt (fraction of the largest return-to-go in the log)\n")
    print("| prompt | ctr | retention | long_term_return | total_return |")
    print("|---|---|---|---|---|")
    for prompt, metrics in sweep.items():
        print(f"| {prompt} | {cell(metrics['ctr'])} | {cell(metrics['retention'])} | "
              f"{cell(metrics['long_term_return'])} | {cell(metrics['total_return'], 2)} |")


def plot_sweep(sweep: dict[float, dict[str, list[float]]], path: Path) -> None:
    """CTR and retention against the prompt, with the intervals over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prompts = list(sweep)
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for axis, metric in zip(axes, ("ctr", "retention"), strict=True):
        mean = np.array([sweep[p][metric][0] for p in prompts])
        lo = np.array([sweep[p][metric][1] for p in prompts])
        hi = np.array([sweep[p][metric][2] for p in prompts])
        axis.plot(prompts, mean, marker="o")
        axis.fill_between(prompts, lo, hi, alpha=0.25)
        axis.set_xlabel("RTG prompt (x the largest in the log)")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
    figure.suptitle("DT4IER in the synthetic world: the return-to-go prompt")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def short(metrics: dict[str, float]) -> str:
    keys = ("total_return", "long_term_return", "ctr", "hr@10", "train_s")
    return ", ".join(f"{k} {metrics[k]:.3f}" for k in keys if k in metrics)


if __name__ == "__main__":
    main()
