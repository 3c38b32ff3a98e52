"""Logged episodes as sessions: the steps of a decision transformer over sessions
(DT4IER).

A session's state is the user's last `history` clicked items before it (within the
episode, most recent first), its action the first `list_size` items it showed (in the
order shown), its immediate reward the rate of the immediate signal over every item it
showed (e.g. its click rate) and its long-term reward the retention the environment paid
at its end. The return-to-go is 2-D and undiscounted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from offline_data.shared.errors import InputError
from recgym.offline.dataset import TrajectoryDataset

RETENTION = "retention"


@dataclass(frozen=True, eq=False)
class Sessions:
    """The sessions of a `TrajectoryDataset`, in episode order (arrays over sessions)."""

    episode: np.ndarray
    """(M,) episode of each session (0..E-1, sessions of one episode are consecutive)."""
    position: np.ndarray
    """(M,) the session's place in its episode (0, 1, ...)."""
    user: np.ndarray
    """(M,) user id."""
    user_features: np.ndarray
    """(M, F) float32 user features."""
    state: np.ndarray
    """(M, H) int64 last clicked items before the session, most recent first; `n_items`
    pads."""
    action: np.ndarray
    """(M, N) int64 the first N items shown, in order; `n_items` pads."""
    rewards: np.ndarray
    """(M, 2) float32 (immediate rate, long-term retention)."""
    returns_to_go: np.ndarray
    """(M, 2) float32 undiscounted sums of `rewards` from the session to the episode end."""
    known_outcome: np.ndarray
    """(M,) bool: the session's retention is known (not the last session of an episode the
    log cut short before the user's return)."""
    first_step: np.ndarray
    """(M,) row of the session's first step in the dataset."""
    clicked_start: np.ndarray
    """(M + 1,) offsets into `clicked`: the items of session m with a positive immediate
    signal are `clicked[clicked_start[m]:clicked_start[m + 1]]`."""
    clicked: np.ndarray
    """Clicked items of all sessions, concatenated."""

    @property
    def n_sessions(self) -> int:
        """Sessions in all episodes."""
        return len(self.episode)

    @property
    def n_episodes(self) -> int:
        """Episodes."""
        return int(self.episode[-1]) + 1

    def episode_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(start, stop) session indices of each episode."""
        starts = np.flatnonzero(np.r_[True, self.episode[1:] != self.episode[:-1]])
        return starts, np.r_[starts[1:], self.n_sessions]

    def clicked_of(self, session: int) -> np.ndarray:
        """Items of `session` with a positive immediate signal."""
        return self.clicked[self.clicked_start[session]:self.clicked_start[session + 1]]


def session_start_observations(dataset: TrajectoryDataset, sessions: Sessions
                               ) -> dict[str, np.ndarray]:
    """The observation at each session's first step (a batch over the sessions of
    `dataset`)."""
    return {key: values[sessions.first_step] for key, values in dataset.observations.items()}


def immediate_index(signal_names: Sequence[str], signal: str | None) -> int:
    """Index of the immediate signal (default: the primary one, the first) among a log's
    (or an observation's) signals; an `InputError` naming the known ones otherwise."""
    names = list(signal_names)
    if signal is None:
        return 0
    if signal not in names:
        raise InputError(f"immediate_signal {signal!r} is not a signal of the log; its "
                         f"signals: {', '.join(names)}")
    return names.index(signal)


def sessions_of(dataset: TrajectoryDataset, *, history: int, list_size: int,
                immediate_signal: str | None = None, min_sessions: int = 2) -> Sessions:
    """The sessions of `dataset` (see the module docstring). Raises an `InputError` when
    no episode has `min_sessions` sessions: a decision transformer needs a context of
    earlier sessions to learn from."""
    if RETENTION not in dataset.reward_names:
        raise InputError(f"{dataset.source}: the dataset has no {RETENTION!r} reward; build "
                         "it with recgym.offline.episodes_from_log")
    signal = immediate_index(dataset.spec.signal_names, immediate_signal)
    n, n_items = dataset.n_steps, dataset.spec.n_items
    obs = dataset.observations
    items = dataset.actions.reshape(n, -1).astype(np.int64)
    k = items.shape[1]
    feedback = _item_signal(dataset, items, signal)
    episode = dataset.episode
    session_index = obs["session_index"][:, 0].astype(np.int64)
    first = np.r_[True, (episode[1:] != episode[:-1]) | (session_index[1:]
                                                          != session_index[:-1])]
    session_of_step = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    m = len(starts)
    shown = np.bincount(session_of_step, minlength=m) * k
    immediate = np.bincount(session_of_step, weights=feedback.sum(axis=1), minlength=m)
    retention = np.bincount(session_of_step, minlength=m,
                            weights=dataset.reward_vectors[:, dataset.reward_names.index(
                                RETENTION)])
    rewards = np.stack([immediate / np.maximum(shown, 1), retention], axis=1)
    sess_episode = episode[starts]
    ep_first = np.r_[True, sess_episode[1:] != sess_episode[:-1]]
    ep_start = np.maximum.accumulate(np.where(ep_first, np.arange(m), 0))
    position = np.arange(m) - ep_start
    counts = np.bincount(sess_episode)
    if counts.max() < min_sessions:
        raise InputError(
            f"{dataset.source}: every episode has fewer than {min_sessions} sessions "
            f"(at most {counts.max()}); a decision transformer learns from a context of "
            f"earlier sessions, so give a log with at least {min_sessions} sessions per user "
            "(a longer time span, or a smaller session gap)")
    # flat stream of shown items, in order (a slate in slate order)
    flat_items = items.reshape(-1)
    flat_click = feedback.reshape(-1) > 0
    flat_session = np.repeat(session_of_step, k)
    session_flat_start = starts * k
    episode_flat_start = session_flat_start[ep_start]
    clicked_pos = np.flatnonzero(flat_click)
    before = np.searchsorted(clicked_pos, session_flat_start)
    back = before[:, None] - 1 - np.arange(history)[None, :]
    safe = np.clip(back, 0, max(len(clicked_pos) - 1, 0))
    valid = (back >= 0) & (clicked_pos[safe] >= episode_flat_start[:, None]) if len(
        clicked_pos) else np.zeros_like(back, dtype=bool)
    state = np.where(valid, flat_items[clicked_pos[safe]] if len(clicked_pos) else 0, n_items)
    take = session_flat_start[:, None] + np.arange(list_size)[None, :]
    in_session = take < session_flat_start[:, None] + shown[:, None]
    action = np.where(in_session, flat_items[np.minimum(take, len(flat_items) - 1)], n_items)
    rtg = _returns_to_go(rewards, sess_episode)
    last_of_episode = np.r_[sess_episode[1:] != sess_episode[:-1], True]
    step_end = np.r_[starts[1:], n] - 1
    cut_short = dataset.timeouts[step_end] & ~dataset.terminals[step_end]
    known = ~(last_of_episode & cut_short & (retention == 0))
    clicked_counts = np.bincount(flat_session[flat_click], minlength=m)
    return Sessions(
        episode=sess_episode.astype(np.int64), position=position.astype(np.int64),
        user=obs["user_id"][starts].astype(np.int64),
        user_features=obs["user_features"][starts].astype(np.float32),
        state=state.astype(np.int64), action=action.astype(np.int64),
        rewards=rewards.astype(np.float32), returns_to_go=rtg.astype(np.float32),
        known_outcome=known, first_step=starts.astype(np.int64),
        clicked_start=np.r_[0, np.cumsum(clicked_counts)].astype(np.int64),
        clicked=flat_items[flat_click].astype(np.int64))


def _item_signal(dataset: TrajectoryDataset, items: np.ndarray, signal: int) -> np.ndarray:
    """(S, k) the immediate signal of each shown item. With one item a step it is the
    reward vector's; with slates it is read from the next observation's history (which
    holds the slate, last item first); at an episode's last step the slate's total is
    known only: all or none of the items when it is k or 0, else the first items."""
    n, k = items.shape
    totals = dataset.reward_vectors[:, signal].astype(np.float64)
    if k == 1:
        return totals[:, None]
    per_item = np.zeros((n, k))
    has_next = np.r_[dataset.episode[1:] == dataset.episode[:-1], False]
    following = np.flatnonzero(has_next) + 1
    history = dataset.observations["history_feedback"][following, :k, signal]
    per_item[has_next] = history[:, ::-1]
    ends = np.flatnonzero(~has_next)
    count = np.clip(np.round(totals[ends]), 0, k).astype(np.int64)
    per_item[ends] = (np.arange(k)[None, :] < count[:, None]).astype(np.float64)
    return per_item


def _returns_to_go(rewards: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """(M, 2) sums of rewards from each session to its episode's end."""
    total = np.cumsum(rewards[::-1], axis=0)[::-1]
    ends = np.r_[episode[1:] != episode[:-1], True]
    end_rows = np.flatnonzero(ends)
    # the cumulative sum after an episode's end belongs to the following episodes
    following = np.r_[total[end_rows[:-1] + 1], np.zeros((1, rewards.shape[1]))]
    episode_of = np.searchsorted(end_rows, np.arange(len(rewards)))
    after = following[episode_of]
    return total - after
