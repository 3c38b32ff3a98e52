"""User simulators: the ground-truth synthetic world and simulators fitted to logs.

Imports flow one way: `simulators` uses `offline_data`, never `recgym` or `agents`.
"""

from simulators.interface import Feedback, RandomSource, UserSimulator
from simulators.policies import (
    ClickGreedyPolicy,
    DiversityAwarePolicy,
    EpsilonGreedyPolicy,
    PopularityPolicy,
    RandomPolicy,
    make_policy,
)
from simulators.synthetic import SyntheticWorld, WorldState
from simulators.world_config import WorldConfig
from simulators.world_log import generate_log, rollout, synthetic_log

__all__ = [
    "ClickGreedyPolicy",
    "DiversityAwarePolicy",
    "EpsilonGreedyPolicy",
    "Feedback",
    "PopularityPolicy",
    "RandomPolicy",
    "RandomSource",
    "SyntheticWorld",
    "UserSimulator",
    "WorldConfig",
    "WorldState",
    "generate_log",
    "make_policy",
    "rollout",
    "synthetic_log",
]
