"""Wrappers for recgym environments."""

from recgym.wrappers.continuous import ContinuousAction, embedding_actions, top_k_by_score
from recgym.wrappers.observations import FlattenHistory, IdsAsBox
from recgym.wrappers.rewards import RecordRecMetrics, RewardWeights

__all__ = [
    "ContinuousAction",
    "FlattenHistory",
    "IdsAsBox",
    "RecordRecMetrics",
    "RewardWeights",
    "embedding_actions",
    "top_k_by_score",
]
