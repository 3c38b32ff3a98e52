"""Offline ranking metrics on logged sessions (as the DT4IER paper reports them): each
session's clicked items against the agent's top-k list at the session's start, given the
logged history before it. HR@k and NDCG@k are averaged over sessions with a click,
precision@k (the share of the list that was clicked) over all sessions."""

from __future__ import annotations

from typing import Any

import numpy as np

from offline_data.shared.errors import InputError
from recgym.evaluate import RewardListener
from recgym.metrics import hit_rate_at_k, ndcg_at_k, precision_at_k
from recgym.offline import TrajectoryDataset
from recgym.offline.sessions import session_start_observations, sessions_of
from recgym.wrappers.continuous import top_k_by_score


def can_rank(agent: Any) -> bool:
    """Whether `agent` ranks items from a logged session's start: DT4IER and plain DT
    (`rank_sessions`) and offline agents that score items from the observation alone
    (`masked_scores`; not the step-level d3rlpy decision transformer, which acts from its
    episode so far)."""
    return hasattr(agent, "rank_sessions") or (
        hasattr(agent, "masked_scores") and not isinstance(agent, RewardListener))


def session_lists(agent: Any, dataset: TrajectoryDataset, k: int) -> np.ndarray:
    """(M, k) the agent's list for each session of `dataset` (sessions in order)."""
    if hasattr(agent, "rank_sessions"):
        return np.asarray(agent.rank_sessions(dataset, k))
    if not can_rank(agent):
        raise InputError(f"{getattr(agent, 'name', type(agent).__name__)} does not rank "
                         "items from a logged observation; session metrics need an offline "
                         "agent (dt4ier, dt, bc, cql, ...)")
    sessions = sessions_of(dataset, history=1, list_size=1, min_sessions=1)
    scores, _ = agent.masked_scores(session_start_observations(dataset, sessions))
    return top_k_by_score(scores, k)


def session_ranking(agent: Any, dataset: TrajectoryDataset, k: int = 10) -> dict[str, float]:
    """`hr@k`, `ndcg@k`, `precision@k` of the agent on the sessions of `dataset`, and
    `ranked_sessions` (how many had a click)."""
    if k < 1:
        raise InputError(f"k must be a positive number of items, got {k}")
    sessions = sessions_of(dataset, history=1, list_size=1, min_sessions=1)
    lists = session_lists(agent, dataset, k)
    hits, gains, precision = [], [], []
    for m, ranked in enumerate(lists.tolist()):
        clicked = set(sessions.clicked_of(m).tolist())
        precision.append(precision_at_k(ranked, clicked, k))
        if clicked:
            hits.append(hit_rate_at_k(ranked, clicked, k))
            gains.append(ndcg_at_k(ranked, clicked, k))
    return {f"hr@{k}": float(np.mean(hits)) if hits else float("nan"),
            f"ndcg@{k}": float(np.mean(gains)) if gains else float("nan"),
            f"precision@{k}": float(np.mean(precision)),
            "ranked_sessions": float(len(hits))}
