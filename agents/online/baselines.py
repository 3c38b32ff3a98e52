"""Baseline agents: random, most-popular, the myopic oracle and disjoint LinUCB.

They follow the `agents.base.Agent` interface and act in every action mode of recgym: one
item, a slate of `slate_size` distinct items, or (in candidate mode) indices into the
observed candidate list. Each takes one observation or a batch.

- `RandomAgent`: uniformly random distinct choices.
- `PopularAgent`: items ranked by a smoothed rate of the primary signal (e.g. CTR),
  counted from random exploration in an environment (`fit`) or from a log (`from_log`).
- `OracleAgent`: greedy on the simulator's own probability of the primary signal for the
  user's current hidden state (an upper reference for myopic recommendation; no real
  recommender can see it).
- `LinUCBAgent`: disjoint LinUCB (Li et al., 2010), one ridge model per item over a
  context built from the observation.

Slates: the reward vector sums a signal over the slate, so per-item feedback is read from
the next observation, whose first `slate_size` history slots hold the slate (reversed) with
each item's own feedback.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from agents.base import (
    Agent,
    Callback,
    CountingOnly,
    batch_of,
    is_batched,
    unwrap_env,
)
from offline_data.log import InteractionLog
from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from recgym.envs.vector import RecVectorEnv
from recgym.masking import seen_mask
from recgym.spaces import ObsSpec
from recgym.wrappers.continuous import top_k_by_score

# ---------------------------------------------------------------------- helpers


def _batch(obs: Any, spec: ObsSpec) -> dict[str, np.ndarray]:
    """A checked, batched observation."""
    if not isinstance(obs, dict) or "history_items" not in obs:
        raise InputError("predict takes a recgym observation dict (keys user_id, "
                         "history_items, ...), one or a batch")
    batch = batch_of(obs)
    if spec.n_candidates is not None and "candidates" not in batch:
        raise InputError("this agent was built for candidate mode (n_candidates="
                         f"{spec.n_candidates}) but the observation has no 'candidates'")
    return batch


def _n_choices(spec: ObsSpec) -> int:
    return spec.n_candidates if spec.n_candidates is not None else spec.n_items


def _rank(scores: np.ndarray, batch: dict[str, np.ndarray], spec: ObsSpec,
          exclude_seen: bool = False) -> np.ndarray:
    """The `slate_size` best choices per row (B, k) from item scores (B, n_items): item
    ids, or candidate indices in candidate mode; `exclude_seen` ranks the items of the
    user's recent history last."""
    if spec.n_candidates is not None:
        candidates = np.asarray(batch["candidates"], dtype=np.int64)
        scores = np.take_along_axis(scores, candidates, axis=1)
    return top_k_by_score(_excluding_seen(scores, batch, spec, exclude_seen), spec.slate_size)


def _excluding_seen(scores: np.ndarray, batch: dict[str, np.ndarray], spec: ObsSpec,
                    enabled: bool) -> np.ndarray:
    """Choice scores (B, choices) with the recently shown items set to -inf."""
    if not enabled:
        return scores
    return np.where(seen_mask(batch, spec.n_items), -np.inf, scores)


def _as_action(choice: np.ndarray, batched: bool, slate_size: int) -> Any:
    """(B, k) choices -> the action format of a vector env (batched) or a single env."""
    out = np.asarray(choice, dtype=np.int64)
    out = out[:, 0] if slate_size == 1 else out
    if batched:
        return out
    return int(out[0]) if slate_size == 1 else out[0]


def _shown(next_batch: dict[str, np.ndarray], stepped: np.ndarray, spec: ObsSpec
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, items, primary feedback) of every item shown in the step just taken, read
    from the next observation's first slate_size history slots (only rows that stepped;
    with history_len < slate_size, only the last history_len items of the slate)."""
    m = min(spec.slate_size, spec.history_len)
    items = np.asarray(next_batch["history_items"])[:, :m]
    feedback = np.asarray(next_batch["history_feedback"], dtype=np.float64)[:, :m, 0]
    valid = stepped[:, None] & (items < spec.n_items)
    rows = np.broadcast_to(np.arange(len(items))[:, None], items.shape)
    return rows[valid], items[valid].astype(np.int64), feedback[valid]


class _Rollout:
    """Steps an environment (a vector env, or a single env seen as a batch of one) for
    the agents that explore in it; keeps the last batched observation."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.base = unwrap_env(env)
        self.vector = isinstance(self.base, RecVectorEnv)
        self.n = int(self.base.num_envs) if self.vector else 1
        self.obs: dict[str, np.ndarray] | None = None

    def start(self, seed: int) -> None:
        obs, _ = self.env.reset(seed=seed)
        self.obs = batch_of(obs)

    def step(self, choice: np.ndarray, slate_size: int
             ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Act; returns the observation right after the step (before any reset of a single
        env) and which rows actually stepped (vector rows being reset did not)."""
        action = _as_action(choice, self.vector, slate_size)
        obs, _, terminated, truncated, info = self.env.step(action)
        if self.vector:
            after = {k: np.asarray(v) for k, v in obs.items()}
            stepped = np.asarray(info.get("_slate", np.zeros(self.n, dtype=bool)), dtype=bool)
            self.obs = after
            return after, stepped
        after = batch_of(obs)
        self.obs = batch_of(self.env.reset()[0]) if terminated or truncated else after
        return after, np.ones(1, dtype=bool)

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.obs is not None:
            out["last_obs"] = {k: np.array(v) for k, v in self.obs.items()}
        if self.vector and self.obs is not None:
            out["env"] = self.base.get_state()
        return out

    def restore(self, state: dict[str, Any], seed: int) -> None:
        """Continue from `state` (exactly for a vector env; a single env restarts)."""
        if self.vector and "env" in state and "last_obs" in state:
            self.env.reset(seed=seed)  # the core must exist before set_state
            self.base.set_state(state["env"])
            self.obs = {k: np.array(v) for k, v in state["last_obs"].items()}
        else:
            self.obs = None


class _Explorer(Agent):
    """Shared `fit` loop of agents that learn by acting in an environment."""

    def __init__(self, spec: ObsSpec, config: Any = None) -> None:
        super().__init__(spec, config)
        self.rng = np.random.default_rng(self.config.seed)
        self._rollout: _Rollout | None = None
        self._pending: dict[str, Any] | None = None

    @abstractmethod
    def _explore(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Choices (B, k) to act with while learning."""

    @abstractmethod
    def _learn(self, before: dict[str, np.ndarray], after: dict[str, np.ndarray],
               stepped: np.ndarray) -> None:
        """Learn from one vector step (`stepped`: the rows that really stepped)."""

    def attach(self, env: Any) -> Any:
        """Connect a training environment (an instance, or an id built with the config's
        `n_envs` / `env_kwargs`); returns it."""
        env = self.training_env(env)
        if self._rollout is None or self._rollout.env is not env:
            self.check_spaces(env)
            self._rollout = _Rollout(env)
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._rollout.restore(pending, self.config.seed)
        return env

    def fit(self, env: Any, total_steps: int, callbacks: Sequence[Callback] = (),
            budget: int | None = None) -> Agent:
        """Act and learn for `total_steps` more environment steps (a vector step counts
        `num_envs`; rounded up to whole vector steps). `budget` is unused: nothing here
        follows a schedule."""
        self.attach(env)
        rollout = self._rollout
        assert rollout is not None
        if rollout.obs is None:
            rollout.start(self.config.seed)
        target = self.num_steps + int(total_steps)
        while self.num_steps < target:
            before = rollout.obs
            assert before is not None
            after, stepped = rollout.step(self._explore(before), self.spec.slate_size)
            self._learn(before, after, stepped)
            self.num_steps += rollout.n
        self.run_callbacks(callbacks)
        return self

    def training_state(self) -> dict[str, Any]:
        """Step count, random state, and the environment's state and last observation
        (a `RecVectorEnv` resumes exactly; a single env restarts its episode)."""
        state = {"num_steps": self.num_steps, "rng": self.rng.bit_generator.state}
        if self._rollout is not None:
            state.update(self._rollout.state())
        return state

    def load_training_state(self, state: dict[str, Any], env: Any = None) -> None:
        """Restore `training_state`; without `env` the environment part waits for the next
        `attach` / `fit`."""
        super().load_training_state(state, env)
        self.rng.bit_generator.state = state["rng"]
        self._pending = {k: state[k] for k in ("env", "last_obs") if k in state}
        self._rollout = None
        if env is not None:
            self.attach(env)


@dataclass(frozen=True)
class ExplorerConfig(ConfigMixin):
    """Settings shared by the baselines that learn from the environment in `fit`."""

    exclude_seen: bool = True
    """Never recommend an item of the user's recent history (as deployed recommenders
    filter what was just shown)."""
    seed: int = 0
    """Seed of the agent's random choices (exploration, tie-breaking) and of the
    environment reset in `fit`."""
    n_envs: int = 8
    """Parallel users when `fit` is given an environment id."""
    env_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    """Environment arguments when `fit` is given an environment id."""

    def __post_init__(self) -> None:
        if self.n_envs < 1:
            raise InputError(f"n_envs must be a positive integer, got {self.n_envs}")


# ---------------------------------------------------------------------- random


@dataclass(frozen=True)
class RandomConfig(ConfigMixin):
    """Settings of `RandomAgent`."""

    seed: int = 0
    """Seed of the agent's own random generator."""


class RandomAgent(CountingOnly, Agent):
    """Uniformly random distinct items (or candidate indices).

    The agent draws from its own generator seeded by `config.seed`, so the sequence of
    actions is reproducible; `predict(deterministic=True)` is still random (a random
    policy has no deterministic version) and advances the generator. The generator's state
    is saved with the weights, so a loaded agent continues the same sequence. `fit` does
    nothing but count steps.
    """

    name: ClassVar[str] = "random"
    config_class: ClassVar[type] = RandomConfig

    def __init__(self, spec: ObsSpec, config: RandomConfig | None = None) -> None:
        super().__init__(spec, config)
        self.rng = np.random.default_rng(self.config.seed)

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """Random distinct item ids / candidate indices for one observation or a batch."""
        batch = _batch(obs, self.spec)
        keys = self.rng.random((len(batch["history_items"]), _n_choices(self.spec)))
        return _as_action(top_k_by_score(keys, self.spec.slate_size), is_batched(obs),
                          self.spec.slate_size)

    def weights(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_weights(self, weights: dict[str, Any]) -> None:
        self.rng.bit_generator.state = weights["rng"]


# ---------------------------------------------------------------------- most popular


@dataclass(frozen=True)
class PopularConfig(ExplorerConfig):
    """Settings of `PopularAgent`."""

    smoothing: float = 5.0
    """Pseudo-shows at the global rate added to every item (shrinks rarely shown items
    toward the average)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.smoothing < 0:
            raise InputError(f"smoothing must be >= 0, got {self.smoothing}")


class PopularAgent(_Explorer):
    """Most popular: items ranked by a smoothed rate of the primary signal,
    `(successes + m * global_rate) / (shows + m)` with `m = config.smoothing`; ties go to
    the lower item id. The same ranking is shown to every user (in candidate mode, the
    best-ranked observed candidates).

    Counts come from `fit(env, steps)`, which recommends uniformly random slates in the
    environment and counts shows and primary-signal values per item, and/or from
    `PopularAgent.from_log(log, spec)`.
    """

    name: ClassVar[str] = "popular"
    config_class: ClassVar[type] = PopularConfig

    def __init__(self, spec: ObsSpec, config: PopularConfig | None = None) -> None:
        super().__init__(spec, config)
        self.shows = np.zeros(spec.n_items, dtype=np.float64)
        self.successes = np.zeros(spec.n_items, dtype=np.float64)
        self._refresh()

    @classmethod
    def from_log(cls, log: InteractionLog, spec: ObsSpec | Any,
                 config: PopularConfig | None = None) -> PopularAgent:
        """An agent whose counts are the log's shows and primary-signal values per item.

        `spec` is the environment's `ObsSpec` (or the environment); the log's item ids must
        be the environment's (a synthetic log of the same world, or the log a simulator
        was fitted on)."""
        if not isinstance(spec, ObsSpec):
            spec = unwrap_env(spec).core.spec
        primary = spec.signal_names[0]
        if primary not in log.signal_names:
            raise InputError(f"{log.source}: the log has no {primary!r} signal (the "
                             f"environment's primary signal); it has {log.signal_names}")
        items = log.interactions["item_id"].to_numpy()
        if len(items) and items.max() >= spec.n_items:
            raise InputError(f"{log.source}: item ids reach {int(items.max())} but the "
                             f"environment has {spec.n_items} items; use a log in the "
                             "environment's id space")
        agent = cls(spec, config)
        values = log.interactions[primary].to_numpy(dtype=np.float64)
        agent.shows += np.bincount(items, minlength=spec.n_items)
        agent.successes += np.bincount(items, weights=values, minlength=spec.n_items)
        agent._refresh()
        return agent

    def _refresh(self) -> None:
        self._stale = False
        total = self.shows.sum()
        prior = self.successes.sum() / total if total > 0 else 0.0
        m = float(self.config.smoothing)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = (self.successes + m * prior) / (self.shows + m)
        self.rate = np.where(self.shows + m > 0, rate, prior)
        self.order = np.argsort(-self.rate, kind="stable")
        self._position = np.empty(self.spec.n_items, dtype=np.int64)
        self._position[self.order] = np.arange(self.spec.n_items)

    def scores(self) -> np.ndarray:
        """The smoothed rate of every item (n_items,)."""
        if self._stale:
            self._refresh()
        return self.rate.copy()

    def _explore(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        keys = self.rng.random((len(batch["history_items"]), _n_choices(self.spec)))
        return top_k_by_score(keys, self.spec.slate_size)

    def _learn(self, before: dict[str, np.ndarray], after: dict[str, np.ndarray],
               stepped: np.ndarray) -> None:
        _, items, feedback = _shown(after, stepped, self.spec)
        np.add.at(self.shows, items, 1.0)
        np.add.at(self.successes, items, feedback)
        self._stale = True

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """The top-ranked items (or observed candidates) for one observation or a batch."""
        batch = _batch(obs, self.spec)
        if self._stale:
            self._refresh()
        b = len(batch["history_items"])
        # minus the rank position: a score without ties, so the order is deterministic
        scores = np.broadcast_to(-self._position.astype(np.float64), (b, self.spec.n_items))
        return _as_action(_rank(scores, batch, self.spec, self.config.exclude_seen),
                          is_batched(obs), self.spec.slate_size)

    def weights(self) -> dict[str, Any]:
        return {"shows": self.shows.copy(), "successes": self.successes.copy()}

    def load_weights(self, weights: dict[str, Any]) -> None:
        shows = np.asarray(weights["shows"], dtype=np.float64)
        if shows.shape != (self.spec.n_items,):
            raise ValueError(f"counts for {shows.shape} items, expected {self.spec.n_items}")
        self.shows = shows
        self.successes = np.asarray(weights["successes"], dtype=np.float64)
        self._refresh()


# ---------------------------------------------------------------------- myopic oracle


@dataclass(frozen=True)
class OracleConfig(ConfigMixin):
    """Settings of `OracleAgent` (it has no randomness; `seed` is kept for symmetry)."""

    seed: int = 0


class OracleAgent(CountingOnly, Agent):
    """Greedy on the simulator's predicted primary signal: the myopic oracle.

    It ranks items by `core.primary_scores()`, the simulator's own probability of the
    primary signal (e.g. a click) given each user's current hidden state, so it must be
    attached to the environment whose observations it is given (`attach(env)`;
    `create` / `make_agent` attach the environment they are given; a loaded agent needs
    `attach`). For a vector env the batch rows are its sub-environments; for a single env
    the batch is its one row. `fit` does nothing but count steps.
    """

    name: ClassVar[str] = "oracle"
    config_class: ClassVar[type] = OracleConfig

    def __init__(self, spec: ObsSpec, config: OracleConfig | None = None) -> None:
        super().__init__(spec, config)
        self.env: Any = None

    @classmethod
    def create(cls, env: Any, config: Any = None) -> OracleAgent:
        """A new oracle attached to `env`."""
        agent = cls(unwrap_env(env).core.spec, config)
        agent.attach(env)
        return agent

    def observe(self, env: Any) -> None:
        """Act in `env` from now on (evaluation calls this): read its hidden state."""
        self.attach(env)

    def attach(self, env: Any) -> Any:
        """Read the hidden state of `env` (an instance) from now on; returns it."""
        self.check_spaces(env)
        self.env = env
        return env

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """The items (or candidates) with the highest true primary-signal probability for
        the attached environment's current users."""
        if self.env is None:
            raise InputError("the oracle reads the simulator's hidden state: attach it to "
                             "the environment first (agent.attach(env)), or build it with "
                             "make_agent('oracle', env)")
        batch = _batch(obs, self.spec)
        core = unwrap_env(self.env).core
        users = np.asarray(batch["user_id"]).reshape(-1)
        if len(users) != core.n or not np.array_equal(users, core.user):
            raise InputError(f"oracle: the observation ({len(users)} row(s)) is not the "
                             f"current one of the attached environment ({core.n} row(s)); "
                             "predict on the latest observation of that environment")
        scores = np.asarray(core.primary_scores(), dtype=np.float64)
        return _as_action(_rank(scores, batch, self.spec), is_batched(obs),
                          self.spec.slate_size)


# ---------------------------------------------------------------------- LinUCB


@dataclass(frozen=True)
class LinUCBConfig(ExplorerConfig):
    """Settings of `LinUCBAgent`."""

    alpha: float = 0.5
    """Weight of the exploration bonus sqrt(x' A^-1 x)."""
    ridge: float = 1.0
    """Ridge penalty lambda: every item's A starts as lambda * I."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ridge <= 0:
            raise InputError(f"ridge must be > 0, got {self.ridge}")
        if self.alpha < 0:
            raise InputError(f"alpha must be >= 0, got {self.alpha}")


_CHUNK = 1 << 21
"""Scoring works on blocks of at most this many (row, item, dim) numbers."""


class LinUCBAgent(_Explorer):
    """Disjoint LinUCB (Li et al., 2010): one ridge regression per item.

    Context x = [user features, mean item embedding of the filled history slots, mean
    history feedback per signal, log1p(session step), 1]. Item a scores
    `theta_a . x + alpha * sqrt(x' A_a^-1 x)` with `A_a = ridge * I + sum x x'` and
    `theta_a = A_a^-1 b_a`, `b_a = sum r x`, r the item's own primary-signal value; A^-1 is
    kept up to date with Sherman-Morrison updates. `fit` acts with the UCB score in the
    environment (random tie-breaking) and updates online. `predict` uses the UCB score
    too: the exploration bonus is part of the policy (`alpha=0` gives the greedy one);
    `deterministic=False` only breaks ties at random. Item embeddings come from
    `env.item_embeddings()` and are saved with the weights.
    """

    name: ClassVar[str] = "linucb"
    config_class: ClassVar[type] = LinUCBConfig

    def __init__(self, spec: ObsSpec, config: LinUCBConfig | None = None,
                 embeddings: np.ndarray | None = None) -> None:
        super().__init__(spec, config)
        self._set_embeddings(embeddings)
        d = self.dim
        self.a_inv = np.tile(np.eye(d) / self.config.ridge, (spec.n_items, 1, 1))
        self.b = np.zeros((spec.n_items, d))
        self.theta = np.zeros((spec.n_items, d))

    def _set_embeddings(self, embeddings: np.ndarray | None) -> None:
        n = self.spec.n_items
        table = (np.zeros((n, 0)) if embeddings is None
                 else np.asarray(embeddings, dtype=np.float64))
        if table.ndim != 2 or table.shape[0] != n:
            raise InputError(f"item embeddings must have shape ({n}, d), got {table.shape}")
        self.embeddings = table
        # one zero row for the empty history slot (id n_items)
        self._table = np.vstack([table, np.zeros((1, table.shape[1]))])
        self.dim = self.spec.user_feature_dim + table.shape[1] + self.spec.n_signals + 2

    @classmethod
    def create(cls, env: Any, config: Any = None) -> LinUCBAgent:
        """A new agent for `env`, with its item embeddings (none if it has none)."""
        base = unwrap_env(env)
        try:
            embeddings = base.item_embeddings()
        except (AttributeError, TypeError, NotImplementedError):
            embeddings = None
        return cls(base.core.spec, config, embeddings=embeddings)

    def context(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """The context vectors (B, dim) of a batched observation."""
        items = np.asarray(batch["history_items"], dtype=np.int64)
        b = len(items)
        filled = items < self.spec.n_items
        count = np.maximum(filled.sum(axis=1, keepdims=True), 1)
        emb = self._table[np.minimum(items, self.spec.n_items)].sum(axis=1) / count
        feedback = np.asarray(batch["history_feedback"], dtype=np.float64)
        feedback = (feedback * filled[:, :, None]).sum(axis=1) / count
        step = np.log1p(np.asarray(batch["session_step"], dtype=np.float64).reshape(b, -1)[:, :1])
        user = np.asarray(batch["user_features"], dtype=np.float64).reshape(b, -1)
        return np.concatenate([user, emb, feedback, step, np.ones((b, 1))], axis=1)

    def ucb_scores(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """UCB score of every item (B, n_items), or of every candidate (B, C) in
        candidate mode."""
        x = self.context(batch)
        b, d = x.shape
        alpha = float(self.config.alpha)
        if self.spec.n_candidates is not None:
            cands = np.asarray(batch["candidates"], dtype=np.int64)
            mean = np.einsum("bd,bcd->bc", x, self.theta[cands])
            quad = np.einsum("bd,bcde,be->bc", x, self.a_inv[cands], x, optimize=True)
            return mean + alpha * np.sqrt(np.maximum(quad, 0.0))
        n = self.spec.n_items
        mean = x @ self.theta.T
        quad = np.empty((b, n))
        step = max(1, _CHUNK // max(b * d, 1))
        for start in range(0, n, step):
            block = self.a_inv[start:start + step]
            quad[:, start:start + step] = np.einsum(
                "bne,be->bn", np.einsum("bd,nde->bne", x, block), x)
        return mean + alpha * np.sqrt(np.maximum(quad, 0.0))

    def _choose(self, batch: dict[str, np.ndarray], random_ties: bool) -> np.ndarray:
        scores = _excluding_seen(self.ucb_scores(batch), batch, self.spec,
                                 self.config.exclude_seen)
        if random_ties:
            scores = scores + 1e-9 * self.rng.random(scores.shape)
        return top_k_by_score(scores, self.spec.slate_size)

    def _explore(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self._choose(batch, random_ties=True)

    def _learn(self, before: dict[str, np.ndarray], after: dict[str, np.ndarray],
               stepped: np.ndarray) -> None:
        rows, items, rewards = _shown(after, stepped, self.spec)
        if len(items):
            self.update(self.context(before)[rows], items, rewards)

    def update(self, x: np.ndarray, items: np.ndarray, rewards: np.ndarray) -> None:
        """Add observations (context x (m, dim), item, reward) in order; updates of
        different items are applied together, repeats of an item one after another."""
        x = np.asarray(x, dtype=np.float64)
        items = np.asarray(items, dtype=np.int64)
        rewards = np.asarray(rewards, dtype=np.float64)
        todo = np.arange(len(items))
        while len(todo):
            _, first = np.unique(items[todo], return_index=True)
            now = todo[np.sort(first)]
            a, xs = items[now], x[now]
            inv = self.a_inv[a]
            ax = np.einsum("qij,qj->qi", inv, xs)
            denom = 1.0 + np.einsum("qi,qi->q", xs, ax)
            inv = inv - ax[:, :, None] * ax[:, None, :] / denom[:, None, None]
            self.a_inv[a] = inv
            self.b[a] += rewards[now, None] * xs
            self.theta[a] = np.einsum("qij,qj->qi", inv, self.b[a])
            todo = todo[~np.isin(todo, now)]

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """The items (or candidates) with the highest UCB score, for one observation or a
        batch (`deterministic=False`: ties broken at random)."""
        batch = _batch(obs, self.spec)
        return _as_action(self._choose(batch, random_ties=not deterministic),
                          is_batched(obs), self.spec.slate_size)

    def weights(self) -> dict[str, Any]:
        return {"embeddings": self.embeddings.copy(), "a_inv": self.a_inv.copy(),
                "b": self.b.copy()}

    def load_weights(self, weights: dict[str, Any]) -> None:
        self._set_embeddings(np.asarray(weights["embeddings"], dtype=np.float64))
        a_inv = np.asarray(weights["a_inv"], dtype=np.float64)
        b = np.asarray(weights["b"], dtype=np.float64)
        expected = (self.spec.n_items, self.dim)
        if a_inv.shape != (*expected, self.dim) or b.shape != expected:
            raise ValueError(f"LinUCB arrays of shape {a_inv.shape} / {b.shape}, expected "
                             f"{(*expected, self.dim)} / {expected}")
        self.a_inv, self.b = a_inv, b
        self.theta = np.einsum("aij,aj->ai", a_inv, b)
