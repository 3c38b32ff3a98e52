"""Reward curves: several agents in one figure, a band over seeds, a grid of metrics."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from offline_data.shared.errors import InputError
from offline_data.shared.figures import figure_format, write_figure, written_by_recgym
from recgym.runs import read_run

METRIC_ALIASES = {"reward": "total_return", "return": "total_return", "click": "ctr"}
LABELS = {
    "total_return": "episode return", "reward_per_step": "reward per step", "ctr": "CTR",
    "depth": "session depth (steps)", "retention": "retention", "return_gap": "return gap (h)",
    "sessions": "sessions per user", "churn_rate": "churn rate",
    "like_rate": "likes per shown item", "watch_time": "watch ratio per shown item",
}
IMMEDIATE_VS_LONG_TERM = ("ctr", "reward_per_step", "like_rate", "total_return", "depth",
                          "retention")


def _steps_label(value: float, _: int) -> str:
    return f"{value / 1000:g}k" if abs(value) >= 1000 else f"{value:g}"


STEP_LABELS = {"online": "environment steps", "offline": "gradient steps"}
"""What a run's steps count, by its kind (`config.json["kind"]`)."""


def metric_name(name: str) -> str:
    """Canonical metric name (`reward` means the episode return)."""
    return METRIC_ALIASES.get(name, name)


def plot_runs(runs: Sequence[str | Path], out: str | Path,
              metrics: Sequence[str] = ("total_return",), title: str | None = None,
              overwrite: bool = False) -> Path:
    """Plot `metrics` against training steps for the runs, grouped by agent name: the mean
    over the runs of an agent (its seeds) with a shaded min-max band; agents that do not
    train (one evaluation) are dashed reference lines. Writes the image format that `out`
    names (`.png`, `.pdf`, `.svg`, ...); an existing file that recgym did not write is
    replaced only with `overwrite=True`."""
    if not runs:
        raise InputError("plot needs at least one run folder")
    if Path(out).is_dir():
        raise InputError(f"--out {out} is a folder; give a file name such as curves.png")
    figure_format(out)
    if Path(out).exists() and not overwrite and not written_by_recgym(out):
        raise InputError(f"--out {out} already exists and is not a figure recgym wrote; "
                         "choose another file name, or pass --overwrite to replace it")
    groups: dict[str, list[pd.DataFrame]] = defaultdict(list)
    kinds: set[str] = set()
    for run in runs:
        config, frame = read_run(run)
        kinds.add(config.get("kind", "online"))
        groups[str(config.get("name") or config.get("agent") or config.get("algo")
                   or Path(run).name)].append(frame)
    names = [metric_name(m) for m in metrics]
    xlabel = STEP_LABELS[kinds.pop()] if len(kinds) == 1 else "training steps"
    for name in names:
        if not any(name in f for frames in groups.values() for f in frames):
            known = sorted({c for fs in groups.values() for f in fs for c in f.columns} -
                           {"step", "wall_time"})
            raise InputError(f"no run has metric {name!r}; known: {', '.join(known)}")
    cols = 2 if len(names) == 4 else min(len(names), 3)
    rows = int(np.ceil(len(names) / cols))
    fig = Figure(figsize=(5.2 * cols, 3.6 * rows))  # no pyplot: no global state, no GUI
    axes = fig.subplots(rows, cols, squeeze=False)
    colours = colormaps["tab10"]
    for i, name in enumerate(names):
        ax = axes[i // cols][i % cols]
        for j, (agent, frames) in enumerate(sorted(groups.items())):
            usable = [f[["step", name]].dropna() for f in frames if name in f]
            if not usable:
                continue
            steps = np.unique(np.concatenate([u["step"].to_numpy() for u in usable]))
            curves = np.stack([np.interp(steps, u["step"], u[name]) for u in usable])
            colour = colours(j % 10)
            label = agent if len(usable) == 1 else f"{agent} ({len(usable)} seeds)"
            if len(steps) == 1:  # an agent that does not train: a reference line
                ax.axhline(curves.mean(), color=colour, label=label, linestyle="--",
                           linewidth=1.4)
                continue
            ax.plot(steps, curves.mean(axis=0), color=colour, label=label, linewidth=1.8,
                    marker="o" if len(steps) < 4 else None)
            if len(usable) > 1:
                ax.fill_between(steps, curves.min(axis=0), curves.max(axis=0), color=colour,
                                alpha=0.18)
        ax.set_title(LABELS.get(name, name))
        ax.set_xlabel(xlabel)
        ax.xaxis.set_major_formatter(FuncFormatter(_steps_label))
        ax.grid(alpha=0.3)
    for k in range(len(names), rows * cols):
        axes[k // cols][k % cols].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    longest = max((len(label) for label in labels), default=0)
    ncol = max(1, min(len(labels), 5 if longest <= 18 else 2 if longest <= 36 * cols else 1))
    legend_rows = int(np.ceil(len(labels) / ncol))
    fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, min(0.5, 0.03 + 0.05 * legend_rows / rows), 1, 1))
    return write_figure(fig, out, overwrite=overwrite)
