"""Tables of the agent leaderboards and reproductions: each turns a benchmark's JSON into
markdown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from resultspage.markdown import bounds, generic_rows, interval, num, percent, pick, table


def online_leaderboard(result: Mapping[str, Any]) -> str:
    """`leaderboard_online.py --json`: every demo agent over seeds, metrics averaged over
    seeds, the return's interval over all evaluated users and its seed sd."""
    rows = result["results"]
    planner = any("fraction_of_planner" in r for r in rows)
    header = ["agent", "train steps", "s / seed", "CTR", "likes / step", "depth",
              "retention", "churn", "return gap (h)", "episode return", "95% CI", "seed sd"]
    body = []
    for r in rows:
        line = [r["agent"], num(r.get("steps") or None), num(r.get("seconds_per_seed"), 1),
                num(pick(r, "ctr")), num(pick(r, "like_rate")), num(pick(r, "depth"), 1),
                num(pick(r, "retention")), num(pick(r, "churn_rate")),
                num(pick(r, "return_gap"), 1), f"**{num(pick(r, 'total_return'), 1)}**",
                _ci(r.get("total_return_ci95")), num(r.get("total_return_seed_std"), 1)]
        if planner:
            line.append(percent(r.get("fraction_of_planner")))
        body.append(line)
    if planner:
        header.append("of planner")
    return (f"{result.get('seeds', '?')} seeds, {num(result.get('users'))} evaluation users "
            "per seed.\n\n" + table(header, body))


def _ci(value: Any, digits: int = 1) -> str:
    """An interval stored as [lo, hi] or already as text."""
    return value if isinstance(value, str) else bounds(value, digits)


def drr_reproduction(result: Mapping[str, Any]) -> str:
    """`drr_reproduction.py --json FILE`: the DRR paper's offline protocol on MovieLens-100k,
    every method beside the paper's figure, the ceiling, and the paper's ordering."""
    k = result.get("settings", {}).get("episode_steps", 20)
    rows = [*result["results"], result["ceiling"]] if result.get("ceiling") else list(
        result["results"])
    body = [[r["method"], f"**{num(r['avg_reward'], 4)}**", bounds(r["avg_reward_ci95"], 4),
             num(r.get("avg_reward_seed_sd"), 4), num(r.get("precision"), 4),
             num(r.get("ndcg"), 4), num(r.get("map"), 4), num(r.get("paper_avg_reward"), 4),
             num(r.get("seconds_per_seed"), 1)] for r in rows]
    text = (f"{num(result.get('train_users'))} training users, {num(result.get('test_users'))} "
            f"test users.\n\n"
            + table(["method", "avg reward", "95% CI", "seed sd", f"P@{k}", f"NDCG@{k}", "MAP",
                     "paper avg reward", "s / seed"], body))
    checks = result.get("ordering", [])
    if checks:
        text += "\n\nThe paper's ordering on average reward:\n\n" + "\n".join(
            f"- {c['better']} > {c['worse']}: {'holds' if c['holds'] else '**does not hold**'}"
            for c in checks)
    return text


def drr_ablation(result: Mapping[str, Any]) -> str:
    """`drr_ablation.py --json FILE`: one row per variant (mean return, interval, seed sd)."""
    rows = result.get("results", result.get("rows"))
    if not isinstance(rows, Sequence) or not rows:
        raise ValueError("expected a list of rows under 'results'")
    return generic_rows(rows, first=("variant", "mean_return", "return", "ci95",
                                     "return_ci95", "seed_sd", "return_seed_sd"))


def offline_agents(result: Mapping[str, Any]) -> str:
    """`bench_offline_agents.py --json`: true return of every offline agent on a synthetic
    log (mean over seeds), gradient steps per second there and on KuaiRand."""
    synthetic = result["synthetic"]
    rows = synthetic["rows"]
    speeds = result.get("kuairand", {}).get("steps_per_s", {})
    learners = sorted((k for k in rows if "per_seed_return" in rows[k]),
                      key=lambda k: -rows[k]["return"])
    others = [k for k in rows if k not in learners]
    body = [[name, f"**{num(r['return'], 1)}**", bounds([r["lo"], r["hi"]], 1), num(r["ctr"]),
             ", ".join(num(v, 1) for v in r.get("per_seed_return", [])) or "-",
             num(r.get("steps_per_s"), 0), num(speeds.get(name), 0)]
            for name, r in ((n, rows[n]) for n in [*learners, *others])]
    return (f"{synthetic['dataset']}; {num(synthetic['steps'])} gradient steps, "
            f"{synthetic['seeds']} seeds.\n\n"
            + table(["agent", "true return (synthetic)", "95% interval", "CTR", "per seed",
                     "steps/s synthetic", "steps/s KuaiRand"], body))


ESTIMATORS = ("pdis", "wpdis", "dr", "fqe")


def offline_leaderboard(result: Mapping[str, Any]) -> str:
    """`leaderboard_offline.py --json`: per log, every agent's true return beside its
    off-policy estimates, and the goal check."""
    parts = []
    for log, part in result.get("synthetic", {}).items():
        logged = ", ".join(num(v, 1) for v in part.get("logged_return", []))
        parts.append(f"**Synthetic, {log} log** (exploration {part.get('explore')}; logged "
                     f"return per seed {logged}):\n\n{_leaderboard(part['rows'])}\n\n"
                     f"{part.get('goal', '')}")
    if "kuairand" in result:
        part = result["kuairand"]
        parts.append(f"**KuaiRand-Pure sample** (one seed, {num(part.get('steps'))} steps; "
                     "return in the simulator fitted to the training users; held-out logged "
                     f"return {num(part.get('held_out_logged_return'), 2)}):\n\n"
                     f"{_leaderboard(part['rows'])}\n\n{part.get('goal', '')}")
    elif result.get("args", {}).get("part", "all") != "synthetic":
        parts.append("KuaiRand part: not run (the sample was absent).")
    return "\n\n".join(parts)


def _leaderboard(rows: Mapping[str, Any]) -> str:
    body = []
    for name in sorted(rows, key=lambda k: -rows[k]["total_return"]["mean"]):
        row, ope = rows[name], rows[name]["ope"]
        ret = row["total_return"]
        if "logged" in ope:
            estimates = [f"{interval(ope['logged'], 1)} (logged)"] + ["-"] * (
                len(ESTIMATORS) - 1)
        else:
            estimates = [interval(ope.get(e), 1) for e in ESTIMATORS]
        body.append([name, f"**{num(ret['mean'], 1)}** {bounds([ret['lo'], ret['hi']], 1)}",
                     num(row["ctr"]["mean"]), num(row["retention"]["mean"]),
                     num(row["depth"]["mean"], 2),
                     ", ".join(num(v, 1) for v in ret["per_seed"]), *estimates])
    return table(["agent", "true return [95%]", "CTR", "retention", "depth", "per seed",
                  *ESTIMATORS], body)


def sweep_scaling(result: Mapping[str, Any]) -> str:
    """`bench_sweep.py --json`: the same trials plainly, on Ray with 1 and 2 workers."""
    rows = [["plain loop (no Ray)", num(result["plain_s"], 1), "", ""],
            ["Ray, 1 worker", num(result["ray_1_worker_s"], 1),
             num(result["overhead_per_trial_s"], 2), ""],
            ["Ray, 2 workers", num(result["ray_2_workers_s"], 1), "",
             f"**{num(result['speedup_2_over_1'], 2)}**"]]
    note = (f"{result['trials']} trials of {num(result['steps_per_trial'])} steps; Ray's "
            f"start-up {num(result['ray_startup_s'], 1)} s (not counted); "
            f"{result['machine']}.")
    return table(["run", "seconds", "overhead per trial (s)", "speed-up over 1 worker"],
                 rows) + "\n\n" + note
