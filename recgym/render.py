"""What recgym environments render: a text view ("ansi", "human") and a small picture
("rgb_array") of one user's state: the recent history with its feedback, the last slate
with each item's response, and the reward vector. numpy only (no plotting library)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from offline_data.shared.errors import InputError

if TYPE_CHECKING:
    from recgym.core import RecCore

RENDER_MODES = ("ansi", "human", "rgb_array")
RENDER_FPS = 4
CELL = 10
"""Pixels per cell of the picture."""


def check_render_mode(render_mode: str | None, modes: tuple[str, ...] = RENDER_MODES
                      ) -> str | None:
    """`render_mode` if it is None or one of `modes`, else an `InputError`."""
    if render_mode is not None and render_mode not in modes:
        raise InputError(f"render_mode must be one of {', '.join(map(repr, modes))} or None, "
                         f"got {render_mode!r}")
    return render_mode


@dataclass(frozen=True)
class RowView:
    """One user's state as rendered. History arrays are most recent first; `slate` and
    the reward fields are None before the first step of an episode."""

    user: int
    session: int
    session_step: int
    steps: int
    n_items: int
    signal_names: tuple[str, ...]
    signal_low: np.ndarray
    signal_high: np.ndarray
    history_items: np.ndarray
    """(history_len,) item ids, n_items where empty."""
    history_feedback: np.ndarray
    """(history_len, n_signals)."""
    slate: np.ndarray | None = None
    """(k,) item ids shown at the last step."""
    slate_feedback: np.ndarray | None = None
    """(k, n_signals) each shown item's response."""
    reward_names: tuple[str, ...] = ()
    reward_vector: np.ndarray | None = None
    reward: float | None = None
    ended: bool = False
    """The episode has ended (the next step needs a reset)."""


@dataclass(frozen=True)
class StepRecord:
    """One row's last step, as rendered: the slate, each item's response, the reward."""

    slate: np.ndarray
    slate_feedback: np.ndarray
    reward_vector: np.ndarray
    reward: float


def view_of(core: RecCore, row: int, last: StepRecord | None = None,
            ended: bool = False) -> RowView:
    """What is drawn for row `row` of an engine; `last` is its last step (None right after
    a reset); `ended` says the episode is over."""
    spec = core.spec
    return RowView(
        user=int(core.user[row]), session=int(core.session[row]),
        session_step=int(core.session_step[row]), steps=int(core.steps[row]),
        n_items=core.n_items, signal_names=tuple(core.signal_names),
        signal_low=np.asarray(spec.signal_low), signal_high=np.asarray(spec.signal_high),
        history_items=core.hist_items[row].copy(),
        history_feedback=core.hist_feedback[row].copy(),
        slate=None if last is None else last.slate,
        slate_feedback=None if last is None else last.slate_feedback,
        reward_names=tuple(core.reward_names),
        reward_vector=None if last is None else last.reward_vector,
        reward=None if last is None else last.reward, ended=ended)


def _number(value: float) -> str:
    """A value with at most two decimals, no trailing zeros ("0.32", "1", "nan")."""
    text = f"{value:.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def text(view: RowView) -> str:
    """A plain-text view: the user, the last slate with each item's response, the history
    with its feedback (most recent first), and the reward vector."""
    widths = [max(len(n), 5) for n in view.signal_names]
    header = "  ".join(f"{n:>{w}}" for n, w in zip(view.signal_names, widths, strict=True))

    def row(label: str, values: np.ndarray) -> str:
        cells = "  ".join(f"{_number(float(v)):>{w}}"
                          for v, w in zip(values, widths, strict=True))
        return f"{label:<16}{cells}"

    where = (f"episode ended after {view.steps} steps ({view.session} sessions finished)"
             if view.ended else f"session {view.session + 1}, step {view.session_step} "
             f"(episode step {view.steps})")
    lines = [f"user {view.user}  {where}",
             f"{'last slate':<16}{header}"]
    if view.slate is None or view.slate_feedback is None:
        lines.append("  (no step yet)")
    else:
        lines += [row(f"  {pos}: item {int(item)}", fb) for pos, (item, fb) in
                  enumerate(zip(view.slate, view.slate_feedback, strict=True))]
    lines.append(f"{'history':<16}{header}")
    shown = [row(f"  item {int(item)}", fb) for item, fb in
             zip(view.history_items, view.history_feedback, strict=True) if item < view.n_items]
    lines += shown or ["  (empty)"]
    if view.reward_vector is not None and view.reward is not None:
        parts = ", ".join(f"{n} {_number(float(v))}"
                          for n, v in zip(view.reward_names, view.reward_vector, strict=True))
        lines.append(f"reward {_number(view.reward)} = weighted ({parts})")
    return "\n".join(lines)


def _hues(ids: np.ndarray) -> np.ndarray:
    """A distinct colour per id (golden-ratio hues), (n, 3) uint8."""
    h = (np.asarray(ids, np.float64) * 0.6180339887) % 1.0
    k = (np.array([5.0, 3.0, 1.0]) + h[:, None] * 6.0) % 6.0
    rgb = 1.0 - 0.7 * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return (rgb * 255).astype(np.uint8)


def _shade(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Signal values -> (..., 3) uint8: white at the low bound, dark blue at the high one."""
    finite = np.isfinite(low) & np.isfinite(high) & (high > low)
    span = np.where(finite, high - low, 1.0)
    t = np.where(finite, (values - np.where(finite, low, 0.0)) / span,
                 np.abs(values) / (1.0 + np.abs(values)))
    t = np.clip(t, 0.0, 1.0)[..., None]
    white, blue = np.array([250.0, 250.0, 250.0]), np.array([20.0, 60.0, 160.0])
    return (white + t * (blue - white)).astype(np.uint8)


def _block(items: np.ndarray, feedback: np.ndarray, view: RowView, columns: int
           ) -> np.ndarray:
    """A band of cells: an item-colour strip over one cell row per signal; empty slots
    grey."""
    n_sig = len(view.signal_names)
    cells = np.full((1 + n_sig, columns, 3), 200, np.uint8)
    present = items < view.n_items
    n = len(items)
    cells[0, :n][present] = _hues(items[present])
    shades = _shade(feedback.T, view.signal_low[:, None], view.signal_high[:, None])
    cells[1:, :n][:, present] = shades[:, present]
    return cells


def picture(view: RowView) -> np.ndarray:
    """A small (H, W, 3) uint8 picture: the user's colour, the last slate (an item-colour
    strip over each item's signals), the history the same way, and the reward vector
    (green bars up for positive parts, red for negative)."""
    n_hist = len(view.history_items)
    k = 0 if view.slate is None else len(view.slate)
    n_reward = len(view.reward_names)
    columns = max(n_hist, k, n_reward, 1)
    n_sig = len(view.signal_names)
    gap = np.full((1, columns, 3), 255, np.uint8)
    user = np.repeat(_hues(np.array([view.user]))[None], columns, axis=1)
    if view.slate is None or view.slate_feedback is None:
        slate = np.full((1 + n_sig, columns, 3), 230, np.uint8)
    else:
        slate = _block(view.slate, view.slate_feedback, view, columns)
    history = _block(view.history_items, view.history_feedback, view, columns)
    bands = np.concatenate([user, gap, slate, gap, history, gap], axis=0)
    image = np.repeat(np.repeat(bands, CELL, axis=0), CELL, axis=1)
    image[:, ::CELL] = 255  # a thin white line between columns
    bars = np.full((3 * CELL, columns * CELL, 3), 255, np.uint8)
    if view.reward_vector is not None:
        values = np.asarray(view.reward_vector, np.float64)
        heights = np.round(np.abs(values) / max(1.0, float(np.abs(values).max()))
                           * (3 * CELL - 1)).astype(np.int64)
        for j, (h, v) in enumerate(zip(heights, values, strict=True)):
            if h:
                colour = (40, 160, 60) if v > 0 else (200, 50, 40)
                bars[3 * CELL - h:, j * CELL + 1:(j + 1) * CELL - 1] = colour
    return np.concatenate([image, bars], axis=0)
