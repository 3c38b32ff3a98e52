"""Offline agents: learn from logged episodes (`recgym.offline.TrajectoryDataset`), act in
the environment the log was turned into.

- d3rlpy's discrete algorithms over item ids, with any recgym state encoder:
  `BCAgent` ('bc'), `BCQAgent` ('bcq'), `CQLAgent` ('cql'), `DiscreteSACAgent`
  ('discrete_sac') and `DoubleDQNAgent` ('double_dqn', the naive baseline);
- `IQLAgent` ('iql'): implicit Q-learning over the item-embedding action (DRR style);
- `DecisionTransformerAgent` ('d3rlpy_dt'): d3rlpy's discrete decision transformer with a
  scalar return-to-go (the plain-DT baseline of DT4IER);
- `SequentialRecommenderAgent` ('seqrec'): SASRec / GRU4Rec trained on the next clicked
  item (the supervised, click-only baseline);
- baselines on the same data: `BehaviourAgent` ('behaviour', the logging policy) and
  `popular_from_dataset` (most popular, the 'popular' agent counted from the dataset).

>>> agent = make_agent("cql", dataset)                 # doctest: +SKIP
>>> agent.fit(dataset, 5_000)                          # doctest: +SKIP
>>> evaluate(agent, "RecGym/Synthetic-v0", world=world, config=dataset.env_config,
...          reward_weights=dataset.reward_weights)    # doctest: +SKIP
"""

from agents.offline.base import D3rlpyAgent, OfflineAgent
from agents.offline.baselines import BehaviourAgent, BehaviourConfig, popular_from_dataset
from agents.offline.config import (
    BCConfig,
    BCQConfig,
    CQLConfig,
    DiscreteSACConfig,
    DoubleDQNConfig,
    IQLConfig,
    OfflineConfig,
)
from agents.offline.d3rlpy_dt import D3rlpyDTConfig, DecisionTransformerAgent
from agents.offline.discrete import (
    BCAgent,
    BCQAgent,
    CQLAgent,
    DiscreteSACAgent,
    DoubleDQNAgent,
)
from agents.offline.iql import IQLAgent
from agents.offline.seqrec import SeqRecConfig, SequentialRecommenderAgent

__all__ = [
    "BCAgent",
    "BCConfig",
    "BCQAgent",
    "BCQConfig",
    "BehaviourAgent",
    "BehaviourConfig",
    "CQLAgent",
    "CQLConfig",
    "D3rlpyAgent",
    "D3rlpyDTConfig",
    "DecisionTransformerAgent",
    "DiscreteSACAgent",
    "DiscreteSACConfig",
    "DoubleDQNAgent",
    "DoubleDQNConfig",
    "IQLAgent",
    "IQLConfig",
    "OfflineAgent",
    "OfflineConfig",
    "SeqRecConfig",
    "SequentialRecommenderAgent",
    "popular_from_dataset",
]
