"""The bucketed return-gap distribution of fitted simulators.

Buckets run between consecutive `edges` (seconds; the first edge is the log's session gap,
the shortest possible return), plus an open last bucket beyond the last edge. Inside a
finite bucket the gap is log-uniform; the open bucket has a Pareto tail
P(gap > c) = (edge / c) ** TAIL_ALPHA, so users who stay away for very long (or never come
back within the log) are represented rather than capped.
"""

from __future__ import annotations

import numpy as np

TAIL_ALPHA = 2.0


class GapBuckets:
    """Log-uniform buckets between `edges`, and a Pareto tail after the last one."""

    def __init__(self, edges_s: np.ndarray) -> None:
        self.edges = np.asarray(edges_s, dtype=np.float64)
        if self.edges.ndim != 1 or len(self.edges) < 2 or np.any(np.diff(self.edges) <= 0):
            raise ValueError("gap bucket edges must be increasing, at least two of them")
        self.log_lo = np.log(self.edges[:-1])
        self.log_hi = np.log(self.edges[1:])
        self.tail = float(self.edges[-1])

    @property
    def n_buckets(self) -> int:
        """Finite buckets plus the open tail."""
        return len(self.edges)

    def bucket_of(self, gaps_s: np.ndarray) -> np.ndarray:
        """The bucket each gap falls in (gaps below the first edge go to bucket 0)."""
        index = np.searchsorted(self.edges, np.asarray(gaps_s, dtype=np.float64), side="right")
        return np.clip(index - 1, 0, self.n_buckets - 1)

    def survival(self, observed_s: np.ndarray) -> np.ndarray:
        """P(gap > observed | bucket), shape (N, n_buckets): what a censored gap tells."""
        c = np.log(np.clip(np.asarray(observed_s, dtype=np.float64), 1.0, None))[:, None]
        finite = np.clip((self.log_hi[None, :] - c) / (self.log_hi - self.log_lo)[None, :],
                         0.0, 1.0)
        tail = np.minimum(1.0, np.exp(TAIL_ALPHA * (np.log(self.tail) - c)))
        return np.concatenate([finite, tail], axis=1)

    def sample(self, probs: np.ndarray, u_bucket: np.ndarray, u_within: np.ndarray
               ) -> np.ndarray:
        """Gaps (seconds) from bucket probabilities (B, n_buckets) and two uniforms per row."""
        cdf = np.cumsum(probs, axis=1)
        bucket = np.minimum((u_bucket[:, None] > cdf).sum(axis=1), self.n_buckets - 1)
        finite = bucket < len(self.log_lo)
        safe = np.minimum(bucket, len(self.log_lo) - 1)
        lo, hi = self.log_lo[safe], self.log_hi[safe]
        inside = np.exp(lo + (hi - lo) * u_within)
        beyond = self.tail * (1.0 - u_within) ** (-1.0 / TAIL_ALPHA)
        return np.where(finite, inside, beyond)

    def means(self) -> np.ndarray:
        """Mean gap of each bucket (seconds)."""
        finite = (np.exp(self.log_hi) - np.exp(self.log_lo)) / (self.log_hi - self.log_lo)
        return np.append(finite, self.tail * TAIL_ALPHA / (TAIL_ALPHA - 1.0))
