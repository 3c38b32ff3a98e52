"""The end of a sweep: one table (per configuration, the mean and 95% interval over its
seeds of each metric's last evaluation) and one plot (reward curves, a band over seeds)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from agents.sweep.config import Trial
from agents.sweep.trial import final_metrics, is_finished
from agents.training import REPORTED
from recgym.evaluate import t_interval
from recgym.plot import plot_runs

SUMMARY_FILE = "summary.csv"
PLOT_FILE = "curves.png"


def sweep_table(trials: list[Trial], trials_dir: Path, metric: str, mode: str
                ) -> pd.DataFrame:
    """One row per configuration, best first by `metric`: `seeds` (its finished trials:
    failed or unfinished ones are left out) and, per metric, `<m>` (mean over seeds),
    `<m>_lo` / `<m>_hi` (95% t-interval; NaN with one seed). Configurations without a
    finished trial are left out."""
    finals: dict[str, list[dict[str, float]]] = {}
    for trial in trials:
        final = final_metrics(trials_dir / trial.name) if is_finished(
            trials_dir / trial.name) else {}
        if final:
            finals.setdefault(trial.configuration, []).append(final)
    metrics = [metric, *[m for m in REPORTED if m != metric]]
    rows = []
    for configuration, runs in finals.items():
        row: dict[str, object] = {"configuration": configuration, "seeds": len(runs)}
        for name in metrics:
            values = [r[name] for r in runs if name in r]
            if values:
                row[name], row[f"{name}_lo"], row[f"{name}_hi"] = t_interval(values)
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["configuration", "seeds", metric])
    table = pd.DataFrame(rows).set_index("configuration")
    return table.sort_values(metric, ascending=mode == "min", na_position="last")


def table_text(table: pd.DataFrame, metric: str, extra: tuple[str, ...] = ("ctr", "retention")
               ) -> str:
    """The table as aligned text: the metric with its interval, then a few other means."""
    if table.empty:
        return "no trial finished"
    shown = pd.DataFrame(index=table.index)
    shown["seeds"] = table["seeds"]
    shown[f"{metric} [95% CI]"] = [
        f"{row[metric]:.3f}" + ("" if pd.isna(row.get(f"{metric}_lo")) else
                                f" [{row[f'{metric}_lo']:.3f}, {row[f'{metric}_hi']:.3f}]")
        for _, row in table.iterrows()]
    for name in extra:
        if name in table and name != metric:
            shown[name] = table[name].map(lambda v: f"{v:.3f}")
    return shown.to_string()


def write_summary(table: pd.DataFrame, trials: list[Trial], trials_dir: Path, out: Path,
                  metric: str) -> list[Path]:
    """Write `summary.csv` and `curves.png` (the metric against steps, per configuration)
    into `out`; returns the files written."""
    written = [out / SUMMARY_FILE]
    table.to_csv(out / SUMMARY_FILE)
    folders = [trials_dir / t.name for t in trials if is_finished(trials_dir / t.name)]
    if folders:
        written.append(plot_runs(folders, out / PLOT_FILE, metrics=(metric,),
                                 title=f"sweep: {metric}", overwrite=True))
    return written
