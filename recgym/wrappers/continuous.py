"""`ContinuousAction`: a `Box` action scored against item embeddings (DRR style)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from offline_data.shared.errors import InputError
from recgym.envs.base import rec_env
from recgym.masking import seen_mask


def top_k_by_score(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores per row, best first (shape (B, k))."""
    if k >= scores.shape[1]:
        return np.argsort(-scores, axis=1)[:, :k]
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def embedding_actions(
    vectors: np.ndarray, embeddings: np.ndarray, k: int, candidates: np.ndarray | None = None,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """Map ranking vectors (B, d) to the k best items by dot product with the item
    embeddings (B, k); with `candidates` (B, C), to the k best candidate indices.
    `exclude` (B, choices) bool ranks those choices last (e.g. `recgym.masking.seen_mask`)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if candidates is None:
        scores = vectors @ embeddings.T
    else:
        scores = np.einsum("bd,bcd->bc", vectors, embeddings[candidates])
    if exclude is not None:
        scores = np.where(exclude, -np.inf, scores)
    return top_k_by_score(scores, k)


def ranked_actions(vectors: np.ndarray, embeddings: np.ndarray, obs: dict[str, Any],
                   slate_size: int, n_items: int, exclude_seen: bool) -> np.ndarray:
    """Environment actions from ranking vectors (B, d) for a batched observation (only its
    `history_items` and, in candidate mode, `candidates` are read): item ids (B,) for one
    item per step, else slates (B, k); candidate indices in candidate mode. With
    `exclude_seen`, the items of the user's recent history are ranked last."""
    candidates = obs.get("candidates")
    if candidates is not None:
        candidates = np.asarray(candidates).reshape(len(vectors), -1).astype(np.int64)
    exclude = seen_mask(obs, n_items) if exclude_seen else None
    chosen = embedding_actions(vectors, embeddings, slate_size, candidates, exclude)
    return chosen[:, 0] if slate_size == 1 else chosen


class ContinuousAction(gym.ActionWrapper):
    """Turns a discrete recommendation env into one with a `Box(-1, 1, (d,))` action: the
    action is a ranking vector, items are scored by its dot product with the item
    embeddings (`env.item_embeddings()`, or `embeddings=`), and the top `slate_size` items
    (or candidates, in candidate mode) are recommended. For DDPG / TD3 / SAC and DRR.
    """

    def __init__(self, env: gym.Env, embeddings: np.ndarray | None = None) -> None:
        super().__init__(env)
        base = self._base = rec_env(env, "ContinuousAction")
        table = embeddings if embeddings is not None else base.item_embeddings()
        self.embeddings = np.asarray(table, dtype=np.float32)
        n_items = base.core.n_items
        if self.embeddings.ndim != 2 or self.embeddings.shape[0] != n_items:
            raise InputError(f"embeddings must have shape ({n_items}, d), got "
                             f"{self.embeddings.shape}")
        self.slate_size = base.config.slate_size
        self.action_space = spaces.Box(-1.0, 1.0, (self.embeddings.shape[1],), np.float32)

    def action(self, action: Any) -> Any:
        """Ranking vector -> item id (or slate)."""
        vector = np.asarray(action, dtype=np.float32).reshape(1, -1)
        if vector.shape[1] != self.embeddings.shape[1]:
            raise InputError(f"a ContinuousAction action has {self.embeddings.shape[1]} "
                             f"numbers, got {vector.shape[1]}")
        candidates = self._base.core.candidates
        chosen = embedding_actions(vector, self.embeddings, self.slate_size, candidates)[0]
        return int(chosen[0]) if self.slate_size == 1 else chosen
