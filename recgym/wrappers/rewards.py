"""Reward wrappers: re-weighting the reward vector, and episode recommendation metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from recgym.envs.base import rec_env
from recgym.metrics import EpisodeAccumulator
from recgym.rewards import weight_vector


class RewardWeights(gym.Wrapper):
    """Replaces the scalar reward by `sum(weights[name] * info["reward_vector"])`, e.g.
    `RewardWeights(env, {"click": 1, "retention": 10})`. Unknown names raise."""

    def __init__(self, env: gym.Env, weights: Mapping[str, float]) -> None:
        super().__init__(env)
        self.names = list(rec_env(env, "RewardWeights").reward_names)
        self.weights = weight_vector(self.names, weights)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Step with the re-weighted reward."""
        obs, _, terminated, truncated, info = self.env.step(action)
        return obs, float(info["reward_vector"] @ self.weights), terminated, truncated, info


class RecordRecMetrics(gym.Wrapper):
    """Adds `info["episode_rec"]` when an episode ends: CTR, signals per step, reward per
    step, episode return, sessions, depth, mean return gap, retention and churn (see
    `recgym.metrics`). Completed episodes are also kept in `episodes`."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        base = rec_env(env, "RecordRecMetrics")
        self.accumulator = EpisodeAccumulator(1, base.reward_names, base.config.slate_size)
        self.episodes: list[dict[str, float]] = []

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Start a new episode (discarding a half-finished one)."""
        self.accumulator.finish(np.array([0]), np.array([False]))
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Step and, at the end of an episode, report its metrics."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        row = np.array([0])
        self.accumulator.add(row, np.array([reward]), np.asarray(info["reward_vector"])[None],
                             np.array([info["left_session"]]),
                             np.array([info.get("return_gap_h", np.nan)]),
                             np.array([info["churned"]]))
        if terminated or truncated:
            metrics = self.accumulator.finish(row, np.array([info["churned"]]))[0]
            info = {**info, "episode_rec": metrics}
            self.episodes.append(metrics)
        return obs, float(reward), terminated, truncated, info
