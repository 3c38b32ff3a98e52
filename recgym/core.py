"""`RecCore`: the batched engine behind every recgym environment.

One instance steps B users with one call per step to the simulator (no Python loop over
users); the single environment is B = 1 and the vector environment B = num_envs. Each row
draws from its own random stream (`RowRNG`), so a row behaves the same in either.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np

from offline_data.shared.errors import InputError
from offline_data.shared.numbers import as_int, is_integral
from offline_data.shared.units import HOUR_S
from recgym.env_config import EnvConfig
from recgym.rewards import default_weights, retention_reward, reward_names, weight_vector
from recgym.rng import RowRNG
from recgym.spaces import ObsSpec, history_bounds, primary_first
from simulators.interface import (
    HasClickProb,
    HasItemEmbeddings,
    HasMembers,
    HasPrimarySignal,
    HasSignalBounds,
    HasUserFeatures,
    KeepsHistory,
    OffersCandidates,
    PredictsResponses,
    RandomSource,
    UserSimulator,
    require_feature,
    rows_of,
)


class Transition(NamedTuple):
    """What `RecCore.transition` returns for a batch of b rows."""

    state: Any
    """The simulator states after the step (the next session's start for returning users)."""
    vector: np.ndarray
    """(b, S + 2) reward vectors (`reward_names` order; the scalar reward is `@ weights`)."""
    leave: np.ndarray
    """(b,) bool: the session ended."""
    signals: np.ndarray
    """(b, k, S) each shown item's signals (primary first)."""
    gap_h: np.ndarray
    """(b,) return gap in hours of rows that left, NaN elsewhere."""
    churned: np.ndarray
    """(b,) bool: the episode terminated (the gap exceeded `churn_after_h`)."""
    truncated: np.ndarray
    """(b,) bool: the episode ended on its session or step budget."""
    session: np.ndarray
    """(b,) sessions ended, after the step."""
    steps: np.ndarray
    """(b,) steps taken, after the step."""


def _coprimes(n: int) -> np.ndarray:
    values = np.arange(1, max(n, 2))
    return values[np.gcd(values, n) == 1]


class RecCore:
    """Episodes of B users over a simulator: sessions, leaving, returning, churn, rewards.

    An episode is one user over up to `max_sessions` sessions. After each step the user may
    leave (ending the session); a return gap is then sampled: longer than `churn_after_h`
    means the user churned (terminated), otherwise the next session starts, until the
    session budget or `max_steps` truncates the episode.

    The simulator's optional features (`simulators.interface`: item embeddings, user
    features, signal bounds, ...) are checked here, once; a missing one that is asked for
    raises `MissingFeatureError`.
    """

    def __init__(self, simulator: UserSimulator, config: EnvConfig, n_envs: int) -> None:
        require_feature(simulator, UserSimulator, "a recgym environment")
        self.sim = simulator
        self.config = config
        self.n = as_int(n_envs, "num_envs", minimum=1)
        self._bounds_of = simulator if isinstance(simulator, HasSignalBounds) else None
        self._features = simulator if isinstance(simulator, HasUserFeatures) else None
        self._embeddings = simulator if isinstance(simulator, HasItemEmbeddings) else None
        self._click_prob = simulator if isinstance(simulator, HasClickProb) else None
        self._predict = simulator if isinstance(simulator, PredictsResponses) else None
        self._members = simulator if isinstance(simulator, HasMembers) else None
        self._offers = simulator if isinstance(simulator, OffersCandidates) else None
        self._keeps_history = simulator if isinstance(simulator, KeepsHistory) else None
        names = [s.name for s in simulator.signals]
        primary = (simulator.primary_signal if isinstance(simulator, HasPrimarySignal)
                   else names[0])
        self.signal_names = primary_first(names, primary)
        self._order = [names.index(n) for n in self.signal_names]
        self.reward_names = reward_names(self.signal_names)
        weights = config.reward_weights
        if weights is None:
            weights = default_weights(self.signal_names, primary)
        self.weights = weight_vector(self.reward_names, weights)
        self.n_users = as_int(simulator.n_users, f"{type(simulator).__name__}.n_users",
                              minimum=1)
        self.n_items = as_int(simulator.n_items, f"{type(simulator).__name__}.n_items",
                              minimum=1)
        self.population = (np.arange(self.n_users) if config.users is None
                           else np.asarray(config.users, dtype=np.int64))
        if self.population.min() < 0 or self.population.max() >= self.n_users:
            raise InputError(f"users must be ids in 0..{self.n_users - 1}")
        if config.slate_size > (config.n_candidates or self.n_items):
            raise InputError(f"slate_size {config.slate_size} exceeds the {self.n_items} items")
        if config.n_candidates is not None and config.n_candidates > self.n_items:
            raise InputError(f"n_candidates {config.n_candidates} exceeds the {self.n_items} "
                             "items")
        low, high = self._bounds()
        self.user_feature_dim = max(self._user_features(self.population[:1]).shape[1], 1)
        self.spec = ObsSpec(
            n_users=self.n_users, n_items=self.n_items, signal_names=tuple(self.signal_names),
            signal_low=tuple(float(x) for x in low), signal_high=tuple(float(x) for x in high),
            history_len=config.history_len, user_feature_dim=self.user_feature_dim,
            slate_size=config.slate_size, n_candidates=config.n_candidates,
            max_steps=config.max_steps, max_sessions=config.max_sessions)
        self._units = _coprimes(self.n_items)
        b, length, n_sig = self.n, config.history_len, len(names)
        self.rng = RowRNG(np.zeros(b, dtype=np.uint64))
        self.state: Any = None
        self.user = np.zeros(b, dtype=np.int64)
        self.user_x = np.zeros((b, self.user_feature_dim), np.float32)
        self.session = np.zeros(b, dtype=np.int64)
        self.session_step = np.zeros(b, dtype=np.int64)
        self.steps = np.zeros(b, dtype=np.int64)
        self.hist_items = np.full((b, length), self.n_items, dtype=np.int64)
        self.hist_feedback = np.zeros((b, length, n_sig), np.float32)
        self.candidates = (np.zeros((b, config.n_candidates), dtype=np.int64)
                           if config.n_candidates is not None else None)

    # ------------------------------------------------------------------ helpers
    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        if self._bounds_of is None:
            n = len(self.signal_names)
            return np.full(n, -np.inf, np.float32), np.full(n, np.inf, np.float32)
        return history_bounds(*self._bounds_of.signal_bounds(), self._order)

    def _user_features(self, users: np.ndarray) -> np.ndarray:
        x = (np.zeros((len(users), 1), np.float32) if self._features is None
             else np.asarray(self._features.user_features(users), np.float32))
        return x if x.shape[1] else np.zeros((len(users), 1), np.float32)

    def _draw_candidates(self, index: np.ndarray | None) -> None:
        """New candidate lists for rows `index` (None: every row): the simulator's own
        (`OffersCandidates`), else distinct items in a random arithmetic progression."""
        assert self.candidates is not None
        b = self.n if index is None else len(index)
        rng = self.rng if index is None else self.rng.rows(index)
        rows = slice(None) if index is None else index
        if self._offers is not None:
            state = self.state if index is None else self.state.take(index)
            self.candidates[rows] = self._offers.candidates(state, self.candidates.shape[1],
                                                            rng)
        else:
            self.candidates[rows] = self.candidate_lists(rng, b)

    def candidate_lists(self, rng: RandomSource, b: int) -> np.ndarray:
        """(b, n_candidates) distinct item ids drawn as candidate mode draws each step's
        candidates (an arithmetic progression modulo n_items from a random start, with a
        random step coprime to n_items), from `rng` (e.g. a lookahead's own source)."""
        assert self.config.n_candidates is not None
        u = rng.random((b, 2))
        mult = self._units[np.minimum((u[:, 0] * len(self._units)).astype(np.int64),
                                      len(self._units) - 1)]
        offset = (u[:, 1] * self.n_items).astype(np.int64)
        steps = np.arange(self.config.n_candidates, dtype=np.int64)
        return (mult[:, None] * steps[None, :] + offset[:, None]) % self.n_items

    # ------------------------------------------------------------------ episodes
    def reset(self, index: np.ndarray, keys: np.ndarray,
              user_ids: np.ndarray | None = None) -> None:
        """Start new episodes in rows `index`, their random streams keyed by `keys`;
        `user_ids` (one per row, any integer type) picks the users, else they are drawn."""
        index = np.asarray(index, dtype=np.int64)
        self.rng.reseed(index, keys)
        rng = self.rng.rows(index)
        if user_ids is None:
            pick = (rng.random(len(index)) * len(self.population)).astype(np.int64)
            users = self.population[np.minimum(pick, len(self.population) - 1)]
        else:
            users = self._user_ids(user_ids, len(index))
        started = self.sim.start(users, rng)
        if self.state is None:
            if len(index) != self.n:
                raise InputError("the first reset must start every row")
            self.state = started
        else:
            self.state = self.state.put(index, started)
        self.user[index] = users
        self.user_x[index] = self._user_features(users)
        self.session[index] = 0
        self.session_step[index] = 0
        self.steps[index] = 0
        self.hist_items[index] = self.n_items
        self.hist_feedback[index] = 0.0
        self._simulator_history(index)
        if self.candidates is not None:
            self._draw_candidates(index)

    def _simulator_history(self, index: np.ndarray | None) -> None:
        """Rows `index` (None: every row) take their history from the simulator, when it
        keeps one (`KeepsHistory`), instead of the recommendations and their feedback."""
        if self._keeps_history is None:
            return
        state = self.state if index is None else self.state.take(index)
        items, feedback = self._keeps_history.history(state)
        width = min(items.shape[1], self.hist_items.shape[1])
        rows = slice(None) if index is None else index
        self.hist_items[rows] = self.n_items
        self.hist_feedback[rows] = 0.0
        self.hist_items[rows, :width] = items[:, :width]
        self.hist_feedback[rows, :width] = feedback[:, :width, self._order]

    def _user_ids(self, user_ids: object, rows: int) -> np.ndarray:
        """Chosen users as int64 ids, one per row (any integral type); `InputError`
        naming `user_id` otherwise."""
        if is_integral(user_ids):
            values = np.array([user_ids], dtype=np.int64)
        else:
            array = np.asarray(user_ids)
            if array.dtype.kind not in "iu" and not (
                    array.dtype == object and all(is_integral(u) for u in array.flat)):
                raise InputError(f"user_id must be integer user ids, got {user_ids!r}")
            values = array.astype(np.int64).reshape(-1)
        if len(values) != rows:
            raise InputError(f"user_id must give one user per environment ({rows}), got "
                             f"{len(values)}")
        if values.min() < 0 or values.max() >= self.n_users:
            raise InputError(f"user_id must be in 0..{self.n_users - 1}, got "
                             f"{values.tolist() if rows > 1 else int(values[0])}")
        return values

    def slates(self, actions: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
        """Check actions for rows `index` (None: every row) and turn them into (b, k) item
        ids."""
        b = self.n if index is None else len(index)
        k = self.config.slate_size
        limit = self.config.n_candidates or self.n_items
        what = "candidate indices" if self.config.n_candidates else "item ids"
        a = np.asarray(actions)
        if a.dtype.kind not in "iu":
            if a.dtype.kind == "f" and np.all(a == np.round(a)):
                a = a.astype(np.int64)
            else:
                raise InputError(f"actions must be integer {what}, got dtype {a.dtype}")
        if k == 1 and a.shape == (b,):
            a = a[:, None]
        if a.shape != (b, k):
            expected = "one item id" if k == 1 else f"a slate of {k} distinct {what}"
            raise InputError(f"an action must be {expected}; got shape "
                             f"{a.shape[1:] if a.ndim > 1 else ()} for {b} env(s)")
        if a.size <= 16:  # small batches: Python's min / max beat two numpy reductions
            values = a.ravel().tolist()
            low, high = min(values), max(values)
        else:
            low, high = int(a.min()), int(a.max())
        if low < 0 or high >= limit:
            raise InputError(f"actions must be {what} in 0..{limit - 1}, got values "
                             f"{low}..{high}")
        if k > 1:
            ordered = np.sort(a, axis=1)
            repeated = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
            if repeated.any():
                row = int(np.flatnonzero(repeated)[0])
                raise InputError(f"a slate repeats an item: {a[row].tolist()}; the k items "
                                 "of a slate must be distinct")
        if self.candidates is not None:
            a = np.take_along_axis(self.candidates if index is None else self.candidates[index],
                                   a, axis=1)
        return a.astype(np.int64, copy=False)

    def _simulate(self, state: Any, slates: np.ndarray, rng: RandomSource
                  ) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
        """One step of the simulator for a batch: the new state, leave flags, each shown
        item's signals (b, k, S) and the reward vectors (b, S + 2) without retention."""
        b = len(slates)
        feedback = self.sim.respond(state, slates, rng)
        state = self.sim.step_state(state, slates, feedback)
        leave = rng.random(b) < self.sim.leave_prob(state, feedback)
        n_sig = len(self.signal_names)
        signals = np.empty((b, slates.shape[1], n_sig), np.float32)
        for j, name in enumerate(self.signal_names):
            signals[:, :, j] = feedback[name]
        vector = np.zeros((b, n_sig + 2))
        vector[:, :n_sig] = np.add.reduce(signals, axis=1)
        vector[:, n_sig] = 1.0
        return state, leave, signals, vector

    def transition(self, state: Any, slates: np.ndarray, session: np.ndarray,
                   steps: np.ndarray, rng: RandomSource) -> Transition:
        """One step of the episode rules for a batch of simulator states (the engine's own
        rows, or copies of them for lookahead: `state` is never changed), showing `slates`
        (b, k) item ids; `session` and `steps` are each row's ended sessions and steps
        taken before this step, `rng` the random source (one stream per row, or any
        `numpy.random.Generator`). Samples feedback, leaving, return gaps and churn, and
        starts the next session of users who come back with sessions to go."""
        b, c = len(slates), self.config
        state, leave, signals, vector = self._simulate(state, slates, rng)
        n_sig = len(self.signal_names)
        gap_h = np.full(b, np.nan)
        churned = np.zeros(b, dtype=bool)
        session = session + leave
        if leave.any():
            left = np.flatnonzero(leave)
            # every row leaving (always so for a single environment): no gather / scatter
            everyone = len(left) == b
            gaps = self.sim.return_gap(state if everyone else state.take(left),
                                       rng if everyone else rows_of(rng, left))
            gap_h[left] = gaps / HOUR_S
            vector[left, n_sig + 1] = retention_reward(gap_h[left], c.churn_after_h)
            churned[left] = gap_h[left] > c.churn_after_h
            carry_on = ~churned[left] & (session[left] < c.max_sessions)
            if carry_on.all() and everyone:
                state = self.sim.next_session(state, gaps)
            elif carry_on.any():
                going_on = left[carry_on]
                state = state.put(going_on, self.sim.next_session(state.take(going_on),
                                                                  gaps[carry_on]))
        steps = steps + 1
        truncated = ~churned & ((leave & (session >= c.max_sessions)) | (steps >= c.max_steps))
        return Transition(state, vector, leave, signals, gap_h, churned, truncated, session,
                          steps)

    def step(self, actions: np.ndarray, index: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Step rows `index` (default all): reward, terminated, truncated, info arrays."""
        rows = None if index is None else np.asarray(index, dtype=np.int64)
        idx: slice | np.ndarray = slice(None) if rows is None else rows
        c = self.config
        slates = self.slates(actions, rows)
        rng = self.rng if rows is None else self.rng.rows(rows)
        state, vector, leave, signals, gap_h, churned, truncated, session, steps = (
            self.transition(self.state if rows is None else self.state.take(rows), slates,
                            self.session[idx], self.steps[idx], rng))
        terminated = churned

        self.state = state if rows is None else self.state.put(rows, state)
        self.steps[idx] = steps
        self.session[idx] = session
        self.session_step[idx] = np.where(leave, 0, self.session_step[idx] + 1)
        length = c.history_len
        items = np.concatenate([slates[:, ::-1], self.hist_items[idx]], axis=1)[:, :length]
        fb = np.concatenate([signals[:, ::-1], self.hist_feedback[idx]], axis=1)[:, :length]
        self.hist_items[idx] = items
        self.hist_feedback[idx] = fb
        self._simulator_history(rows)
        if self.candidates is not None:
            self._draw_candidates(rows)
        info = {"reward_vector": vector, "left_session": leave, "return_gap_h": gap_h,
                "churned": churned, "slate": slates, "slate_feedback": signals}
        return vector @ self.weights, terminated, truncated, info

    def step_one(self, action: Any) -> tuple[float, bool, bool, dict[str, Any]]:
        """`step` for an engine of one row (a single environment), with Python scalars
        for the bookkeeping: the same numbers, a fraction of the numpy calls. Returns the
        reward, terminated, truncated and the single environment's info."""
        c = self.config
        if c.slate_size == 1 and (type(action) is int or isinstance(action, np.integer)):
            item = int(action)
            limit = c.n_candidates or self.n_items
            if not 0 <= item < limit:
                what = "candidate indices" if c.n_candidates else "item ids"
                raise InputError(f"actions must be {what} in 0..{limit - 1}, got values "
                                 f"{item}..{item}")
            if self.candidates is not None:
                item = int(self.candidates[0, item])
            slates = np.array([[item]])
        else:
            slates = self.slates(np.asarray(action)[None, ...])
        state, leave, signals, vector = self._simulate(self.state, slates, self.rng)
        left = bool(leave[0])
        session = int(self.session[0]) + left
        churned = False
        info: dict[str, Any] = {}
        if left:
            gaps = self.sim.return_gap(state, self.rng)
            gap_h = gaps / HOUR_S
            vector[:, -1] = retention_reward(gap_h, c.churn_after_h)
            churned = bool(gap_h[0] > c.churn_after_h)
            if not churned and session < c.max_sessions:
                state = self.sim.next_session(state, gaps)
            info["return_gap_h"] = float(gap_h[0])
        steps = int(self.steps[0]) + 1
        truncated = not churned and ((left and session >= c.max_sessions)
                                     or steps >= c.max_steps)
        self.state = state
        self.steps[0] = steps
        self.session[0] = session
        self.session_step[0] = 0 if left else self.session_step[0] + 1
        length, k = c.history_len, slates.shape[1]
        if k < length:  # shift the history right by k, the slate (last item first) in front
            self.hist_items[:, k:] = self.hist_items[:, :length - k]
            self.hist_feedback[:, k:] = self.hist_feedback[:, :length - k]
        self.hist_items[:, :min(k, length)] = slates[:, ::-1][:, :length]
        self.hist_feedback[:, :min(k, length)] = signals[:, ::-1][:, :length]
        self._simulator_history(None)
        if self.candidates is not None:
            self._draw_candidates(None)
        info.update(reward_vector=vector[0], left_session=left, churned=churned,
                    slate=slates[0], slate_feedback=signals[0])
        info.update({k: v[0] for k, v in self.member_info().items()})
        return float((vector @ self.weights)[0]), churned, truncated, info

    def observation(self, index: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Batched observation of rows `index` (default all)."""
        idx = slice(None) if index is None else np.asarray(index, dtype=np.int64)
        obs = {
            "user_id": self.user[idx].copy(),
            "user_features": self.user_x[idx].copy(),
            "history_items": self.hist_items[idx].copy(),
            "history_feedback": self.hist_feedback[idx].copy(),
            "history_mask": (self.hist_items[idx] < self.n_items).astype(np.int8),
            "session_step": self.session_step[idx, None].astype(np.float32),
            "session_index": self.session[idx, None].astype(np.float32),
        }
        if self.candidates is not None:
            obs["candidates"] = self.candidates[idx].copy()
        return obs

    def row_observation(self, row: int) -> dict[str, Any]:
        """The observation of one row, unbatched (what a single environment returns;
        `user_id` as an int)."""
        history = self.hist_items[row]
        obs: dict[str, Any] = {
            "user_id": int(self.user[row]),
            "user_features": self.user_x[row].copy(),
            "history_items": history.copy(),
            "history_feedback": self.hist_feedback[row].copy(),
            "history_mask": (history < self.n_items).astype(np.int8),
            "session_step": self.session_step[row:row + 1].astype(np.float32),
            "session_index": self.session[row:row + 1].astype(np.float32),
        }
        if self.candidates is not None:
            obs["candidates"] = self.candidates[row].copy()
        return obs

    def primary_scores(self, index: np.ndarray | None = None) -> np.ndarray:
        """The simulator's own probability of the primary signal (e.g. a click) for every
        item, for rows `index` (default all): (b, n_items). What a myopic oracle ranks by;
        not something a real recommender can observe."""
        idx = np.arange(self.n) if index is None else np.asarray(index, dtype=np.int64)
        state = self.state if index is None else self.state.take(idx)
        items = np.arange(self.n_items)
        if self._click_prob is not None:
            return np.asarray(self._click_prob.click_prob(state, items))
        if self._predict is None:
            require_feature(self.sim, PredictsResponses, "scoring every item (primary_scores)")
        assert self._predict is not None
        primary = self.signal_names[0]
        out = np.zeros((len(idx), self.n_items))
        for chunk in np.array_split(items, max(1, self.n_items * len(idx) // 262_144)):
            out[:, chunk] = self._predict.predict(state, np.tile(chunk, (len(idx), 1)))[primary]
        return out

    def item_scores(self, state: Any, items: np.ndarray) -> np.ndarray:
        """`primary_scores` of some items per row: (b, m) item ids for a batch of
        simulator states (e.g. copies of the engine's, for lookahead) give (b, m) scores,
        each item scored as if shown alone (no slate-position effect)."""
        items = np.asarray(items, dtype=np.int64)
        if self._click_prob is not None:
            # one column at a time: a one-item slate per row is at slate position 0
            out = np.empty(items.shape)
            for j in range(items.shape[1]):
                out[:, j] = np.asarray(self._click_prob.click_prob(state, items[:, j:j + 1]))[:, 0]
            return out
        if self._predict is None:
            require_feature(self.sim, PredictsResponses, "scoring items (item_scores)")
        assert self._predict is not None
        return np.asarray(self._predict.predict(state, items)[self.signal_names[0]],
                          dtype=np.float64)

    @property
    def predicts_responses(self) -> bool:
        """Whether the simulator predicts expected responses (`PredictsResponses`), so
        `expected_rewards` works."""
        return self._predict is not None

    def expected_rewards(self, state: Any, items: np.ndarray) -> np.ndarray:
        """The expected reward of the signals of each item shown alone, for a batch of
        simulator states (the engine's own, `self.state`, or copies for lookahead) and
        (b, m) item ids per row: the reward weights times the simulator's expected signals
        (`PredictsResponses`). A step's expected scalar reward is the sum over its slate
        plus the depth weight (paid once per step) and, when the session ends, the
        retention reward. (b, m) values; not something a real recommender can observe."""
        if self._predict is None:
            require_feature(self.sim, PredictsResponses, "expected rewards")
        assert self._predict is not None
        items = np.asarray(items, dtype=np.int64)
        expected = self._predict.predict(state, items)
        n_sig = len(self.signal_names)
        out = np.zeros(items.shape)
        for weight, name in zip(self.weights[:n_sig], self.signal_names, strict=True):
            if weight:
                out += weight * np.asarray(expected[name], dtype=np.float64)
        return out

    @property
    def has_item_embeddings(self) -> bool:
        """Whether the simulator offers item embeddings (`HasItemEmbeddings`)."""
        return self._embeddings is not None

    def item_embeddings(self) -> np.ndarray:
        """(n_items, d) float32 item embeddings of the simulator (`HasItemEmbeddings`), for
        embedding-space actions; `MissingFeatureError` when it has none."""
        if self._embeddings is None:
            require_feature(self.sim, HasItemEmbeddings, "embedding-space actions")
        assert self._embeddings is not None
        return np.asarray(self._embeddings.item_embeddings(), np.float32)

    # ------------------------------------------------------------------ checkpoints
    _ARRAYS = ("user", "user_x", "session", "session_step", "steps", "hist_items",
               "hist_feedback", "candidates")

    def get_state(self) -> dict[str, np.ndarray]:
        """Every array of the episode state (rows, simulator state, random streams), for
        checkpoints; `set_state` restores it exactly."""
        out = {f"core.{k}": np.array(getattr(self, k)) for k in self._ARRAYS
               if getattr(self, k) is not None}
        out["rng.keys"], out["rng.counters"] = self.rng.keys.copy(), self.rng.counters.copy()
        if self.state is not None:
            for f in dataclasses.fields(self.state):
                out[f"sim.{f.name}"] = np.array(getattr(self.state, f.name))
        return out

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what `get_state` returned (for the same simulator and sizes)."""
        for key in self._ARRAYS:
            if f"core.{key}" in arrays:
                setattr(self, key, np.array(arrays[f"core.{key}"]))
        fields = {k[4:]: np.array(v) for k, v in arrays.items() if k.startswith("sim.")}
        if fields:
            # the simulator's state class (a fresh environment has no state yet)
            template = self.state if self.state is not None else self.sim.start(
                np.zeros(self.n, dtype=np.int64), self.rng)
            self.state = type(template)(**fields)
        self.rng.keys = np.array(arrays["rng.keys"], dtype=np.uint64)
        self.rng.counters = np.array(arrays["rng.counters"], dtype=np.uint64)

    def members(self) -> np.ndarray | None:
        """The simulator-set member of each row (SimSet environments), else None."""
        if self._members is None or self.state is None:
            return None
        return np.asarray(self._members.members(self.state))

    def member_info(self) -> dict[str, np.ndarray]:
        """`member` (B,) and `member_params` (B, P) of each row in SimSet environments
        (for info dicts: the parameters never enter observations), else empty."""
        if self._members is None or self.state is None:
            return {}
        return {"member": np.asarray(self._members.members(self.state)),
                "member_params": np.asarray(self._members.member_params(self.state),
                                            np.float32)}
