"""`evaluate`: run an agent for many users and report every recommendation metric with a
95% interval."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from scipy import stats

import recgym
from offline_data.shared.errors import InputError
from recgym.envs.vector import RecVectorEnv
from recgym.metrics import EpisodeAccumulator

MAX_BATCH = 512
ALIASES = {"like_rate": ("like", "is_like", "liked"), "watch_time": ("watch_ratio",)}
"""Named views of signals: `like_rate` is likes per shown item, `watch_time` watch ratio per
shown item (as `ctr` is clicks per shown item)."""


class Policy(Protocol):
    """Anything with `predict(batched_obs, deterministic)` (every recgym agent)."""

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """Actions for a batch of observations."""
        ...


@runtime_checkable
class RewardListener(Protocol):
    """A policy that conditions on the rewards it has received (a decision transformer's
    return-to-go): `evaluate` hands it each step's reward vectors, in the environment's
    `reward_names` order, and which sub-environments' episodes ended."""

    def record_rewards(self, reward_vectors: np.ndarray, done: np.ndarray) -> None:
        """Take the (n_envs, n_rewards) reward vectors of the step just taken."""
        ...


def evaluate(agent: Policy, env_id: str | RecVectorEnv = "RecGym/Synthetic-v0",
             n_users: int = 200, seed: int = 0, deterministic: bool = True,
             **env_kwargs: Any) -> pd.DataFrame:
    """Run one episode for each of `n_users` users (batched in a vector environment) and
    return a table indexed by metric with columns `mean`, `ci95_lo`, `ci95_hi`, `std`, `n`
    (see `recgym.metrics`; plus `like_rate` / `watch_time` where the signals exist and
    `churn_rate`). The per-user episodes (with `user_id`) are in
    `table.attrs["episodes"]`. Users are drawn
    with seeds `seed`, `seed + 1`, ..., so agents compared with the same seed meet the same
    users."""
    if n_users < 2:
        raise InputError(f"n_users must be at least 2 for an interval, got {n_users}")
    episodes: list[dict[str, float]] = []
    size = min(n_users, MAX_BATCH)
    env = env_id if isinstance(env_id, RecVectorEnv) else recgym.make_vec(env_id, size,
                                                                          **env_kwargs)
    attach_policy(agent, env)
    start = 0
    while start < n_users:
        episodes += _episodes(agent, env, min(env.num_envs, n_users - start), seed + start,
                              deterministic)
        start += env.num_envs
    frame = pd.DataFrame(episodes)
    for alias, names in ALIASES.items():
        for name in names:
            if f"signal/{name}" in frame:
                frame[alias] = frame[f"signal/{name}"]
                break
    frame["churn_rate"] = frame["churn"]
    table = summary_table(frame.drop(columns="user_id"))
    table.attrs["episodes"] = frame
    return table


def attach_policy(agent: Policy, env: RecVectorEnv) -> None:
    """Check that `agent` was built for `env`'s spaces (`InputError` naming what differs)
    and let an agent that reads the environment (`observe`) attach to it."""
    spec = getattr(agent, "spec", None)
    if spec is not None and spec != env.core.spec:
        differ = sorted(k for k, v in spec.to_dict().items() if env.core.spec.to_dict()[k] != v)
        raise InputError(f"the agent was built for another environment ({', '.join(differ)} "
                         "differ); evaluate it with the environment settings it was trained "
                         "on")
    observe = getattr(agent, "observe", None)
    if observe is not None:
        observe(env)


def _episodes(agent: Policy, env: RecVectorEnv, wanted: int, seed: int,
              deterministic: bool) -> list[dict[str, float]]:
    """The first episode of the first `wanted` sub-environments."""
    obs, _ = env.reset(seed=seed)
    listener = agent if isinstance(agent, RewardListener) else None
    n = env.num_envs
    accumulator = EpisodeAccumulator(n, env.reward_names, env.config.slate_size)
    finished: dict[int, dict[str, float]] = {}
    active = np.ones(n, dtype=bool)
    while len(finished) < wanted:
        actions = agent.predict(obs, deterministic=deterministic)
        obs, reward, terminated, truncated, info = env.step(actions)
        if listener is not None:
            listener.record_rewards(info["reward_vector"], terminated | truncated)
        rows = np.flatnonzero(active)
        accumulator.add(rows, reward[rows], info["reward_vector"][rows],
                        info["left_session"][rows], info["return_gap_h"][rows],
                        info["churned"][rows])
        ended = rows[(terminated | truncated)[rows]]
        for row, metrics in zip(ended, accumulator.finish(ended, info["churned"][ended]),
                                strict=True):
            if row < wanted:
                finished[int(row)] = {"user_id": int(env.core.user[row]), **metrics}
        active[ended] = False
    return [finished[i] for i in range(wanted)]


def t_interval(values: Any) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean and its 95% t-interval over the finite values (NaN bounds
    with fewer than two, NaN everywhere with none)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    if len(x) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return mean, mean - half, mean + half


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% t-interval of every column (NaNs, e.g. users who never returned,
    left out), one row per metric."""
    rows = {}
    for column in frame.columns:
        values = frame[column].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        n = len(values)
        mean, lo, hi = t_interval(values)
        std = float(values.std(ddof=1)) if n > 1 else float("nan")
        rows[column] = {"mean": mean, "ci95_lo": lo, "ci95_hi": hi, "std": std, "n": n}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "metric"
    table.attrs["episodes"] = frame
    return table
