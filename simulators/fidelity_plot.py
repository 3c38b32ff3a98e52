"""`fidelity.png`: reliability diagrams per binary signal and the session-length and
return-gap distributions of the held-out part of a log against the simulator's replay."""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from offline_data.shared.units import HOUR_S
from simulators.calibration import expected_calibration_error

BINS = 10
"""Points per reliability curve: deciles of each model's predictions."""
MIN_POSITIVES = 100
"""A signal's reliability diagram is drawn when it has this many held-out positives (and
negatives): with fewer, ten points of about ten positives each are mostly noise."""
STYLE: dict[str, dict[str, Any]] = {
    "simulator": {"color": "C0", "lw": 2.2, "marker": "o"},
    "simulator, uncalibrated": {"color": "C0", "lw": 1.2, "ls": "--", "marker": ".",
                                "alpha": 0.7},
    "popularity": {"color": "C1", "lw": 1.4, "marker": "s", "ms": 4},
    "user-item": {"color": "C2", "lw": 1.4, "marker": "^", "ms": 4},
}


@dataclass
class FidelityData:
    """The held-out arrays behind a fidelity report's plot."""

    outcomes: dict[str, np.ndarray]
    """Per binary signal: the held-out rows' logged values (0 or 1)."""
    predictions: dict[str, dict[str, np.ndarray]]
    """Per binary signal: each model's probability on those rows ('simulator',
    'simulator, uncalibrated', 'popularity', 'user-item')."""
    replay: dict[str, np.ndarray]
    """`simulators.fidelity.replay_sessions` of the simulator."""
    uncalibrated_replay: dict[str, np.ndarray] | None = None
    """The same replay with the uncalibrated networks (None when there were no maps)."""


def reliability(y: np.ndarray, p: np.ndarray, bins: int = BINS
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean predicted probability, observed rate and row count per quantile bin of `p`
    (equal-count bins, so rare signals get as many points as common ones; ties kept in one
    bin)."""
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)[1:-1]))
    which = np.searchsorted(edges, p, side="right")
    count = np.bincount(which, minlength=len(edges) + 1)
    keep = count > 0
    mean_p = np.bincount(which, p, minlength=len(count))[keep] / count[keep]
    rate = np.bincount(which, y, minlength=len(count))[keep] / count[keep]
    return mean_p, rate, count[keep]


def fidelity_png(data: FidelityData, report: dict[str, Any], dpi: int = 110) -> bytes:
    """The plot as PNG bytes (matplotlib's Agg canvas; no global pyplot state): one
    reliability diagram per binary signal with at least `MIN_POSITIVES` held-out positives
    and negatives (up to four a row; rarer signals are named, their curves would be noise),
    then the session-length and return-gap distributions."""
    counts = {name: (int(y.sum()), int(len(y) - y.sum())) for name, y in data.outcomes.items()}
    shown = [name for name, (pos, neg) in counts.items() if min(pos, neg) >= MIN_POSITIVES]
    if not shown and counts:
        shown = list(counts)[:1]
    rare = [f"{name} ({counts[name][0]})" for name in counts if name not in shown]
    columns = min(4, max(len(shown), 2))
    rows = max(1, -(-len(shown) // columns))
    fig = Figure(figsize=(4.6 * columns, 4.5 * rows + 4.3), layout="constrained")
    FigureCanvasAgg(fig)
    parts = fig.subfigures(2, 1, height_ratios=[4.5 * rows, 4.0], squeeze=False)
    top, bottom = parts[0, 0], parts[1, 0]
    info = report.get("data", {})
    source = str(info.get("source", "a log"))
    if "/" in source and "(" not in source:  # a path: its last part names the data
        source = source.rstrip("/").rsplit("/", 1)[-1]
    title = (f"Fidelity of the simulator fitted to {source}; held out: "
             f"{info.get('held_out', '?')}")
    if rare:
        title += (f". Reliability not drawn for signals with under {MIN_POSITIVES} held-out "
                  f"positives: {', '.join(rare)}")
    fig.suptitle("\n".join(textwrap.wrap(title, 30 * columns)), fontsize=12)
    axes = top.subplots(rows, columns, squeeze=False).ravel()
    for ax, name in zip(axes, shown, strict=False):
        _reliability_panel(ax, name, data.outcomes[name], data.predictions[name])
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    length_ax, gap_ax = bottom.subplots(1, 2)
    _length_panel(length_ax, data, report.get("session_length", {}))
    _gap_panel(gap_ax, data, report.get("return_gap", {}))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _reliability_panel(ax: Axes, name: str, y: np.ndarray, models: dict[str, np.ndarray]
                       ) -> None:
    high = 0.0
    for model, p in models.items():
        p = np.clip(np.asarray(p, np.float64), 0.0, 1.0)
        mean_p, rate, _ = reliability(y, p)
        ece = expected_calibration_error(y, p)
        short = "uncalibrated" if model == "simulator, uncalibrated" else model
        ax.plot(mean_p, rate, label=f"{short} (ECE {ece:.4f})",
                **STYLE.get(model, {"lw": 1.2, "marker": "."}))
        high = max(high, float(mean_p.max()), float(rate.max()))
    high = min(1.0, high * 1.08 + 1e-3)
    ax.plot([0, high], [0, high], color="0.6", lw=1, ls=":", label="ideal")
    ax.set_xlim(0, high)
    ax.set_ylim(0, high)
    ax.set_aspect("equal")
    ax.set_title(f"{name}: reliability on held-out rows\n(rate {y.mean():.3f}, "
                 f"{len(y):,} rows; points: deciles of each model)", fontsize=10)
    ax.set_xlabel(f"predicted P({name})")
    ax.set_ylabel(f"observed {name} rate")
    ax.grid(alpha=0.3)
    # the curves run near the diagonal, which never enters the upper-left corner
    ax.legend(fontsize=7.5, loc="upper left")


def _survival(lengths: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    steps = np.arange(1, top + 1)
    return steps, (lengths[:, None] >= steps[None, :]).mean(axis=0)


def _length_panel(ax: Axes, data: FidelityData, stats: dict[str, Any]) -> None:
    log_len = data.replay["log_length"]
    top = int(max(np.quantile(log_len, 0.999), 5))
    curves: list[tuple[str, np.ndarray, dict[str, Any]]] = [
        ("log", log_len, {"color": "k", "lw": 2.2}),
              ("simulator", data.replay["sim_length"], STYLE["simulator"] | {"marker": None})]
    if data.uncalibrated_replay is not None:
        curves.append(("simulator, uncalibrated", data.uncalibrated_replay["sim_length"],
                       STYLE["simulator, uncalibrated"] | {"marker": None}))
    for label, lengths, style in curves:
        steps, share = _survival(lengths, top)
        ax.step(steps, share, where="post", label=f"{label} (mean {lengths.mean():.2f})",
                **style)
    ax.set_yscale("log")
    ax.set_xlim(1, top)
    ax.set_title(f"session length of the held-out sessions, replayed\n({len(log_len):,} "
                 f"sessions; KS {stats.get('ks', float('nan')):.3f})", fontsize=10)
    ax.set_xlabel("steps in the session")
    ax.set_ylabel("share of sessions with at least that many steps")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)


def _gap_panel(ax: Axes, data: FidelityData, stats: dict[str, Any]) -> None:
    """CDF of the observed return gaps (hours): the log's, and the simulator's censored at
    the end of the log as the log's are."""
    replay = data.replay
    log_gap = replay["log_gap"]
    log_h = np.sort(log_gap[~np.isnan(log_gap)] / HOUR_S)
    curves: list[tuple[str, np.ndarray, dict[str, Any]]] = [("log", log_h,
                                                             {"color": "k", "lw": 2.2})]
    for label, source in (("simulator", replay), ("simulator, uncalibrated",
                                                   data.uncalibrated_replay)):
        if source is None:
            continue
        seen = source["sim_gap"] <= source["window_left"]
        style = STYLE[label] | {"marker": None}
        curves.append((label, np.sort(source["sim_gap"][seen] / HOUR_S), style))
    for label, hours, style in curves:
        if not len(hours):
            continue
        share = np.arange(1, len(hours) + 1) / len(hours)
        ax.step(hours, share, where="post",
                label=f"{label} (mean {hours.mean():.1f} h, {len(hours):,} seen)", **style)
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_title("return gap after the held-out sessions\n(returns before the log ends; "
                 f"KS {stats.get('ks', float('nan')):.3f})", fontsize=10)
    ax.set_xlabel("hours until the next session (log scale)")
    ax.set_ylabel("share of returns within that time")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left")
