"""The DRR paper's offline metrics in `RecGym/LoggedReplay-v0`: each test user once, the
average normalised rating of the recommendations, Precision@k, NDCG@k and MAP@k (binary
relevance: a positive rating)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from offline_data.shared.errors import InputError
from recgym.envs.vector import RecVectorEnv
from recgym.evaluate import Policy, attach_policy, summary_table
from recgym.metrics import average_precision, ndcg_at_k
from simulators.replay import RatingReplay

METRICS = ("avg_reward", "precision", "ndcg", "map")


def replay_evaluate(agent: Policy, env: RecVectorEnv, k: int = 20, seed: int = 0
                    ) -> pd.DataFrame:
    """Serve every user of the environment's replay once, in batches of `env.num_envs`,
    and return one row per user: `user_id`, `steps`, `avg_reward` (mean normalised
    rating over the episode), `precision` (share of positive recommendations among the
    first min(k, steps)), `ndcg` and `map` (at k, over the user's positive items that
    were not in the initial state; 0 for a user with none left, as no ranking can
    score). `replay_summary` gives means and 95% intervals."""
    replay = env.simulator
    if not isinstance(replay, RatingReplay):
        raise InputError("replay_evaluate needs a RecGym/LoggedReplay-v0 vector environment")
    attach_policy(agent, env)
    users = np.asarray(replay.users, np.int64)
    rows: list[dict[str, Any]] = []
    for start in range(0, len(users), env.num_envs):
        batch = users[start:start + env.num_envs]
        padded = np.resize(batch, env.num_envs)
        items, values = _episodes(agent, env, padded, seed + start)
        for row, user in enumerate(batch):
            rows.append(_user_metrics(replay, int(user), items[row], values[row], k))
    return pd.DataFrame(rows)


def _episodes(agent: Policy, env: RecVectorEnv, users: np.ndarray, seed: int
              ) -> tuple[list[list[int]], list[list[float]]]:
    """One episode per row with the given users: the recommended items and their
    normalised ratings, in order."""
    obs, _ = env.reset(seed=seed, options={"user_id": users})
    n = env.num_envs
    items: list[list[int]] = [[] for _ in range(n)]
    values: list[list[float]] = [[] for _ in range(n)]
    active = np.ones(n, dtype=bool)
    while active.any():
        obs, _, terminated, truncated, info = env.step(agent.predict(obs, deterministic=True))
        for row in np.flatnonzero(active):
            items[row].extend(int(i) for i in np.ravel(info["slate"][row]))
            values[row].extend(float(v) for v in np.ravel(info["slate_feedback"][row][..., 0]))
        active &= ~(terminated | truncated)
    return items, values


def replay_ceiling(replay: RatingReplay, k: int = 20) -> pd.DataFrame:
    """`replay_evaluate`'s rows for the best any policy can do: each user's not-yet-shown
    rated items from the highest rating down, for `k` steps (it reads the ratings)."""
    rows = []
    for user in np.asarray(replay.users, np.int64).tolist():
        items, values = _unshown_ratings(replay, user)
        order = np.argsort(-values, kind="stable")[:k]
        rows.append(_user_metrics(replay, user, items[order].tolist(),
                                  values[order].tolist(), k))
    return pd.DataFrame(rows)


def _unshown_ratings(replay: RatingReplay, user: int) -> tuple[np.ndarray, np.ndarray]:
    """A user's rated items outside the initial state, and their normalised ratings."""
    rated = replay.rated[user][replay.rated[user] >= 0]
    items = rated[~np.isin(rated, replay.initial[user])]
    return items, replay.ratings(np.array([user]), items[None])[0]


def _user_metrics(replay: RatingReplay, user: int, items: list[int], values: list[float],
                  k: int) -> dict[str, Any]:
    """One user's row of `replay_evaluate`."""
    positive = replay.is_positive(np.asarray(values))
    candidates, ratings = _unshown_ratings(replay, user)
    relevant = set(candidates[replay.is_positive(ratings)].tolist())
    shown = min(k, len(items))
    return {"user_id": user, "steps": len(items),
            "avg_reward": float(np.mean(values)) if values else float("nan"),
            "precision": float(positive[:shown].mean()) if shown else float("nan"),
            "ndcg": ndcg_at_k(items, relevant, k),
            "map": average_precision(items, relevant, k)}


def replay_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Means and 95% t-intervals of the protocol's metrics over users."""
    return summary_table(frame[list(METRICS)])
