"""Recommendation metrics, defined once.

Per episode (one user over its sessions), from the reward vectors the environment reports:

| key | definition |
|---|---|
| `steps` | steps taken |
| `ctr` | primary signal (clicks) per shown item |
| `signal/<name>` | each signal per shown item (likes per item, watch ratio per item, ...) |
| `reward_per_step` | scalar reward per step |
| `total_return` | sum of the scalar reward (the episode return) |
| `sessions` | sessions started |
| `depth` | steps per session (steps / sessions) |
| `return_gap` | mean gap (hours) before coming back, over the returns (not churns); NaN if none |
| `retention` | mean retention reward per ended session (1: immediate return, 0: churn) |
| `long_term_return` | sum of the retention rewards (the episode's long-term return) |
| `churn` | 1 if the episode ended because the user churned (its mean is the churn rate) |

Ranking metrics on a list of recommended items against a set of relevant ones:
`precision_at_k`, `hit_rate_at_k`, `ndcg_at_k`, `average_precision` (MAP is its mean
over users).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EPISODE_KEYS = ("steps", "ctr", "reward_per_step", "total_return", "sessions", "depth",
                "return_gap", "retention", "long_term_return", "churn")


class EpisodeAccumulator:
    """Running per-episode sums for `n` parallel environments (batched numpy)."""

    def __init__(self, n: int, reward_names: Sequence[str], slate_size: int = 1) -> None:
        self.names = list(reward_names)
        self.n_signals = len(self.names) - 2  # then depth, retention
        self.slate_size = slate_size
        self.n = n

        self.steps = np.zeros(n)
        self.signals = np.zeros((n, self.n_signals))
        self.reward = np.zeros(n)
        self.sessions = np.zeros(n)
        self.gap_sum = np.zeros(n)
        self.returns = np.zeros(n)
        self.retention = np.zeros(n)
        self.last_left = np.zeros(n, dtype=bool)

    def _zero(self, rows: np.ndarray) -> None:
        for array in (self.steps, self.signals, self.reward, self.sessions, self.gap_sum,
                      self.returns, self.retention, self.last_left):
            array[rows] = 0

    def add(self, rows: np.ndarray, reward: np.ndarray, reward_vector: np.ndarray,
            left_session: np.ndarray, return_gap_h: np.ndarray,
            churned: np.ndarray | None = None) -> None:
        """Record one step of the environments at `rows` (`churned`: the gap that ended
        the session was a churn, not a return)."""
        self.steps[rows] += 1
        self.signals[rows] += reward_vector[:, : self.n_signals]
        self.reward[rows] += reward
        left = np.asarray(left_session, dtype=bool)
        returned = left if churned is None else left & ~np.asarray(churned, dtype=bool)
        self.sessions[rows] += left
        self.returns[rows] += returned
        self.gap_sum[rows] += np.where(returned, np.nan_to_num(return_gap_h), 0.0)
        self.retention[rows] += reward_vector[:, self.n_signals + 1]
        self.last_left[rows] = left

    def finish(self, rows: np.ndarray, churned: np.ndarray) -> list[dict[str, float]]:
        """The metrics of the episodes ending at `rows` (then their sums restart)."""
        out = []
        for j, row in enumerate(np.asarray(rows, dtype=np.int64)):
            steps = max(self.steps[row], 1.0)
            shown = steps * self.slate_size
            ended = self.sessions[row]
            started = ended + (0 if self.last_left[row] else 1)
            returns = self.returns[row]
            metrics = {
                "steps": float(self.steps[row]),
                "ctr": float(self.signals[row, 0] / shown),
                "reward_per_step": float(self.reward[row] / steps),
                "total_return": float(self.reward[row]),
                "sessions": float(started),
                "depth": float(self.steps[row] / max(started, 1.0)),
                "return_gap": float(self.gap_sum[row] / returns) if returns else float("nan"),
                "retention": float(self.retention[row] / ended) if ended else float("nan"),
                "long_term_return": float(self.retention[row]),
                "churn": float(bool(churned[j])),
            }
            for k, name in enumerate(self.names[: self.n_signals]):
                metrics[f"signal/{name}"] = float(self.signals[row, k] / shown)
            out.append(metrics)
        self._zero(np.asarray(rows, dtype=np.int64))
        return out


def precision_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """Share of the top k recommended items that are relevant."""
    top = list(ranked)[:k]
    return sum(item in relevant for item in top) / k if k > 0 else 0.0


def hit_rate_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """1 when one of the top k recommended items is relevant, else 0."""
    return float(any(item in relevant for item in list(ranked)[:k]))


def ndcg_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """Normalised discounted cumulative gain of the top k (binary relevance)."""
    gains = [1.0 / np.log2(i + 2) for i, item in enumerate(list(ranked)[:k]) if item in relevant]
    ideal = sum(1.0 / np.log2(i + 2) for i in range(min(len(relevant), k)))
    return float(sum(gains) / ideal) if ideal > 0 else 0.0


def average_precision(ranked: Sequence[int], relevant: set[int], k: int | None = None) -> float:
    """Mean of precision@i over the ranks i of relevant items (MAP averages it over users)."""
    hits, total = 0, 0.0
    for i, item in enumerate(list(ranked)[: k or len(ranked)]):
        if item in relevant:
            hits += 1
            total += hits / (i + 1)
    denominator = min(len(relevant), k) if k else len(relevant)
    return total / denominator if denominator else 0.0
