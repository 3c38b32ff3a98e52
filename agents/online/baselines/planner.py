"""The planning oracle: Monte-Carlo lookahead on the true user state, for the
environment's combined reward (the ceiling the other agents are reported against)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from agents.base import is_batched, unwrap_env
from agents.online.baselines.common import (
    ReadsHiddenState,
    as_action,
    excluding_seen,
    n_choices,
)
from agents.online.baselines.lookahead import Futures, expected_returns, sampled_returns
from agents.settings import store_ints
from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from offline_data.shared.numbers import is_real
from recgym.core import RecCore
from recgym.envs.vector import RecVectorEnv
from recgym.rng import RowRNG, combine_keys
from recgym.wrappers.continuous import top_k_by_score

_BLOCK = 262_144
"""(row, item) pairs per call when scoring the whole catalogue."""
RANK_BY = ("reward", "click")
"""What the planner ranks items by (`PlannerConfig.rank_by`)."""
ESTIMATORS = ("expected", "sampled")
"""How rollouts score a future (`PlannerConfig.estimator`)."""


@dataclass(frozen=True)
class PlannerConfig(ConfigMixin):
    """Settings of `PlannerAgent`. The work per decision grows as candidates x rollouts x
    horizon (x pool: the items scored per simulated step)."""

    rank_by: str = "reward"
    """What ranks the first actions and guides the rollouts after the first step:
    "reward", the expected reward of each item's signals (`RecCore.expected_rewards`;
    the simulator must predict responses), or "click", the simulator's primary score
    (`primary_scores`, what the myopic `oracle` ranks by)."""
    estimator: str = "expected"
    """How a rollout scores its future: "expected", the expected reward of each simulated
    step and session end, weighted by the chance the user is still there (low noise;
    the simulator must predict responses), or "sampled", the reward the environment
    would pay along a fully sampled future (see `agents.online.baselines.lookahead`)."""
    candidates: int = 3
    """First actions compared per user (the best by `rank_by`); 1 is the greedy policy
    without lookahead."""
    rollouts: int = 4
    """Simulated futures per candidate."""
    horizon: int = 8
    """Steps simulated per rollout (the first action included)."""
    gamma: float = 1.0
    """Discount of the simulated rewards, in (0, 1] (the episode return is undiscounted)."""
    pool: int = 8
    """Items the rollouts' greedy policy picks from: the user's best `pool` items by
    `rank_by` at the decision (item mode; candidate mode picks among freshly drawn
    candidates, as the environment offers them)."""
    session_value: float = 20.0
    """Value of each later session of the episode, charged when a simulated user churns
    (or, with the "sampled" estimator, ends sessions early). About what one session
    returns: ~20 in RecGym/Synthetic-v0 under this planner. 0: none."""
    confidence: float = 0.0
    """Leave the greedy first action (the best by `rank_by`) only for a candidate whose
    simulated gain over it exceeds this many standard errors (paired over the rollouts,
    which share random numbers across candidates): the best of several noisy means is
    biased upwards. 0: the best mean."""
    exclude_seen: bool = False
    """Never recommend items of the user's recent history (the observation's
    `history_len` items, as `exclude_seen` does for the ranking baselines); the rollouts
    follow the same rule."""
    seed: int = 0
    """Seed of the rollouts' own random streams (the environment's are never drawn from)."""

    def __post_init__(self) -> None:
        store_ints(self, {"candidates": 1, "rollouts": 1, "horizon": 1, "pool": 1, "seed": 0})
        for name, allowed in (("rank_by", RANK_BY), ("estimator", ESTIMATORS)):
            if getattr(self, name) not in allowed:
                raise InputError(f"{name} must be one of {', '.join(map(repr, allowed))}, "
                                 f"got {getattr(self, name)!r}")
        if not is_real(self.gamma) or not 0.0 < self.gamma <= 1.0:
            raise InputError(f"gamma must be a discount in (0, 1], got {self.gamma!r}")
        object.__setattr__(self, "gamma", float(self.gamma))
        for name in ("session_value", "confidence"):
            value = getattr(self, name)
            if not is_real(value) or not np.isfinite(value) or value < 0:
                raise InputError(f"{name} must be a finite number >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))
        if not isinstance(self.exclude_seen, (bool, np.bool_)):
            raise InputError(f"exclude_seen must be True or False, got {self.exclude_seen!r}")
        object.__setattr__(self, "exclude_seen", bool(self.exclude_seen))


class PlannerAgent(ReadsHiddenState):
    """Monte-Carlo lookahead on the simulator's hidden state: the planning oracle.

    At each step, for every user, the `candidates` best first actions by `rank_by` (the
    expected reward of each item's signals, or the click probability the myopic `oracle`
    ranks by) are each followed by `rollouts` simulated futures of `horizon` steps on
    copies of the user's true state, acting greedily by `rank_by` after the first step
    over the user's `pool` best items. A future is scored by the environment's own
    combined reward (its reward weights, the retention reward when a session ends,
    churn, the episode's session and step budgets; see
    `agents.online.baselines.lookahead` for the two estimators), plus `session_value` per
    later session a churning user loses. The candidate with the best mean return wins
    if its gain over the greedy first action is clear (`confidence`), else the greedy
    one does. All users x candidates x rollouts are one batch per simulated step.

    Slates: the plan is for the first slot; the other slots hold the next best choices
    by `rank_by` (the rollouts show whole slates; the "expected" estimator counts each
    item's expected reward as if shown alone, without the slate-position effects of the
    synthetic world). Candidate mode: the first action is among the observed candidates;
    later simulated steps draw fresh candidates as the environment does. `exclude_seen`
    keeps recently shown items out, at the decision and in the rollouts.

    Randomness: the rollouts draw from their own streams, keyed by `seed`, the user, its
    steps and sessions so far and the rollout number (the same for every candidate:
    common random numbers sharpen the comparison). The environment's random streams are
    never touched, so evaluating the planner is repeatable, and a user's decisions are the
    same in a single environment and in any vector environment.

    Like the `oracle` it must be attached to the environment whose observations it is
    given (`attach(env)`; `create` / `make_agent` attach the environment they are given,
    a loaded agent needs `attach`). Rows of a vector environment that reset at the next
    step (their action is ignored) get the greedy action without planning. `fit` does
    nothing but count steps.

    Measured (`benchmarks/planner_ceiling.py`: RecGym/Synthetic-v0, 300 users, seed
    50,000): an episode return of 105.8 [100.4, 111.2] against 66.3 [62.9, 69.7] for the
    click-greedy oracle and 27.6 [26.0, 29.2] for random, in ~15 CPU seconds. Nearly all
    of the gain comes from ranking by the combined reward: with `candidates=1` (no
    lookahead) it returns 105.9 [100.4, 111.3], and no lookahead setting tried (up to 3
    candidates x 12 rollouts x 16 steps) beat that outside the noise (paired differences
    between -2.9 and +0.5, intervals about +-3.5): in this world the best first step is
    nearly always the one with the best expected immediate reward.
    """

    name: ClassVar[str] = "planner"
    config_class: ClassVar[type] = PlannerConfig
    config: PlannerConfig

    def attach(self, env: Any) -> Any:
        """Read and simulate the hidden state of `env` (an instance) from now on; returns
        it."""
        self.check_spaces(env)
        core = unwrap_env(env).core
        needs = [f"{name}={getattr(self.config, name)!r}" for name, value in
                 (("rank_by", "reward"), ("estimator", "expected"))
                 if getattr(self.config, name) == value]
        if needs and not core.predicts_responses:
            raise InputError(f"planner: {' and '.join(needs)} need(s) a simulator that "
                             "predicts expected responses (PredictsResponses), which "
                             f"{type(core.sim).__name__} does not; use rank_by='click' and "
                             "estimator='sampled'")
        return super().attach(env)

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """The planned items (or candidate indices) for the attached environment's current
        users."""
        batch, core = self.attached(obs)
        if self.config.rank_by == "click":
            scores = np.asarray(core.primary_scores(), dtype=np.float64)
        else:  # in blocks of at most _BLOCK (row, item) pairs, as primary_scores does
            parts = np.array_split(np.arange(self.spec.n_items),
                                   max(1, core.n * self.spec.n_items // _BLOCK))
            scores = np.concatenate([core.expected_rewards(
                core.state, np.broadcast_to(part, (core.n, len(part)))) for part in parts], 1)
        choice = scores
        if self.spec.n_candidates is not None:
            choice = np.take_along_axis(scores, np.asarray(batch["candidates"], np.int64), 1)
        choice = excluding_seen(choice, batch, self.spec, self.config.exclude_seen)
        action = top_k_by_score(choice, self.spec.slate_size)  # greedy by rank_by
        rows = np.arange(core.n)
        base = unwrap_env(self.env)
        if isinstance(base, RecVectorEnv):
            rows = rows[~base.resetting_next]
        if len(rows) and min(self.config.candidates, n_choices(self.spec)) > 1:
            action[rows] = self._plan(core, rows, scores[rows], choice[rows],
                                      {k: v[rows] for k, v in batch.items()})
        return as_action(action, is_batched(obs), self.spec.slate_size)

    def _plan(self, core: RecCore, rows: np.ndarray, scores: np.ndarray, choice: np.ndarray,
              batch: dict[str, np.ndarray]) -> np.ndarray:
        """(b, k) planned choices for engine rows `rows`: `scores` (b, n_items) and
        `choice` (b, choices) are their `rank_by` scores, `batch` their observations."""
        c, k = self.config, self.spec.slate_size
        b, m, r = len(rows), min(c.candidates, choice.shape[1]), c.rollouts
        first = _first_slates(choice, m, k)  # (b, m, k) choices, slot 0 the candidate
        valid = np.isfinite(np.take_along_axis(choice, first[:, :, 0], 1))
        items = first if self.spec.n_candidates is None else np.take_along_axis(
            np.asarray(batch["candidates"], np.int64)[:, None, :], first, 2)

        def copies(x: np.ndarray) -> np.ndarray:
            """(b, ...) -> (b * m * r, ...): one copy per candidate and rollout."""
            return np.repeat(x, m * r, axis=0)

        keys = combine_keys(c.seed, core.user[rows, None, None], core.steps[rows, None, None],
                            core.session[rows, None, None], np.arange(r)[None, None, :])
        pool = None
        if self.spec.n_candidates is None:
            pool = copies(top_k_by_score(scores, min(max(c.pool, k), self.spec.n_items)))
        futures = Futures(
            core=core, state=core.state.take(copies(rows)), session=copies(core.session[rows]),
            steps=copies(core.steps[rows]), rng=RowRNG(np.broadcast_to(keys, (b, m, r)).ravel()),
            by_reward=c.rank_by == "reward", pool=pool,
            history=copies(np.asarray(batch["history_items"], np.int64)) if c.exclude_seen
            else None)
        estimate = expected_returns if c.estimator == "expected" else sampled_returns
        value = estimate(futures, np.repeat(items, r, axis=1).reshape(b * m * r, k), c.horizon,
                         c.gamma, c.session_value)
        best = _best(value.reshape(b, m, r), valid, c.confidence)
        return first[np.arange(b), best]


def _best(value: np.ndarray, valid: np.ndarray, confidence: float) -> np.ndarray:
    """(b,) the candidate with the best mean return (b, m, r) among the valid ones whose
    gain over candidate 0 (the greedy one) beats `confidence` standard errors of the
    paired differences (rollout j of every candidate shares its random numbers); 0 when
    none does. Ties go to the lower index (the higher score)."""
    r = value.shape[2]
    gain = value - value[:, :1, :]
    mean = gain.mean(axis=2)
    se = gain.std(axis=2, ddof=1) / np.sqrt(r) if r > 1 else np.zeros_like(mean)
    eligible = valid & (mean > confidence * se)
    eligible[:, 0] |= ~eligible.any(axis=1)
    return np.argmax(np.where(eligible, mean, -np.inf), axis=1)


def _first_slates(choice: np.ndarray, m: int, k: int) -> np.ndarray:
    """(b, m, k) first slates: slot 0 holds each of the m best choices, the other slots
    the best choices besides it, in order."""
    order = top_k_by_score(choice, min(m + k - 1, choice.shape[1]))
    rest = np.array([[j for j in range(k) if j != i] if i < k else list(range(k - 1))
                     for i in range(m)], dtype=np.int64).reshape(m, k - 1)
    return np.concatenate([order[:, :m, None], order[:, rest]], axis=2)
