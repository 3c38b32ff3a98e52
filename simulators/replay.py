"""Rating replay: users answer with the ratings they logged (the offline protocol of DRR,
Liu et al. 2018, arXiv:1810.12027).

Each episode serves one user. The recommender picks among the items that user rated and
that have not been recommended yet (the environment's candidates); the reward is the
normalised rating; the state is the user's most recent positively rated items, starting
from their first `state_size` positive ratings in time (which are never recommended).
Nothing is predicted: every answer is a logged rating, so the protocol needs no simulator
fitting, and it ends when the user's rated items run out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from offline_data.log import InteractionLog
from offline_data.schema import Signal
from offline_data.shared.errors import InputError
from simulators.features import encode_table
from simulators.interface import BatchState, Feedback, RandomSource

SCALES = ("centered", "unit")
NEVER_S = 1e12
"""The return gap of a user whose rated items ran out: the episode ends (churn)."""


@dataclass(frozen=True)
class ReplayState(BatchState):
    """Per row: the user, the items already recommended (or in the initial state), and the
    most recent positive items with their normalised ratings (most recent first; the value
    n_items marks an empty slot)."""

    user_ids: np.ndarray
    shown: np.ndarray
    positive_items: np.ndarray
    positive_values: np.ndarray


def normalise(ratings: np.ndarray, low: float, high: float, scale: str) -> np.ndarray:
    """Ratings -> rewards: 'centered' maps [low, high] onto [-1, 1] (a 1-5 rating r gives
    (r - 3) / 2), 'unit' divides by the highest rating (r / 5)."""
    ratings = np.asarray(ratings, np.float64)
    if scale == "centered":
        mid, half = (low + high) / 2.0, max((high - low) / 2.0, 1e-12)
        return ((ratings - mid) / half).astype(np.float32)
    if scale == "unit":
        return (ratings / high).astype(np.float32)
    raise InputError(f"reward scale must be one of {', '.join(SCALES)}, got {scale!r}")


def rating_embeddings(log: InteractionLog, users: np.ndarray, dim: int, signal: str,
                      seed: int = 0) -> np.ndarray:
    """(n_items, dim) unit-norm item embeddings from a truncated SVD of the mean-centred
    rating matrix of `users` (a probabilistic-matrix-factorisation stand-in, fitted on the
    training users only); items none of them rated get small random vectors."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.linalg import svds

    frame = log.interactions
    rows = frame[frame["user_id"].isin(np.asarray(users))]
    if rows.empty:
        raise InputError("rating_embeddings needs ratings of at least one user")
    values = rows[signal].to_numpy(np.float64)
    user_index = {u: i for i, u in enumerate(np.unique(rows["user_id"].to_numpy()))}
    r = rows["user_id"].map(user_index).to_numpy()
    matrix = csr_matrix((values - values.mean(), (r, rows["item_id"].to_numpy())),
                        shape=(len(user_index), log.n_items))
    k = max(1, min(dim, min(matrix.shape) - 1))
    _, sing, vt = svds(matrix, k=k, random_state=seed)
    items = (vt.T * np.sqrt(sing)[None, :]).astype(np.float32)
    if k < dim:
        items = np.hstack([items, np.zeros((log.n_items, dim - k), np.float32)])
    rng = np.random.default_rng(seed)
    unrated = np.linalg.norm(items, axis=1) < 1e-8
    items[unrated] = 0.01 * rng.standard_normal((int(unrated.sum()), dim))
    return items / np.linalg.norm(items, axis=1, keepdims=True)


class RatingReplay:
    """A `UserSimulator` whose users give their logged ratings (see the module docstring).

    `log` needs a rating-like signal (`signal`, default: the log's first). A rating at or
    above `positive` (raw scale; default: 4 on a 1-5 scale, i.e. the upper 40% of the
    range) is positive: it enters the state. Users with fewer than `state_size` positive
    ratings and one rating more are left out (`users` are the ones kept). `embeddings`
    are the item embeddings (`rating_embeddings` of the training users, so test users'
    ratings never shape them); by default they are fitted on `users`.
    """

    def __init__(self, log: InteractionLog, users: np.ndarray | None = None, *,
                 signal: str | None = None, state_size: int = 5,
                 positive: float | None = None, scale: str = "centered",
                 embeddings: np.ndarray | None = None, embed_dim: int = 32,
                 seed: int = 0) -> None:
        names = [s.name for s in log.signals]
        self.signal_name = signal or names[0]
        if self.signal_name not in names:
            raise InputError(f"signal {self.signal_name!r} is not a signal of the log "
                             f"(signals: {', '.join(names)})")
        if scale not in SCALES:
            raise InputError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
        if not isinstance(state_size, int) or state_size < 1:
            raise InputError(f"state_size must be a positive integer, got {state_size!r}")
        frame = log.interactions.sort_values(["user_id", "timestamp"], kind="stable")
        ratings = frame[self.signal_name].to_numpy(np.float64)
        self.low, self.high = float(ratings.min()), float(ratings.max())
        if self.high <= self.low:
            raise InputError(f"signal {self.signal_name!r} has one value only "
                             f"({self.low}); the replay needs ratings that differ")
        self.threshold = (self.low + 0.75 * (self.high - self.low) if positive is None
                          else float(positive))
        self.scale, self.state_size = scale, state_size
        self.n_users, self.n_items = log.n_users, log.n_items
        self.signals = [Signal(self.signal_name, "continuous")]
        self.primary_signal = self.signal_name
        self.positive_value = float(normalise(np.array([self.threshold]), self.low,
                                              self.high, scale)[0])

        user = frame["user_id"].to_numpy(np.int64)
        item = frame["item_id"].to_numpy(np.int64)
        # (user, item) -> normalised rating, looked up by binary search on user * n + item
        keys = user * self.n_items + item
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._values = normalise(ratings[order], self.low, self.high, scale)
        # each user's rated items, padded with -1, and the first positives in time
        counts = np.bincount(user, minlength=self.n_users)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pos_in_user = np.arange(len(user)) - starts[user]
        self.rated = np.full((self.n_users, max(int(counts.max()), 1)), -1, np.int64)
        self.rated[user, pos_in_user] = item
        positive_rows = ratings >= self.threshold
        # each positive rating's rank in time within its user (rows are sorted by user)
        positive_at = np.flatnonzero(positive_rows)
        positive_users = user[positive_at]
        rank = np.zeros(len(user), np.int64)
        rank[positive_at] = (np.arange(len(positive_at))
                             - np.searchsorted(positive_users, positive_users, side="left"))
        first = positive_rows & (rank < state_size)
        self.initial = np.full((self.n_users, state_size), self.n_items, np.int64)
        # most recent first: the state_size-th positive in slot 0
        self.initial[user[first], state_size - 1 - rank[first]] = item[first]
        self.initial_values = np.zeros((self.n_users, state_size), np.float32)
        self.initial_values[user[first], state_size - 1 - rank[first]] = normalise(
            ratings[first], self.low, self.high, scale)
        n_positive = np.bincount(user[positive_rows], minlength=self.n_users)
        eligible = np.flatnonzero((n_positive >= state_size) & (counts > state_size))
        chosen = eligible if users is None else np.intersect1d(
            np.asarray(users, np.int64), eligible)
        if len(chosen) == 0:
            raise InputError(f"no user has {state_size} positive ratings (at least "
                             f"{self.threshold:g}) and one rating more: lower state_size or "
                             f"positive")
        self.users = chosen
        self.max_choices = int((counts[chosen] - state_size).max())
        """The most items a kept user has left to recommend: the candidate width."""
        self.embeddings = (rating_embeddings(log, chosen, embed_dim, self.signal_name, seed)
                           if embeddings is None else np.asarray(embeddings, np.float32))
        if self.embeddings.shape[0] != self.n_items:
            raise InputError(f"embeddings must have {self.n_items} rows (one per item), "
                             f"got {self.embeddings.shape[0]}")
        self._user_x, _ = encode_table(log.users, self.n_users)

    # ------------------------------------------------------------------ lookups
    def ratings(self, user_ids: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Normalised logged ratings of items (B, k) by users (B,); NaN where unrated."""
        keys = np.asarray(user_ids, np.int64)[:, None] * self.n_items + items
        at = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        return np.where(self._keys[at] == keys, self._values[at], np.nan).astype(np.float32)

    def remaining(self, state: ReplayState) -> np.ndarray:
        """(B, width) bool: rated items (of `rated[user]`) not yet shown."""
        items = self.rated[state.user_ids]
        valid = items >= 0
        shown = np.take_along_axis(state.shown, np.where(valid, items, 0), axis=1)
        return valid & ~shown

    # ------------------------------------------------------------------ the protocol
    def start(self, user_ids: np.ndarray, rng: RandomSource) -> ReplayState:
        """The users' first `state_size` positive items form the state and count as shown."""
        users = np.asarray(user_ids, np.int64)
        shown = np.zeros((len(users), self.n_items), bool)
        initial = self.initial[users]
        rows = np.repeat(np.arange(len(users)), self.state_size)
        filled = initial.ravel() < self.n_items
        shown[rows[filled], initial.ravel()[filled]] = True
        return ReplayState(users, shown, initial.copy(), self.initial_values[users].copy())

    def respond(self, state: ReplayState, slates: np.ndarray, rng: RandomSource) -> Feedback:
        """The logged normalised ratings; an unrated item (possible only outside candidate
        mode) raises, as the protocol has no answer for it."""
        values = self.ratings(state.user_ids, slates)
        if np.isnan(values).any():
            raise InputError("a recommended item was not rated by its user: the rating "
                             "replay answers only with logged ratings (use the "
                             "environment's candidates)")
        return {self.signal_name: values}

    def step_state(self, state: ReplayState, slates: np.ndarray,
                   feedback: Feedback) -> ReplayState:
        """Mark the slate shown; positively rated items enter the state, newest first."""
        shown = state.shown.copy()
        shown[np.arange(len(slates))[:, None], slates] = True
        values = feedback[self.signal_name]
        items, kept = state.positive_items, state.positive_values
        for j in range(slates.shape[1]):
            good = values[:, j] >= self.positive_value
            items = np.where(good[:, None], np.concatenate(
                [slates[:, j:j + 1], items[:, :-1]], axis=1), items)
            kept = np.where(good[:, None], np.concatenate(
                [values[:, j:j + 1], kept[:, :-1]], axis=1), kept)
        return ReplayState(state.user_ids, shown, items, kept)

    def leave_prob(self, state: ReplayState, feedback: Feedback) -> np.ndarray:
        """1 once the user has no rated item left, else 0 (one session per episode)."""
        return np.asarray(~self.remaining(state).any(axis=1), np.float64)

    def return_gap(self, state: ReplayState, rng: RandomSource) -> np.ndarray:
        """Never back: an episode is one pass over the user's ratings."""
        return np.full(len(state.user_ids), NEVER_S)

    def next_session(self, state: ReplayState, gap_s: np.ndarray) -> ReplayState:
        """Unused (users never return); the state as it is."""
        return state

    # ------------------------------------------------------------------ environment hooks
    def candidates(self, state: ReplayState, width: int, rng: RandomSource) -> np.ndarray:
        """(B, width) item ids: each row's rated items not yet shown, in random order,
        repeated to fill the width (any choice is then a legal one)."""
        items = self.rated[state.user_ids]
        left = self.remaining(state)
        keys = np.where(left, rng.random(left.shape), 2.0)
        order = np.argsort(keys, axis=1, kind="stable")
        n_left = np.maximum(left.sum(axis=1), 1)
        slots = np.arange(width)[None, :] % n_left[:, None]
        picked = np.take_along_axis(order, slots, axis=1)
        out = np.take_along_axis(items, picked, axis=1)
        return np.where(out >= 0, out, 0)

    def history(self, state: ReplayState) -> tuple[np.ndarray, np.ndarray]:
        """The observation's history: the most recent positive items (B, state_size) and
        their normalised ratings (B, state_size, 1)."""
        return state.positive_items.copy(), state.positive_values[..., None].copy()

    def is_positive(self, values: np.ndarray) -> np.ndarray:
        """Which normalised ratings are positive (at least the threshold)."""
        return np.asarray(values) >= self.positive_value - 1e-6

    def signal_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The normalised rating's range."""
        bounds = normalise(np.array([self.low, self.high]), self.low, self.high, self.scale)
        return bounds[:1], bounds[1:]

    def user_features(self, user_ids: np.ndarray) -> np.ndarray:
        """The log's user features, encoded (`simulators.features.encode_table`)."""
        return self._user_x[np.asarray(user_ids, np.int64)]

    def item_embeddings(self) -> np.ndarray:
        """The item embeddings the protocol's agents rank with (see `rating_embeddings`)."""
        return self.embeddings
