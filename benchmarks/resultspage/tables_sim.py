"""Tables of the data, simulator and environment benchmarks: each turns a benchmark's JSON
into markdown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resultspage.markdown import count, duration, finite, num, table

BASELINES = ("popularity", "user_item")


def world_conflict(result: Mapping[str, Any]) -> str:
    """`world_conflict.py --json`: immediate against long-term engagement per policy."""
    rows = [[r["policy"], num(r["ctr"]), num(r["like_rate"]), num(r["watch_ratio"]),
             num(r["session_length"], 1), num(r["return_gap_h"], 1),
             num(r["clicks_per_user"], 1)] for r in result["results"]]
    return table(["policy", "CTR", "like rate", "watch ratio", "session length",
                  "return gap (h)", "clicks / user"], rows)


def fidelity(result: Mapping[str, Any]) -> str:
    """A `fidelity.json` (`recgym fit-sim`, `bench_unseen_log.py --json`): held-out metrics
    per signal beside the baselines (the best in bold) and before / after calibration, the
    replayed sessions, and the ground truth of a synthetic log."""
    data, fit = result.get("data", {}), result.get("fit", {})
    parts = [f"{data.get('source', '?')}: {num(data.get('interactions'))} rows, "
             f"{num(data.get('users'))} users, {num(data.get('items'))} items; held out: "
             f"{data.get('held_out', '?')}; simulator fit {duration(fit.get('seconds'))}."]
    parts.append(_signals(result))
    parts.append(_sessions(result))
    if "ground_truth" in result:
        parts.append(_ground_truth(result["ground_truth"]))
    if "set" in result:
        parts.append(f"Simulator set fitted too ({duration(result['set'].get('seconds'))}).")
    return "\n\n".join(parts)


def _signals(result: Mapping[str, Any]) -> str:
    baselines = result.get("baselines", {})
    calibration = result.get("calibration", {}).get("signals", {})
    rows = []
    for name, metrics in result["signals"].items():
        base = baselines.get(name, {})
        binary = "auc" in metrics
        key = "auc" if binary else "rmse"
        cal = calibration.get(name, {})
        ece = (f"{num(cal['ece_before'], 4)} -> {num(cal['ece_after'], 4)}" if cal
               else num(metrics.get("ece"), 4)) if binary else "-"
        noise = metrics.get("ece_noise", metrics.get("ece_floor")) if binary else None
        values = [metrics[key], *(base.get(b, {}).get(key) for b in BASELINES)]
        known = [v for v in values if finite(v)]
        best = (max if binary else min)(known) if known else None
        rows.append([name, key.upper(),
                     *(f"**{num(v)}**" if v == best else num(v) for v in values),
                     ece, num(noise, 4)])
    return table(["signal", "metric", "simulator", "popularity only", "user-item only",
                  "ECE (before -> after maps)", "ece_noise"], rows)


def _sessions(result: Mapping[str, Any]) -> str:
    raw = result.get("calibration", {}).get("uncalibrated_sessions", {})
    rows = []
    for key, label in (("session_length", "session length (steps)"),
                       ("return_gap", "return gap (h)")):
        if key not in result:
            continue
        now, before = result[key], raw.get(key, {})
        rows.append([label, num(now["log_mean"], 2),
                     f"{num(before.get('sim_mean'), 2)} ({num(before.get('ks'))})",
                     f"{num(now['sim_mean'], 2)} ({num(now['ks'])})"])
    return ("Replayed held-out sessions, means (KS in brackets):\n\n"
            + table(["figure", "log", "simulator without maps", "simulator"], rows))


def _ground_truth(truth: Mapping[str, Any]) -> str:
    rows = [
        ["Pearson r of simulated vs true click probability", num(truth["prob_corr"])],
        ["click AUC vs oracle AUC", f"{num(truth['auc'])} vs {num(truth['oracle_auc'])}"],
        ["mean session length, simulator vs world",
         f"{num(truth['session_length_sim'], 2)} vs {num(truth['session_length_world'], 2)} "
         f"({num(100 * truth['session_length_rel_err'], 1)}%)"],
        ["mean return gap (h), simulator vs world",
         f"{num(truth['return_gap_sim_h'], 1)} vs {num(truth['return_gap_world_h'], 1)} "
         f"({num(100 * truth['return_gap_rel_err'], 1)}%)"]]
    return "Against the world that wrote the log:\n\n" + table(["figure", "measured"], rows)


def simulator_throughput(result: Mapping[str, Any]) -> str:
    """`bench_simulator.py --json`: `respond` and full-step user-steps/s by batch size."""
    rows = [[num(r["batch"]), count(r["user_steps_per_s"]),
             count(r["full_step_user_steps_per_s"])] for r in result["results"]]
    signals = ", ".join(result.get("signals", []))
    return (f"Signals: {signals}; device {result.get('device', '?')}, "
            f"{result.get('torch_threads', '?')} torch threads.\n\n"
            + table(["batch", "respond user-steps/s", "full step user-steps/s"], rows))


def env_throughput(result: Mapping[str, Any]) -> str:
    """`bench_env.py --json`: user-steps/s per environment and size, as ratios to RecSim
    timed in the same run."""
    peer = result.get("recsim_interest_evolution_steps_per_s")
    runs = ", ".join(count(r) for r in result.get("recsim_runs", []))
    head = (f"RecSim `interest_evolution` (one env) in this run: {count(peer)} steps/s "
            f"(median of {runs})." if peer else
            "**RecSim peer not measured in this run: no ratios** (its venv or timing script "
            "was missing).")
    rows = [[r["env"], "single" if r["num_envs"] == 0 else num(r["num_envs"]),
             count(r["user_steps_per_s"]), num(r["vs_recsim"], 2),
             ", ".join(count(v) for v in r.get("runs", []))] for r in result["results"]]
    return head + "\n\n" + table(["env", "num_envs", "user-steps/s", "x RecSim (same run)",
                                  "runs"], rows)


def loading(result: Mapping[str, Any]) -> str:
    """`bench_loading.py --json`: rows per second of each loader."""
    rows = [[r["case"], num(r["rows"]), num(r.get("kept")), num(r["seconds"], 2),
             count(r["rows_per_s"])] for r in result["results"]]
    return table(["case", "rows", "kept", "seconds", "rows/s"], rows)


def offline_data(result: Mapping[str, Any]) -> str:
    """`bench_offline.py --json`: the KuaiRand sample as episodes, Parquet and exports, each
    case in a fresh process with its peak memory."""
    rows: list[list[str]] = []
    if "build" in result:
        b = result["build"]
        rows += [["load_kuairand", f"{num(b['rows'])} rows", num(b["load_s"], 2), ""],
                 ["episodes_from_log", f"{num(b['steps'])} steps, {num(b['episodes'])} "
                  "episodes", num(b["build_s"], 2), ""],
                 ["load + build (fresh process)", "", f"**{num(b['load_and_build_s'], 2)}**",
                  count(b.get("peak_rss_mb_build"))],
                 ["to_parquet", f"{num(b['parquet_mb'], 0)} MiB", num(b["parquet_write_s"], 2),
                  ""],
                 ["from_parquet (same process)", "", num(b["parquet_read_s"], 2),
                  count(b.get("peak_rss_mb"))]]
    if "exports" in result:
        e = result["exports"]
        rows += [["export d3rlpy (h5)", f"{num(e['d3rlpy_mb'], 0)} MiB",
                  num(e["d3rlpy_write_s"], 1), ""],
                 ["export minari (hdf5)", f"{num(e['minari_mb'], 0)} MiB",
                  num(e["minari_write_s"], 1), count(e.get("peak_rss_mb"))]]
    for key, label in (("behaviour", "behaviour model (KuaiRand)"),
                       ("synthetic", "behaviour model (synthetic)")):
        if key in result:
            r = result[key]
            rows.append([label, f"{r['fit']['epochs_run']} epochs, "
                         f"{num(r['fit']['train_steps'])} training steps",
                         num(r["fit_and_apply_s"], 2), count(r.get("peak_rss_mb"))])
    if not rows:
        return "No case ran (the KuaiRand sample was absent)."
    return table(["case", "size", "seconds", "peak RSS (MiB)"], rows)
