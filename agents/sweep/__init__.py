"""Sweeps over agents, encoders, seeds, environments, simulator-set members and settings on
Ray Tune (the optional extra `recgym[ray]`); each trial is an ordinary run folder.

Only `agents.sweep.engine` imports ray, and only when a sweep runs."""

from agents.sweep.config import SweepConfig, Trial, plan_trials, read_sweep_config
from agents.sweep.engine import EngineOptions, run_jobs
from agents.sweep.runner import SweepResult, run_sweep

__all__ = ["EngineOptions", "SweepConfig", "SweepResult", "Trial", "plan_trials",
           "read_sweep_config", "run_jobs", "run_sweep"]
