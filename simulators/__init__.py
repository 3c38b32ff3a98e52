"""User simulators: the ground-truth synthetic world and simulators fitted to logs.

Imports flow one way: `simulators` uses `offline_data`, never `recgym` or `agents`.
"""

from simulators.fidelity import HeldOut, evaluate, ground_truth, held_out
from simulators.fitting import fit
from simulators.interface import BatchState, Feedback, RandomSource, UserSimulator
from simulators.logged import LoggedState, LoggedUserSimulator
from simulators.persistence import SimulatorFileError
from simulators.pipeline import FitResult, fit_with_fidelity, synthetic_fitting_log
from simulators.policies import (
    ClickGreedyPolicy,
    DiversityAwarePolicy,
    EpsilonGreedyPolicy,
    PopularityPolicy,
    RandomPolicy,
    make_policy,
)
from simulators.sim_config import Behaviour, SimulatorConfig
from simulators.sim_set import SimulatorSet
from simulators.synthetic import SyntheticWorld, WorldState
from simulators.world_config import WorldConfig
from simulators.world_log import generate_log, rollout, synthetic_log

__all__ = [
    "BatchState",
    "Behaviour",
    "ClickGreedyPolicy",
    "DiversityAwarePolicy",
    "EpsilonGreedyPolicy",
    "Feedback",
    "FitResult",
    "HeldOut",
    "LoggedState",
    "LoggedUserSimulator",
    "PopularityPolicy",
    "RandomPolicy",
    "RandomSource",
    "SimulatorConfig",
    "SimulatorFileError",
    "SimulatorSet",
    "SyntheticWorld",
    "UserSimulator",
    "WorldConfig",
    "WorldState",
    "evaluate",
    "fit",
    "fit_with_fidelity",
    "generate_log",
    "ground_truth",
    "held_out",
    "make_policy",
    "rollout",
    "synthetic_fitting_log",
    "synthetic_log",
]
