"""Plain-text rendering of summaries for the command line."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def _fmt(value: float) -> str:
    if value != value:  # NaN
        return "-"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def quantile_row(label: str, stats: dict[str, float], unit: str = "") -> str:
    """One line: label, mean and quantiles."""
    cells = "  ".join(f"{k}={_fmt(v)}" for k, v in stats.items() if k != "mean")
    return f"  {label:<20} mean={_fmt(stats['mean'])}{unit}  {cells}"


def log_summary_text(summary: dict[str, Any]) -> str:
    """Render `offline_data.summarize(...)` as an aligned text block."""
    w = summary["window"]
    lines = [
        f"log: {summary['source']}",
        f"  users          {summary['users']:>12,}   (id space {summary['user_id_space']:,})",
        f"  items          {summary['items']:>12,}   (id space {summary['item_id_space']:,})",
        f"  interactions   {summary['interactions']:>12,}",
        f"  sessions       {summary['sessions']:>12,}   (gap > {summary['session_gap_s']} s; "
        f"{summary['censored_sessions']:,} censored)",
        f"  window         {w['start']} .. {w['end']} ({w['days']} days)",
        "signals:",
    ]
    for name, stats in summary["signals"].items():
        if stats["kind"] == "binary":
            lines.append(f"  {name:<20} binary      rate={stats['rate']:.4f}")
        else:
            lines.append(
                f"  {name:<20} continuous  mean={stats['mean']:.4g} std={stats['std']:.4g} "
                f"range=[{stats['min']:.4g}, {stats['max']:.4g}]"
            )
    lines += [
        "sessions:",
        quantile_row("length (steps)", summary["session_length"]),
        quantile_row("per user", summary["sessions_per_user"]),
        quantile_row("return gap (hours)", summary["return_gap_hours"]),
    ]
    for key, label in (("user_features", "user features"), ("item_features", "item features"),
                       ("context_columns", "context columns")):
        names = summary.get(key)
        if names:
            shown = ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12
                                             else "")
            lines.append(f"{label}: {shown}")
    return "\n".join(lines)


def fidelity_text(report: dict[str, Any]) -> str:
    """Render a `fidelity.json` report as a readable table."""
    data = report["data"]
    lines = [f"fidelity of the simulator fitted to {data['source']}",
             f"  held out: {data['held_out']}; fit took {report['fit']['seconds']} s", "",
             f"  {'signal':<14} {'metric':<8} {'simulator':>10} {'popularity':>11} "
             f"{'user-item':>10} {'mean':>8}"]
    baselines = report.get("baselines", {})
    for name, metrics in report["signals"].items():
        base = baselines.get(name, {})
        for metric, value in metrics.items():
            cells = [base.get(k, {}).get(metric) for k in ("popularity", "user_item", "mean")]
            text = "".join(f"{c:>11.4f}" if c is not None else f"{'':>11}" for c in cells)
            lines.append(f"  {name:<14} {metric:<8} {value:>10.4f}{text}")
    calibration = report.get("calibration")
    if calibration:
        lines += ["", "  calibration (Platt maps fitted on the validation slice), held-out ECE "
                      "before -> after:"]
        for name, entry in calibration["signals"].items():
            base = baselines.get(name, {}).get("user_item_uncalibrated")
            after = baselines.get(name, {}).get("user_item")
            other = (f"   (user-item {base['ece']:.4f} -> {after['ece']:.4f})"
                     if base and after else "")
            lines.append(f"    {name:<14} {entry['ece_before']:.4f} -> {entry['ece_after']:.4f}"
                         f"   AUC {entry['auc_before']:.4f} -> {entry['auc_after']:.4f}{other}")
        leave = calibration.get("leave")
        if leave:
            lines.append(f"    {'leave hazard':<14} {leave['val_ece_before']:.4f} -> "
                         f"{leave['val_ece_after']:.4f}   (validation slice)")
    lines.append("")
    before = (calibration or {}).get("uncalibrated_sessions", {})
    for key, label, unit in (("session_length", "session length", "steps"),
                             ("return_gap", "return gap", "hours")):
        s = report[key]
        raw = before.get(key)
        note = (f"  (uncalibrated: sim mean {raw['sim_mean']:.2f}, KS {raw['ks']:.3f})"
                if raw else "")
        lines.append(f"  {label:<15} log mean {s['log_mean']:8.2f}  sim mean {s['sim_mean']:8.2f}"
                     f"  KS {s['ks']:.3f}  ({unit}){note}")
    truth = report.get("ground_truth")
    if truth:
        lines += ["", "  ground truth (synthetic world, held-out days):",
                  f"    click prob corr {truth['prob_corr']:.3f}   AUC {truth['auc']:.4f} vs "
                  f"oracle {truth['oracle_auc']:.4f}",
                  f"    session length {truth['session_length_sim']:.2f} vs world "
                  f"{truth['session_length_world']:.2f} ({truth['session_length_rel_err']:.1%})"
                  f"   return gap {truth['return_gap_sim_h']:.1f} h vs world "
                  f"{truth['return_gap_world_h']:.1f} h ({truth['return_gap_rel_err']:.1%})"]
    sim_set = report.get("set")
    if sim_set:
        key = f"{sim_set['primary']}_auc"
        aucs = ", ".join(f"{m[key]:.3f}{'*' if m['heldout'] else ''}" for m in sim_set["members"])
        lines += ["", f"  simulator set: {len(sim_set['members'])} members, {key} {aucs} "
                      f"(* held out); disagreement {sim_set['disagreement']:.4f}"]
    return "\n".join(lines)


def metrics_text(table: Any, title: str = "") -> str:
    """An evaluation table (`recgym.evaluate`) as aligned text: mean and 95% interval."""
    lines = [title] if title else []
    lines.append(f"  {'metric':<22} {'mean':>10} {'95% interval':>24} {'n':>6}")
    for name, row in table.iterrows():
        interval = f"[{row['ci95_lo']:.4g}, {row['ci95_hi']:.4g}]"
        lines.append(f"  {name:<22} {row['mean']:>10.4g} {interval:>24} {int(row['n']):>6}")
    return "\n".join(lines)


def interval_text(values: Sequence[float], digits: int = 3) -> str:
    """`mean [lo, hi]` for a (mean, lo, hi) triple; the mean alone when the bounds are
    not finite (one seed), `-` when the mean is not."""
    mean, lo, hi = (float(v) for v in values)
    if not math.isfinite(mean):
        return "-"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
