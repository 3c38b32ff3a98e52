"""Plain-text rendering of summaries for the command line."""

from __future__ import annotations

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
