"""Disjoint LinUCB (Li et al., 2010): one ridge regression per item over a context built
from the observation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from agents.base import is_batched, unwrap_env
from agents.online.baselines.common import as_action, checked_batch, excluding_seen, shown
from agents.online.baselines.explorer import Explorer, ExplorerConfig
from offline_data.shared.errors import InputError
from recgym.spaces import ObsSpec
from recgym.wrappers.continuous import top_k_by_score


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


class LinUCBAgent(Explorer):
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
    config: LinUCBConfig

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
        core = unwrap_env(env).core
        embeddings = core.item_embeddings() if core.has_item_embeddings else None
        return cls(core.spec, config, embeddings=embeddings)

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
        scores = excluding_seen(self.ucb_scores(batch), batch, self.spec,
                                 self.config.exclude_seen)
        if random_ties:
            scores = scores + 1e-9 * self.rng.random(scores.shape)
        return top_k_by_score(scores, self.spec.slate_size)

    def _explore(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self._choose(batch, random_ties=True)

    def _learn(self, before: dict[str, np.ndarray], after: dict[str, np.ndarray],
               stepped: np.ndarray) -> None:
        rows, items, rewards = shown(after, stepped, self.spec)
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
        batch = checked_batch(obs, self.spec)
        return as_action(self._choose(batch, random_ties=not deterministic),
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
