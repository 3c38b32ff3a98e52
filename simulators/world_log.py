"""Rolling behaviour policies out in the synthetic world, and logging what happened."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from offline_data.build import build_log
from offline_data.log import InteractionLog
from offline_data.shared.errors import InputError
from offline_data.shared.numbers import as_int
from offline_data.shared.units import DAY_S
from offline_data.validation import Origin
from simulators.policies import BehaviourPolicy, make_policy
from simulators.synthetic import SyntheticWorld
from simulators.world_config import WorldConfig

LOG_START = 1_704_067_200
"""Unix time where synthetic logs begin (2024-01-01 00:00 UTC)."""


StepRows = tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]
"""One step of a rollout: user ids, slates, clock (s), feedback and the slates'
propensities, for the users still in."""


@dataclass(frozen=True)
class Rollout:
    """Every shown item of a rollout (flat arrays, one entry per user, step and position),
    plus one entry per finished session."""

    user: np.ndarray
    item: np.ndarray
    position: np.ndarray
    time_s: np.ndarray
    feedback: dict[str, np.ndarray]
    session_user: np.ndarray
    session_length: np.ndarray
    session_gap_s: np.ndarray
    """Sampled return gap after each finished session."""
    propensity: np.ndarray
    """The behaviour policy's probability of the whole slate, repeated on each of its
    entries."""
    true_click_prob: np.ndarray | None = None
    """The world's click probability of each shown item (with `record_truth`)."""


def rollout(
    world: SyntheticWorld,
    policy: str | BehaviourPolicy,
    user_ids: np.ndarray,
    *,
    rng: np.random.Generator,
    horizon_days: float | None = None,
    max_sessions: int | None = None,
    slate_size: int = 1,
    record_truth: bool = False,
) -> Rollout:
    """Run `policy` for each user until `horizon_days` of their time pass (the first
    session starts at a random time of day one) or `max_sessions` sessions end.

    All users step together in batched array operations; finished users drop out.
    `record_truth` also records the true click probability of every shown item.
    """
    if (horizon_days is None) == (max_sessions is None):
        raise InputError("rollout needs exactly one of horizon_days= or max_sessions=")
    if not 1 <= slate_size <= world.n_items:
        raise InputError(f"slate_size must be in 1..{world.n_items}, got {slate_size}")
    chooser = make_policy(policy)
    c = world.config
    ids = np.asarray(user_ids, dtype=np.int64)
    state = world.start(ids, rng)
    horizon = np.inf if horizon_days is None else horizon_days * DAY_S
    clock = rng.random(len(ids)) * DAY_S if horizon_days is not None else np.zeros(len(ids))
    sessions = np.zeros(len(ids), dtype=np.int64)
    positions = np.arange(slate_size)
    rows: list[StepRows] = []
    truth: list[np.ndarray] = []
    finished: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    while len(state):
        slates = chooser(world, state, slate_size, rng)
        propensity = chooser.propensity(world, state, slates)
        if record_truth:
            truth.append(world.click_prob(state, slates).ravel())
        feedback = world.respond(state, slates, rng)
        rows.append((state.user_ids, slates, clock, feedback, propensity))
        state = world.step_state(state, slates, feedback)
        watched = (feedback["click"] * feedback["watch_ratio"] * world.item_duration_s[slates])
        clock = clock + c.step_overhead_s + watched.sum(axis=1)
        leave = rng.random(len(state)) < world.leave_prob(state, feedback)
        gap = world.return_gap(state, rng)
        if leave.any():
            finished.append((state.user_ids[leave], state.session_steps[leave], gap[leave]))
            clock = np.where(leave, clock + gap, clock)
            sessions = sessions + leave
            state = state.where(leave, world.next_session(state, gap))
        done = clock >= horizon if max_sessions is None else sessions >= max_sessions
        if done.any():
            keep = np.flatnonzero(~done)
            state, clock, sessions = state.take(keep), clock[keep], sessions[keep]

    run = _collect(rows, finished, positions, [s.name for s in world.signals])
    if record_truth:
        run = replace(run, true_click_prob=np.concatenate(truth) if truth else np.zeros(0))
    return run


def _collect(rows: list[StepRows],
             finished: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
             positions: np.ndarray, signal_names: list[str]) -> Rollout:
    k = len(positions)
    users = [np.repeat(u, k) for u, *_ in rows]
    return Rollout(
        user=np.concatenate(users) if users else np.zeros(0, np.int64),
        item=np.concatenate([s.ravel() for _, s, *_ in rows]) if rows else np.zeros(0, np.int64),
        position=np.concatenate([np.tile(positions, len(u)) for u, *_ in rows])
        if rows else np.zeros(0, np.int64),
        time_s=np.concatenate([np.repeat(t, k) for _, _, t, *_ in rows]) if rows else np.zeros(0),
        feedback={
            name: np.concatenate([f[name].ravel() for _, _, _, f, _ in rows]) if rows
            else np.zeros(0, np.float32)
            for name in signal_names
        },
        propensity=np.concatenate([np.repeat(p, k) for *_, p in rows]) if rows
        else np.zeros(0),
        session_user=np.concatenate([u for u, _, _ in finished]) if finished
        else np.zeros(0, np.int64),
        session_length=np.concatenate([n for _, n, _ in finished]) if finished
        else np.zeros(0, np.int64),
        session_gap_s=np.concatenate([g for _, _, g in finished]) if finished else np.zeros(0),
    )


def generate_log(
    world: SyntheticWorld,
    policy: str | BehaviourPolicy = "epsilon_greedy",
    *,
    n_users: int | None = None,
    n_days: float = 7.0,
    seed: int = 0,
    slate_size: int = 1,
    truth: bool = False,
    max_sessions: int | None = None,
) -> InteractionLog:
    """See `SyntheticWorld.generate_log`."""
    n_users = world.n_users if n_users is None else int(n_users)
    if not 1 <= n_users <= world.n_users:
        raise InputError(
            f"n_users must be in 1..{world.n_users} (the world's population; raise "
            f"WorldConfig.n_users for more), got {n_users}"
        )
    if n_days <= 0:
        raise InputError(f"n_days must be positive, got {n_days}")
    if max_sessions is not None:
        max_sessions = as_int(max_sessions, "max_sessions", minimum=1)
    rng = np.random.default_rng(seed)
    run = rollout(world, policy, np.arange(n_users), rng=rng,
                  horizon_days=n_days if max_sessions is None else None,
                  max_sessions=max_sessions, slate_size=slate_size, record_truth=truth)
    if max_sessions is None:
        inside = run.time_s < n_days * DAY_S
        window = (LOG_START, LOG_START + int(n_days * DAY_S))
    else:  # every user's sessions are logged whole; the log ends after the last of them
        inside = np.ones(len(run.time_s), dtype=bool)
        window = (LOG_START, LOG_START + int(np.floor(run.time_s.max(initial=0.0))) + 1)
    frame = pd.DataFrame(
        {
            "user_id": run.user[inside],
            "item_id": run.item[inside],
            "timestamp": LOG_START + np.floor(run.time_s[inside]).astype(np.int64),
            **{name: values[inside] for name, values in run.feedback.items()},
            "position": run.position[inside],
            "propensity": run.propensity[inside],
        }
    )
    if run.true_click_prob is not None:
        frame["true_click_prob"] = run.true_click_prob[inside]
    span = f"days={n_days:g}" if max_sessions is None else f"sessions={max_sessions}"
    name = policy if isinstance(policy, str) else getattr(policy, "name", type(policy).__name__)
    return build_log(
        frame,
        world.signals,
        origin=Origin(f"synthetic(policy={name}, users={n_users}, {span}, seed={seed})"),
        users=_user_features(world, n_users),
        items=_item_features(world),
        context=("position", "propensity", "true_click_prob") if truth
        else ("position", "propensity"),
        window=window,
        user_universe=np.arange(n_users),
        item_universe=np.arange(world.n_items),
    )


def _user_features(world: SyntheticWorld, n_users: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": np.arange(n_users),
            "activity_level": world.user_activity_observed[:n_users].astype(np.float32),
            "segment": world.user_segment[:n_users].astype(np.int64),
        }
    )


def _item_features(world: SyntheticWorld) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": np.arange(world.n_items),
            "topic": world.item_topic.astype(np.int64),
            "duration_s": world.item_duration_s.astype(np.float32),
        }
    )


def synthetic_log(
    n_users: int = 1000,
    n_days: float = 7.0,
    seed: int = 0,
    policy: str | BehaviourPolicy = "epsilon_greedy",
    config: WorldConfig | None = None,
    slate_size: int = 1,
) -> InteractionLog:
    """The embedded default log: a behaviour policy in a `SyntheticWorld` built from `seed`.

    The world's population is at least `n_users`; everything is determined by the seed.
    """
    config = config or WorldConfig()
    if n_users > config.n_users:
        config = config.replace(n_users=n_users)
    world = SyntheticWorld(config, seed=seed)
    return world.generate_log(policy, n_users=n_users, n_days=n_days, seed=seed,
                              slate_size=slate_size)
