"""Every learning online agent learns: after a short seeded training run on a small
synthetic world, its mean episode return beats the random agent's on the same evaluation
users by a margin well outside the noise.

The margin is `max(K * pooled standard error, FLOOR)`, the standard error measured on the
two samples of episode returns in the test itself (about 1.4 return points with 300 users,
so K = 4 asks for about 6). `FLOOR` sits above what an untrained agent gains over random:
never showing an item of the recent history (`exclude_seen`) is worth up to 3.0 return
points for the discrete agents over ten seeds; an untrained SAC's fixed ranking vector
varies more (-2.9 to +7.7 over ten seeds; +0.8 at `SEED`). Adding an agent is one
`Learner` row.

Agents are trained in an environment instance: `make_agent(name, id)` followed by
`fit(id, ...)` trains a stable-baselines3 agent in a second environment built from the id,
which is not seeded, so such runs differ from one process to the next.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import recgym
from agents import make_agent
from agents.base import Agent
from recgym.evaluate import evaluate

pytestmark = pytest.mark.usefixtures("one_thread")

ENV = "RecGym/Synthetic-v0"
ENV_KWARGS: dict[str, Any] = {"world": {"n_users": 300, "n_items": 60, "embed_dim": 8}}
"""A small world: 60 items, 8-dimensional interests (short ranking vectors for SAC / TD3)."""
N_ENVS = 8
EVAL_USERS = 300
K = 4.0
"""Standard errors of the difference between the two mean returns."""
FLOOR = 5.0
"""Return points; above the largest gain of an untrained discrete agent over random."""
SEED = 0

NETS = {"embed_dim": 16, "hidden_dim": 32}
SB3 = {**NETS, "net_arch": (32,), "encoder": "drr_ave"}
OFF = {"learning_starts": 64, "buffer_size": 5000}


@dataclass(frozen=True)
class Learner:
    """One agent under test: its name, settings for a quick run, and training steps."""

    agent: str
    steps: int
    settings: dict[str, Any] = field(default_factory=dict, hash=False)


LEARNERS = (
    Learner("ppo", 8000, {**SB3, "algo_kwargs": {"n_steps": 32, "batch_size": 64}}),
    Learner("a2c", 8000, {**SB3, "learning_rate": 1e-3, "algo_kwargs": {"n_steps": 8}}),
    Learner("dqn", 5000, {**SB3, "algo_kwargs": {**OFF, "target_update_interval": 200}}),
    Learner("sac", 6000, {**SB3, "learning_rate": 3e-3, "algo_kwargs": OFF}),
    Learner("td3", 6000, {**SB3, "learning_rate": 1e-3,
                          "algo_kwargs": {"learning_starts": 1000, "buffer_size": 10_000}}),
    Learner("deers", 3000, {**NETS, **OFF}),
    Learner("drr", 3000, {**NETS, **OFF}),
)


KNOWN_FAILURES = {
    "td3": pytest.mark.skip(reason=(
        "td3 does not learn reliably: its actor saturates (most ranking-vector components "
        "beyond |0.99| after 6000 steps) into one ranking for every state; gain over random "
        "10.4, 8.9 and 0.4 at seeds 0, 1, 2 (from -3 to +16 over the settings tried)")),
}
"""Rows whose agent fails its test today, with why; remove the entry once it is fixed."""


def episode_returns(agent: Agent, seed: int) -> np.ndarray:
    """Total return of one episode per evaluation user (users drawn with `seed`)."""
    table = evaluate(agent, ENV, n_users=EVAL_USERS, seed=seed, **ENV_KWARGS)
    return table.attrs["episodes"]["total_return"].to_numpy(dtype=np.float64)


@functools.cache
def random_returns(seed: int) -> np.ndarray:
    """The random agent's episode returns on the evaluation users of `seed`."""
    agent = make_agent("random", recgym.make_vec(ENV, 1, **ENV_KWARGS), seed=seed)
    return episode_returns(agent, 10_000 + seed)


def trained(learner: Learner, seed: int, steps: int | None = None) -> Agent:
    """`learner`'s agent after `steps` (default `learner.steps`) steps of training."""
    env = recgym.make_vec(ENV, N_ENVS, **ENV_KWARGS)  # an instance (see the module's note)
    agent = make_agent(learner.agent, env, seed=seed, **learner.settings)
    return agent.fit(env, learner.steps if steps is None else steps)


def compare_with_random(learner: Learner, seed: int, steps: int | None = None
                        ) -> tuple[float, float, float]:
    """(trained mean return, random mean return, margin) on the evaluation users of
    `seed`; the margin is `max(K * pooled standard error, FLOOR)`."""
    ours = episode_returns(trained(learner, seed, steps), 10_000 + seed)
    theirs = random_returns(seed)
    se = np.sqrt(ours.var(ddof=1) / len(ours) + theirs.var(ddof=1) / len(theirs))
    return float(ours.mean()), float(theirs.mean()), max(K * float(se), FLOOR)


@pytest.mark.parametrize("learner", [
    pytest.param(learner, id=learner.agent, marks=KNOWN_FAILURES.get(learner.agent, ()))
    for learner in LEARNERS])
def test_agent_learns_to_beat_random(learner):
    ours, theirs, margin = compare_with_random(learner, SEED)
    assert ours - theirs > margin, (
        f"{learner.agent} after {learner.steps} steps: mean return {ours:.2f} vs random "
        f"{theirs:.2f}; needs a gain over {margin:.2f}")
