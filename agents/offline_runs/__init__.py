"""Offline runs (`recgym offline`): a log split by user into training and held-out
episodes, an offline agent trained on the first with periodic evaluation online (in the
synthetic world, or a simulator fitted to the training users) and off-policy (on the
held-out episodes), written to the same run folder as `recgym train`."""

from agents.offline_runs.config import OfflineRunConfig
from agents.offline_runs.data import OfflineData, prepare
from agents.offline_runs.training import read_offline_config, train_offline

__all__ = ["OfflineData", "OfflineRunConfig", "prepare", "read_offline_config",
           "train_offline"]
