"""DT4IER (Liu et al., SIGIR 2024): a decision transformer that optimises immediate
feedback and long-term retention together, over the sessions of logged episodes.

- `DT4IERAgent` ('dt4ier'): 2-D return-to-go, user-specific weighting (RewardNet), an
  AutoDis-style reward encoder and a contrastive term against low-performing sessions;
- `PlainDTAgent` ('dt'): the same code with those three parts off (`PlainDTConfig`);
- `recgym.offline.sessions_of` gives their steps (a `TrajectoryDataset` as sessions);
  `agents.offline.session_ranking` their offline metrics (HR@k, NDCG@k, precision@k).
"""

from agents.offline.dt4ier.agent import DT4IERAgent, PlainDTAgent
from agents.offline.dt4ier.config import DT4IERConfig, PlainDTConfig

__all__ = ["DT4IERAgent", "DT4IERConfig", "PlainDTAgent", "PlainDTConfig"]
