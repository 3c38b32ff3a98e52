"""`SyntheticWorld`: the ground-truth user simulator, batched over users with numpy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import ndtr

from offline_data.schema import Signal
from offline_data.shared.errors import InputError
from offline_data.shared.units import HOUR_S
from simulators.interface import BatchState, Feedback, RandomSource, check_slates
from simulators.world_config import WorldConfig

if TYPE_CHECKING:
    from offline_data.log import InteractionLog
    from simulators.policies import BehaviourPolicy

SIGNALS = [
    Signal("click", "binary"),
    Signal("like", "binary"),
    Signal("watch_ratio", "continuous"),
]


BLOCK = 1024
"""Users and items are drawn in blocks of this size, each from its own seeded stream, so
a larger population keeps every existing user and item unchanged."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _row_norms(x: np.ndarray) -> np.ndarray:
    """`np.linalg.norm(x, axis=1, keepdims=True)` for a real 2-d array, the same
    operations without the wrapper's overhead (it matters for one-row batches)."""
    return np.sqrt(np.add.reduce(x * x, axis=1, keepdims=True))


def _blocked(
    seed: int, tag: int, n: int, draw: Callable[[np.random.Generator, int], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Draw `n` rows of traits block by block from streams seeded by (seed, tag, block)."""
    parts = [draw(np.random.default_rng([seed, tag, b]), BLOCK)
             for b in range((n + BLOCK - 1) // BLOCK)]
    return {key: np.concatenate([p[key] for p in parts])[:n] for key in parts[0]}


@dataclass(frozen=True)
class WorldState(BatchState):
    """State of a batch of users in the synthetic world (arrays with a leading batch axis)."""

    user_ids: np.ndarray
    """(B,) int64 ids into the world's population."""
    interest: np.ndarray
    """(B, embed_dim) unit interest vectors; they drift toward consumed items."""
    boredom: np.ndarray
    """(B, n_topics) boredom per topic; grows with repetition, decays with time."""
    satisfaction: np.ndarray
    """(B,) moving average of per-step satisfaction."""
    session_steps: np.ndarray
    """(B,) steps taken in the current session."""
    session_value: np.ndarray
    """(B,) summed satisfaction of the current session."""
    session_index: np.ndarray
    """(B,) sessions started before the current one."""
    recent: np.ndarray
    """(B, repeat_window) the last items shown, most recent first, -1 where empty."""


class SyntheticWorld:
    """A world whose users and items are known exactly.

    Items have a topic, a latent embedding near their topic's centre, a popularity, an
    appeal (draws clicks) and a quality (drives likes and watch time); appeal and quality
    are negatively correlated, so clickbait exists. Users have an interest vector that
    drifts toward what they consume, per-topic boredom from repetition, a click propensity,
    a patience (leave tendency) and an activity (return tendency). Feedback per shown item:
    `click`, `like` (only after a click) and `watch_ratio` (0 without a click). Satisfaction
    of a step comes from watching and liking; low satisfaction, fatigue and steps without
    clicks raise the chance of leaving, and a satisfying session shortens the gap before
    the user returns. All parameters are in `WorldConfig`; `seed` fixes the population.

    >>> world = SyntheticWorld(WorldConfig(n_users=10, n_items=20), seed=0)
    >>> rng = np.random.default_rng(0)
    >>> state = world.start(np.arange(3), rng)
    >>> world.respond(state, np.array([[0], [1], [2]]), rng)["click"].shape
    (3, 1)
    """

    def __init__(self, config: WorldConfig | None = None, seed: int = 0) -> None:
        self.config = config or WorldConfig()
        self.seed = int(seed)
        self.signals: list[Signal] = list(SIGNALS)
        c = self.config
        self.n_items = c.n_items
        self.n_users = c.n_users
        centres = np.random.default_rng([self.seed, 0]).standard_normal(
            (c.n_topics, c.embed_dim))
        self.topic_centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        items = _blocked(self.seed, 1, c.n_items, self._draw_items)
        self.item_topic = items["topic"]
        self.item_embedding = items["embedding"]
        self.item_popularity = items["popularity"]
        self.item_appeal = items["appeal"]
        self.item_quality = items["quality"]
        self.item_duration_s = items["duration_s"]
        self.item_embedding_observed = items["observed"]
        users = _blocked(self.seed, 2, c.n_users, self._draw_users)
        self.user_interest = users["interest"]
        self.user_bias = users["bias"]
        self.user_patience = users["patience"]
        self.user_activity = users["activity"]
        self.user_segment = users["segment"]
        self.user_activity_observed = users["activity_observed"]
        # the click-logit terms that do not depend on the user's state
        self._item_static_logit = (
            c.popularity_scale * self.item_popularity + c.appeal_scale * self.item_appeal
        )
        self._repeat_weights = c.repeat_decay ** np.arange(c.repeat_window)
        self._position_terms: dict[int, np.ndarray] = {}
        self._rows: dict[int, np.ndarray] = {}

    def _draw_items(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        c = self.config
        topic = rng.integers(0, c.n_topics, size=n)
        emb = self.topic_centres[topic] + c.topic_spread * rng.standard_normal(
            (n, c.embed_dim)) / np.sqrt(c.embed_dim)
        appeal = rng.standard_normal(n)
        rho = c.clickbait_corr
        return {
            "topic": topic,
            "embedding": emb / np.linalg.norm(emb, axis=1, keepdims=True),
            "popularity": rng.standard_normal(n),
            "appeal": appeal,
            "quality": -rho * appeal + np.sqrt(1.0 - rho**2) * rng.standard_normal(n),
            "duration_s": c.mean_duration_s * np.exp(0.5 * rng.standard_normal(n) - 0.125),
            "observed": _unit(emb / np.linalg.norm(emb, axis=1, keepdims=True)
                              + 0.3 * rng.standard_normal((n, c.embed_dim)) / np.sqrt(c.embed_dim)),
        }

    def _draw_users(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        c = self.config
        weights = np.zeros((n, c.n_topics))
        for k in range(c.topics_per_user):
            weights[np.arange(n), rng.integers(0, c.n_topics, n)] += 1.0 / (k + 1)
        interest = weights @ self.topic_centres + 0.3 * rng.standard_normal(
            (n, c.embed_dim)) / np.sqrt(c.embed_dim)
        bias = c.user_bias_std * rng.standard_normal(n)
        patience = c.patience_std * rng.standard_normal(n)
        activity = c.activity_std * rng.standard_normal(n)
        return {
            "interest": interest / np.linalg.norm(interest, axis=1, keepdims=True),
            "bias": bias,
            "patience": patience,
            "activity": activity,
            "activity_observed": activity + 0.3 * rng.standard_normal(n),
            "segment": weights.argmax(axis=1),
        }

    # ------------------------------------------------------------------ environment helpers
    primary_signal = "click"

    def user_features(self, user_ids: np.ndarray) -> np.ndarray:
        """Observable features per user: noisy activity level and one-hot segment."""
        ids = np.asarray(user_ids, dtype=np.int64)
        segment = np.eye(self.config.n_topics, dtype=np.float32)[self.user_segment[ids]]
        return np.column_stack([self.user_activity_observed[ids].astype(np.float32), segment])

    def item_embeddings(self) -> np.ndarray:
        """(n_items, embed_dim) noisy estimates of the item embeddings, what a pre-trained
        embedding model would give (the true ones stay hidden)."""
        return self.item_embedding_observed.astype(np.float32)

    def signal_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest value of each signal."""
        return (np.zeros(3, np.float32),
                np.array([1.0, 1.0, self.config.watch_cap], np.float32))

    # ------------------------------------------------------------------ state
    def start(self, user_ids: np.ndarray, rng: RandomSource | None = None) -> WorldState:
        """State of `user_ids` at the start of their first session."""
        ids = np.asarray(user_ids, dtype=np.int64)
        if ids.ndim != 1 or (len(ids) and (ids.min() < 0 or ids.max() >= self.n_users)):
            raise InputError(
                f"user_ids must be a 1-d array of ids in 0..{self.n_users - 1}; "
                f"got shape {ids.shape}"
            )
        b = len(ids)
        c = self.config
        return WorldState(
            user_ids=ids,
            interest=self.user_interest[ids].copy(),
            boredom=np.zeros((b, c.n_topics)),
            satisfaction=np.full(b, c.satisfaction_ref),
            session_steps=np.zeros(b, dtype=np.int64),
            session_value=np.zeros(b),
            session_index=np.zeros(b, dtype=np.int64),
            recent=np.full((b, c.repeat_window), -1, dtype=np.int64),
        )

    def check_slates(self, state: WorldState, slates: np.ndarray) -> np.ndarray:
        """Return `slates` as an int64 (batch, slate) array, raising on bad shapes or ids."""
        return check_slates(slates, len(state.user_ids), self.n_items)

    # ------------------------------------------------------------------ response model
    def response_probs(
        self, state: WorldState, items: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """True (P(click), P(like | click), mean watch ratio | click) of each user for
        `items`: (B, k) ids per user (a slate; position bias applies) or (n,) ids shown to
        every user (no position bias), giving (B, k) or (B, n) arrays."""
        affinity = self._affinity(state, items)
        boredom = self._topic_boredom(state, items)
        like, watch = self._like_and_watch(affinity, self._per_item(self.item_quality, items),
                                           boredom)
        return _sigmoid(self._click_logit(state, items, affinity, boredom)), like, watch

    def predict(self, state: WorldState, items: np.ndarray) -> dict[str, np.ndarray]:
        """Expected value of each signal for each user and item, each item as if shown
        alone (the first slot: no position bias): P(click), P(click and like) and the mean
        watch ratio (0 without a click; its log-normal noise and the clip at `watch_cap`
        included), for (B, k) ids per user or (n,) ids shown to every user, giving (B, k)
        or (B, n) arrays (`PredictsResponses`)."""
        items = np.asarray(items, dtype=np.int64)
        if items.ndim == 2:
            items = self.check_slates(state, items)
        elif items.ndim != 1 or (items.size and (items.min() < 0 or items.max() >= self.n_items)):
            raise InputError(f"items must be (B, k) or (n,) ids in 0..{self.n_items - 1}")
        affinity = self._affinity(state, items)
        boredom = self._topic_boredom(state, items)
        like, watch = self._like_and_watch(affinity, self._per_item(self.item_quality, items),
                                           boredom)
        click = _sigmoid(self._logit(self.user_bias[state.user_ids][:, None], affinity,
                                     self._per_item(self._item_static_logit, items), boredom,
                                     self.recently_shown(state, items)))
        return {"click": click, "like": click * like,
                "watch_ratio": click * self._clipped_watch_mean(watch)}

    def _clipped_watch_mean(self, mean: np.ndarray) -> np.ndarray:
        """E[min(mean * noise, watch_cap)] for the log-normal noise of `respond` (mean 1,
        log-sd `watch_noise`)."""
        c = self.config
        sigma, cap = c.watch_noise, c.watch_cap
        if sigma <= 0:
            return np.minimum(mean, cap)
        z = np.log(cap / np.maximum(mean, 1e-300)) / sigma
        return mean * ndtr(z - sigma / 2) + cap * ndtr(-z - sigma / 2)

    def click_prob(self, state: WorldState, items: np.ndarray) -> np.ndarray:
        """True click probabilities for (B, k) or (n,) item ids (see `response_probs`)."""
        return _sigmoid(self._click_logit(state, items, self._affinity(state, items),
                                          self._topic_boredom(state, items)))

    # The formulas below take arrays (a batch) or floats (one user and one item, the fast
    # path of a single environment): the same operations in the same order either way,
    # so both give the same numbers to the last bit.
    def _like_and_watch(self, affinity: Any, quality: Any, boredom: Any) -> tuple[Any, Any]:
        """P(like | click) and the mean watch ratio given a click."""
        c = self.config
        like = _sigmoid(c.like_bias + c.like_affinity * affinity + c.like_quality * quality)
        watch = 0.5 * c.watch_cap * _sigmoid(
            c.watch_bias + c.watch_affinity * affinity + c.watch_quality * quality
            - c.watch_boredom * boredom
        )
        return like, watch

    def _logit(self, user_bias: Any, affinity: Any, static: Any, boredom: Any, recent: Any
               ) -> Any:
        """The click logit before position bias."""
        c = self.config
        return (
            c.click_bias
            + user_bias
            + c.affinity_scale * affinity
            + static
            - c.boredom_scale * boredom
            - c.repeat_scale * recent
        )

    def _leave_logit(self, patience: Any, satisfaction: Any, session_steps: Any,
                     no_click: Any) -> Any:
        """The per-step leave logit."""
        c = self.config
        return (
            c.leave_bias
            + patience
            + c.leave_dissatisfaction * (c.satisfaction_ref - satisfaction)
            + c.leave_fatigue * session_steps
            + c.leave_no_click * no_click
        )

    def _click_logit(self, state: WorldState, items: np.ndarray, affinity: np.ndarray,
                     boredom: np.ndarray) -> np.ndarray:
        logit = self._logit(self.user_bias[state.user_ids][:, None], affinity,
                            self._per_item(self._item_static_logit, items), boredom,
                            self.recently_shown(state, items))
        if items.ndim == 2:
            logit = logit - self._position_term(items.shape[1])
        return logit

    def _position_term(self, k: int) -> np.ndarray:
        """`position_decay * np.arange(k)[None, :]` (cached per slate size)."""
        term = self._position_terms.get(k)
        if term is None:
            term = self._position_terms[k] = self.config.position_decay * np.arange(k)[None, :]
        return term

    def _row_index(self, b: int) -> np.ndarray:
        """(b, 1) row numbers (cached per batch size)."""
        rows = self._rows.get(b)
        if rows is None:
            rows = self._rows[b] = np.arange(b)[:, None]
        return rows

    def recently_shown(self, state: WorldState, items: np.ndarray) -> np.ndarray:
        """How recently each item was shown: the sum of repeat_decay ** age over its
        appearances among the user's last shown items, for (B, k) or (n,) item ids."""
        weights = self._repeat_weights
        if state.recent.shape[1] != len(weights):
            weights = self.config.repeat_decay ** np.arange(state.recent.shape[1])
        if items.ndim == 1:  # count over the whole catalogue, then pick the items asked
            out = np.zeros((len(state), self.n_items))
            shown = state.recent >= 0
            rows = np.repeat(np.arange(len(state)), shown.sum(axis=1))
            np.add.at(out, (rows, state.recent[shown]),
                      np.broadcast_to(weights, state.recent.shape)[shown])
            return out[:, items]
        match = state.recent[:, None, :] == items[:, :, None]
        return (match * weights).sum(axis=2)

    def expected_satisfaction(self, state: WorldState, items: np.ndarray) -> np.ndarray:
        """Expected satisfaction of showing each item: P(click) * E[value | click]."""
        click, like, watch = self.response_probs(state, items)
        w = self.config.satisfaction_watch_weight
        return click * (w * np.minimum(watch, 1.0) + (1 - w) * like)

    def respond(self, state: WorldState, slates: np.ndarray, rng: RandomSource) -> Feedback:
        """Sample click, like and watch ratio for every slate position, shape (B, k)."""
        slates = self.check_slates(state, slates)
        if slates.shape == (1, 1):
            return self._respond_one(state, slates, rng)
        c = self.config
        shape = slates.shape
        p_click, p_like, watch_mean = self.response_probs(state, slates)
        click = rng.random(shape) < p_click
        like = click & (rng.random(shape) < p_like)
        noise = np.exp(c.watch_noise * rng.standard_normal(shape) - 0.5 * c.watch_noise**2)
        # np.clip(x, 0, cap), without its wrapper
        watch = np.where(click, np.minimum(np.maximum(watch_mean * noise, 0), c.watch_cap), 0)
        return {
            "click": click.astype(np.float32),
            "like": like.astype(np.float32),
            "watch_ratio": watch.astype(np.float32),
        }

    def _respond_one(self, state: WorldState, slates: np.ndarray, rng: RandomSource
                     ) -> Feedback:
        """`respond` for one user and one item with Python floats (the same numbers and
        draws as the batched path, a third of its numpy calls)."""
        c = self.config
        item = int(slates[0, 0])
        affinity = float(self._affinity(state, slates)[0, 0])
        boredom = float(state.boredom[0, self.item_topic[item]])
        like_p, watch_mean = self._like_and_watch(affinity, float(self.item_quality[item]),
                                                  boredom)
        recent = state.recent[0].tolist()
        if item not in recent:
            repeat = 0.0  # a sum of zeros
        elif recent.count(item) == 1 and len(recent) == len(self._repeat_weights):
            # one non-zero term: the sum is that term exactly, whatever numpy's order
            repeat = float(self._repeat_weights[recent.index(item)])
        else:
            repeat = float(self.recently_shown(state, slates)[0, 0])
        logit = self._logit(float(self.user_bias[state.user_ids[0]]), affinity,
                            float(self._item_static_logit[item]), boredom, repeat)
        p_click = _sigmoid(logit - float(self._position_term(1)[0, 0]))
        click = float(rng.random((1, 1))[0, 0]) < p_click
        like = float(rng.random((1, 1))[0, 0]) < like_p and click
        noise = np.exp(c.watch_noise * float(rng.standard_normal((1, 1))[0, 0])
                       - 0.5 * c.watch_noise**2)
        watch = min(max(watch_mean * noise, 0.0), c.watch_cap) if click else 0.0
        return {"click": np.array([[click]], np.float32), "like": np.array([[like]], np.float32),
                "watch_ratio": np.array([[watch]], np.float32)}

    def step_value(self, feedback: Feedback) -> np.ndarray:
        """Satisfaction of one step per user: the best consumed item's value."""
        w = self.config.satisfaction_watch_weight
        value = feedback["click"] * (
            w * np.minimum(feedback["watch_ratio"], 1.0) + (1 - w) * feedback["like"]
        )
        return np.maximum.reduce(value, axis=1)

    # ------------------------------------------------------------------ dynamics
    def step_state(self, state: WorldState, slates: np.ndarray, feedback: Feedback) -> WorldState:
        """Interest drift toward consumed items, boredom, satisfaction, session counters."""
        slates = self.check_slates(state, slates)
        c = self.config
        click = feedback["click"].astype(np.float64)
        consumed = np.add.reduce(click[:, :, None] * self.item_embedding[slates], axis=1)
        interest = state.interest + c.interest_drift * consumed
        interest /= _row_norms(interest)

        boredom = state.boredom * c.boredom_decay
        if slates.shape == (1, 1):  # one user, one item: Python floats, the same sums
            boredom[0, self.item_topic[slates[0, 0]]] += (
                c.boredom_shown + c.boredom_clicked * float(click[0, 0]))
        elif slates.shape[1] == 1:  # one topic per row: no repeated index to accumulate
            added = c.boredom_shown + c.boredom_clicked * click
            boredom[self._row_index(len(slates)), self.item_topic[slates]] += added
        else:
            added = c.boredom_shown + c.boredom_clicked * click
            rows = np.repeat(np.arange(len(slates)), slates.shape[1])
            np.add.at(boredom, (rows, self.item_topic[slates].ravel()), added.ravel())

        value = self.step_value(feedback)
        m = c.satisfaction_memory
        recent = np.concatenate([slates[:, ::-1], state.recent], axis=1)[:, : c.repeat_window]
        return WorldState(
            user_ids=state.user_ids,
            interest=interest,
            boredom=boredom,
            satisfaction=m * state.satisfaction + (1 - m) * value,
            session_steps=state.session_steps + 1,
            session_value=state.session_value + value,
            session_index=state.session_index,
            recent=recent,
        )

    def leave_prob(self, state: WorldState, feedback: Feedback) -> np.ndarray:
        """Chance each user ends the session now (state after the step, its feedback)."""
        c = self.config
        if len(state.user_ids) == 1:  # one user: Python floats, the same numbers
            steps = int(state.session_steps[0])
            logit = self._leave_logit(float(self.user_patience[state.user_ids[0]]),
                                      float(state.satisfaction[0]), steps,
                                      float(feedback["click"].max()) < 0.5)
            return np.array([1.0 if steps >= c.max_session_steps else float(_sigmoid(logit))])
        no_click = feedback["click"].max(axis=1) < 0.5
        logit = self._leave_logit(self.user_patience[state.user_ids], state.satisfaction,
                                  state.session_steps, no_click)
        return np.where(state.session_steps >= c.max_session_steps, 1.0, _sigmoid(logit))

    def session_satisfaction(self, state: WorldState) -> np.ndarray:
        """Mean satisfaction per step of the current session (reference level if empty)."""
        steps = np.maximum(state.session_steps, 1)
        return np.where(
            state.session_steps > 0, state.session_value / steps, self.config.satisfaction_ref
        )

    def return_gap_mean(self, state: WorldState) -> np.ndarray:
        """Expected seconds until each user's next session (the truth behind `return_gap`)."""
        c = self.config
        log_scale = (
            self.user_activity[state.user_ids] * -1.0
            - c.return_satisfaction * (self.session_satisfaction(state) - c.satisfaction_ref)
        )
        return HOUR_S * (c.min_gap_h + c.return_mean_h * np.exp(log_scale))

    def return_gap(self, state: WorldState, rng: RandomSource) -> np.ndarray:
        """Sampled seconds until each user's next session (log-normal around the mean)."""
        c = self.config
        base = self.return_gap_mean(state) - HOUR_S * c.min_gap_h
        noise = np.exp(c.return_noise * rng.standard_normal(len(state.user_ids))
                       - 0.5 * c.return_noise**2)
        return HOUR_S * c.min_gap_h + base * noise

    def next_session(self, state: WorldState, gap_s: np.ndarray) -> WorldState:
        """Start the next session: boredom fades over the gap, session counters reset."""
        c = self.config
        fade = 0.5 ** (np.asarray(gap_s, dtype=np.float64) / (HOUR_S * c.boredom_halflife_h))
        b = len(state.user_ids)
        return WorldState(
            user_ids=state.user_ids,
            interest=state.interest,
            boredom=state.boredom * fade[:, None],
            satisfaction=np.full(b, c.satisfaction_ref),
            session_steps=np.zeros(b, dtype=np.int64),
            session_value=np.zeros(b),
            session_index=state.session_index + 1,
            recent=state.recent,
        )

    # ------------------------------------------------------------------ logs
    def generate_log(
        self,
        policy: str | BehaviourPolicy = "epsilon_greedy",
        n_users: int | None = None,
        n_days: float = 7.0,
        seed: int = 0,
        slate_size: int = 1,
        truth: bool = False,
        max_sessions: int | None = None,
    ) -> InteractionLog:
        """Log a behaviour policy acting on the first `n_users` users for `n_days` days,
        or, with `max_sessions`, for that many whole sessions of each user from a fresh
        start (the episodes of the environments; the log then ends after the last one).

        `policy` is a name ('random', 'popularity', 'softmax', 'epsilon_greedy',
        'click_greedy', 'diversity_aware') or a `BehaviourPolicy`. Returns an
        `InteractionLog` with signals click, like and watch_ratio, context columns
        `position` and `propensity` (the policy's probability of the whole slate) and user
        / item feature tables (observable, noisy views of the hidden parameters). With
        `truth`, a context column `true_click_prob` holds the world's click probability of
        each shown item.
        """
        from simulators.world_log import generate_log

        return generate_log(self, policy, n_users=n_users, n_days=n_days, seed=seed,
                            slate_size=slate_size, truth=truth, max_sessions=max_sessions)

    # ------------------------------------------------------------------ helpers
    def _affinity(self, state: WorldState, items: np.ndarray) -> np.ndarray:
        if items.ndim == 1:
            return state.interest @ self.item_embedding[items].T
        return np.einsum("bd,bkd->bk", state.interest, self.item_embedding[items])

    def _topic_boredom(self, state: WorldState, items: np.ndarray) -> np.ndarray:
        if items.ndim == 1:
            return state.boredom[:, self.item_topic[items]]
        return state.boredom[self._row_index(len(items)), self.item_topic[items]]

    @staticmethod
    def _per_item(values: np.ndarray, items: np.ndarray) -> np.ndarray:
        return values[items][None, :] if items.ndim == 1 else values[items]
