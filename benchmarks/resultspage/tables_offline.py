"""Tables of the off-policy evaluation, DT4IER and Sim2Rec benchmarks: each turns a
benchmark's JSON into markdown."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import Any

from resultspage.markdown import bounds, finite, interval, num, percent, table


def ope_validation(result: Mapping[str, Any]) -> str:
    """`ope_validation.py --json`: every estimator's estimate of every target beside the
    truth, then each estimator's rank correlation and errors, and the goal check."""
    d = result["dataset"]
    rows = result["rows"]
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    names = list(dict.fromkeys(r["estimator"] for r in rows))
    body = []
    for policy in policies:
        mine = {r["estimator"]: r for r in rows if r["policy"] == policy}
        first = next(iter(mine.values()))
        cells = [f"{num(r['estimate'], 2)} {bounds(r['ci95'], 2)} "
                 f"({percent(_signed(r), signed=True)})" for r in
                 (mine[n] for n in names if n in mine)]
        body.append([policy, f"{num(first['truth'], 2)} {bounds(first['truth_ci95'], 2)}",
                     *cells])
    per = result["estimators"]
    summary = [[n, num(per[n]["spearman"], 2), percent(per[n]["max_rel_error"]),
                percent(per[n]["mean_rel_error"]), percent(per[n]["mean_signed_error"], True),
                f"{num(per[n]['covered'], 0)} of {num(per[n]['targets'], 0)}"] for n in names]
    best = result["best"]
    met = best["error_goal_met"] and best["rank_goal_met"]
    return (f"{num(d['episodes'])} logged episodes, {num(d['steps'])} steps (mean length "
            f"{num(d['mean_length'], 1)}), logged return {num(d['logged_return'], 2)}. Cells: "
            "estimate [95% bootstrap interval] (signed error against the truth).\n\n"
            + table(["policy", "truth [95% CI]", *names], body) + "\n\n"
            + table(["estimator", "Spearman", "max rel. error", "mean rel. error",
                     "mean signed error", "truth in 95% CI"], summary)
            + f"\n\nBest estimator (smallest largest error): {best['estimator']}, max error "
            f"{percent(best['max_rel_error'])}, Spearman {num(best['spearman'], 2)}: goal "
            f"{'met' if met else '**not met**'}; meeting both: "
            f"{', '.join(best['any_meeting_both']) or 'none'}.")


def _signed(row: Mapping[str, Any]) -> float:
    truth = row["truth"]
    return (row["estimate"] - truth) / abs(truth) if finite(truth) and truth else math.nan


def fqe_crosscheck(result: Mapping[str, Any]) -> str:
    """`fqe_crosscheck.py --json`: recgym's FQE and WDR and d3rlpy's DiscreteFQE against
    the truth, for CQL with and without masking recently seen items."""
    body = []
    for r in result["rows"]:
        truth = r["truth"]

        def cell(value: float, truth: float = truth) -> str:
            return f"{num(value, 2)} ({percent((value - truth) / truth, signed=True)})"

        body.append([r["policy"], f"{num(truth, 2)} {bounds(r['truth_ci95'], 2)}",
                     cell(r["recgym_fqe"]), cell(r["recgym_wdr"]), cell(r["d3rlpy_fqe"]),
                     f"{num(r['recgym_s'], 0)} / {num(r['d3rlpy_s'], 0)}"])
    return (f"{num(result.get('train_episodes'))} training and "
            f"{num(result.get('heldout_episodes'))} held-out episodes.\n\n"
            + table(["CQL policy", "truth [95%]", "recgym fqe", "recgym wdr",
                     "d3rlpy DiscreteFQE", "fit s (recgym / d3rlpy)"], body))


DT_ONLINE = (("total_return", "episode return", 1), ("long_term_return", "long-term return", 2),
             ("retention", "retention", 3), ("churn_rate", "churn", 3), ("ctr", "CTR", 3),
             ("like_rate", "like rate", 3))
DT_OFFLINE = ("hr@10", "ndcg@10", "precision@10")


def dt4ier_ablation(result: Mapping[str, Any]) -> str:
    """`dt4ier_ablation.py --json FILE`: online metrics of every variant and baseline in
    the world, ranking on the held-out sessions, and the RTG-prompt sweep."""
    table_ = result["summary"]
    online = [[label, *(interval(m[key], digits) for key, _, digits in DT_ONLINE),
               num(m["train_s"][0], 0)] for label, m in table_.items()]
    offline = [[label, *(interval(m[key]) for key in DT_OFFLINE)]
               for label, m in table_.items() if finite(m.get("hr@10", [math.nan])[0])]
    settings = result.get("settings", {})
    seeds = settings.get("seeds", "?")
    seeds = ", ".join(str(s) for s in seeds) if isinstance(seeds, list) else seeds
    text = (f"{num(settings.get('users'))} logged users per seed, seeds {seeds}, "
            f"{num(settings.get('eval_users'))} evaluation users; "
            "95% t-intervals over seeds.\n\n"
            + table(["method", *(label for _, label, _ in DT_ONLINE), "train s"], online)
            + "\n\nOffline, on the held-out users' sessions:\n\n"
            + table(["method", "HR@10", "NDCG@10", "precision@10"], offline))
    prompts: dict[float, list[Mapping[str, float]]] = {}
    for row in result.get("prompts", []):
        prompts.setdefault(row["prompt"], []).append(row)
    if prompts:
        sweep = [[f"{p:g}", *(num(statistics.fmean(r[m] for r in rows), d) for m, d in
                            (("ctr", 3), ("retention", 3), ("long_term_return", 3),
                             ("total_return", 2)))] for p, rows in sorted(prompts.items())]
        text += ("\n\nDT4IER's RTG prompt (fraction of the largest logged return-to-go; means "
                 "over seeds):\n\n" + table(["prompt", "CTR", "retention", "long-term return",
                                             "episode return"], sweep))
    return text


def dt4ier_cost(result: Mapping[str, Any]) -> str:
    """`bench_dt4ier.py --json`: DT4IER's time per 100 gradient steps and peak memory on
    KuaiRand beside d3rlpy's decision transformer, and the smoke configuration."""
    labels = {"kuairand": "DT4IER, KuaiRand-Pure", "peer": "d3rlpy DiscreteDecisionTransformer",
              "smoke": "DT4IER smoke configuration (100 synthetic users)"}
    body = []
    for case, r in result.items():
        figures = ", ".join(f"{k} {num(v, 2)}" for k, v in r.items()
                            if k not in ("s_per_100_steps", "peak_rss_mb"))
        body.append([labels.get(case, case), num(r.get("s_per_100_steps"), 1),
                     num(r.get("peak_rss_mb"), 0), figures])
    text = table(["case", "s / 100 steps", "peak RSS (MiB)", "other figures"], body)
    if "kuairand" in result and "peer" in result:
        ratio = result["kuairand"]["s_per_100_steps"] / result["peer"]["s_per_100_steps"]
        text += f"\n\nDT4IER step time / peer step time (same run): **{ratio:.1f}x**."
    return text


POLICIES = {"single": "single fitted simulator", "domain-rand": "domain-randomised PPO",
            "sim2rec": "Sim2Rec", "sim2rec-probe": "Sim2Rec, head as probe only",
            "true-world": "PPO trained in the true world (upper bound)", "random": "random"}
TARGETS = (("heldout", "held-out members"), ("world", "true world"),
           ("shifted", "shifted world"))


def sim2rec_transfer(result: Mapping[str, Any]) -> str:
    """`sim2rec_transfer.py --json FILE`: episode return of every policy on the held-out
    members, the true world and the shifted world; the parameter head's R²."""
    args = result.get("args", {})
    parts = [f"{args.get('seeds', '?')} seeds, {num(args.get('steps'))} PPO steps per policy, "
             f"history {args.get('history', '?')}, spread {args.get('spread', '?')}; 95% "
             "t-intervals over seeds."]
    for name in ("synthetic", "kuairand"):
        if name in result:
            parts.append(_transfer(name, result[name]))
    return "\n\n".join(parts)


def _transfer(name: str, part: Mapping[str, Any]) -> str:
    summary = part["summary"]
    targets = [(k, label) for k, label in TARGETS if any(k in e for e in summary.values())]
    world = any("world" in e for e in summary.values())
    header = ["policy (episode return)", *(label for _, label in targets)]
    header += ["world CTR", "world retention"] if world else []
    body = []
    for policy, entry in summary.items():
        line = [POLICIES.get(policy, policy),
                *(interval(entry[k]["total_return"], 1) if k in entry else "-"
                  for k, _ in targets)]
        if world:
            line += [num(entry["world"]["ctr"][0]) if "world" in entry else "-",
                     num(entry["world"]["retention"][0]) if "world" in entry else "-"]
        body.append(line)
    r2 = [f"{POLICIES.get(p, p)} {interval(e['param_r2']['r2'], 2)} (training members "
          f"{interval(e['param_r2_train']['r2'], 2)})" for p, e in summary.items()
          if "param_r2" in e]
    seconds = "; ".join(f"{POLICIES.get(p, p)} {', '.join(num(t, 0) for t in e['train_s'])}"
                        for p, e in summary.items())
    return (f"**{name}** (wall {num(part.get('wall_s'), 0)} s):\n\n" + table(header, body)
            + ("\n\nParameter head R² on the held-out members: " + "; ".join(r2) + "."
               if r2 else "")
            + f"\n\nTraining seconds per seed: {seconds}.")
