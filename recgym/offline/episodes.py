"""`episodes_from_log`: a log as the episodes an environment would have produced.

Each user's steps are cut into episodes exactly as `RecCore` ends them: a return gap beyond
`churn_after_h` terminates an episode (churn), `max_sessions` finished sessions or
`max_steps` steps truncate it, and the end of the log truncates it too (a timeout, never a
terminal). Observations carry the same keys, values and dtypes as the environment's, and
rewards are the environment's reward vector: the signals summed over the slate, `depth`
(1 a step) and `retention` at each session's end from the logged return gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from offline_data.log import InteractionLog
from offline_data.schema import SESSION, TIMESTAMP, USER
from offline_data.shared.errors import InputError
from offline_data.shared.units import HOUR_S
from recgym.env_config import EnvConfig
from recgym.offline.dataset import TrajectoryDataset
from recgym.offline.reference import (
    ObservationReference,
    reference_from_log,
    reference_from_simulator,
)
from recgym.rewards import default_weights, retention_reward, reward_names, weight_vector
from recgym.spaces import ObsSpec
from simulators.interface import UserSimulator

PROPENSITY = "propensity"
"""The context column in which a log records its behaviour policy's probability of each
step's (whole, ordered) slate; synthetic logs have it."""
POSITION = "position"
"""The context column with each item's place in its slate, when a log has one."""


@dataclass(frozen=True)
class _Steps:
    """A log regrouped into steps (one slate each), in user-then-time order."""

    user: np.ndarray
    """(S,) user id of each step."""
    session: np.ndarray
    """(S,) session id of each step."""
    items: np.ndarray
    """(S, k) item ids, in slate order."""
    signals: np.ndarray
    """(S, k, n_signals) feedback, in the observation's signal order."""
    propensity: np.ndarray | None
    """(S,) the recorded probability of each step's slate."""


def episodes_from_log(
    log: InteractionLog,
    env_config: EnvConfig | None = None,
    reward_weights: dict[str, float] | None = None,
    *,
    simulator: UserSimulator | None = None,
    episodes_per_user: int | None = None,
    reference: ObservationReference | None = None,
) -> TrajectoryDataset:
    """The episodes of `log`, with the observations and rewards of an environment.

    `env_config` gives `history_len`, `slate_size`, `max_sessions`, `max_steps` and
    `churn_after_h` (default `EnvConfig()`); `reward_weights` (or `env_config`'s) weigh
    the reward vector into the scalar reward, by default the primary signal plus 5 x
    retention as the environments do. `simulator` is the simulator whose environment the
    observations must match (its signal order, bounds and user features: the synthetic
    world for a synthetic log, a simulator fitted to the log otherwise); without one they
    come from the log (`reference_from_log`). `episodes_per_user` keeps only each user's
    first episodes (e.g. 1 for logs of fresh users, to match the environments' starts).

    With `slate_size` 1 every row is a step. With `slate_size` k > 1 the rows of one user
    that share a timestamp are a step and must be exactly k (ordered by a `position`
    column when the log has one). A session's last step pays `retention` from its return
    gap; the last session of a user in the log has no known gap: its episode ends there
    as a timeout with no retention paid, unless the log runs on for more than
    `churn_after_h` after it (then the user churned: a terminal with retention 0).
    A `propensity` context column becomes the dataset's behaviour propensities.
    `reference` fixes the observation's signal order and bounds instead of the log or
    `simulator` (e.g. those of a whole log when `log` is one partition of it).
    """
    config = env_config or EnvConfig()
    if config.n_candidates is not None:
        raise InputError("episodes_from_log: logs hold no candidate lists, so n_candidates "
                         "cannot be used; leave it out (the action is an item id)")
    if episodes_per_user is not None and episodes_per_user < 1:
        raise InputError(f"episodes_per_user must be a positive integer, got "
                         f"{episodes_per_user}")
    if reference is not None and simulator is not None:
        raise InputError("episodes_from_log: give simulator= or reference=, not both")
    if reference is None:
        reference = (reference_from_simulator(simulator, log) if simulator is not None
                     else reference_from_log(log))
    names = list(reference.signal_names)
    weights = reward_weights if reward_weights is not None else config.reward_weights
    if weights is None:
        weights = default_weights(names, names[0])
    rewards_named = reward_names(names)
    _check_weights(weights, rewards_named, log)
    weight = weight_vector(rewards_named, weights)

    steps = _steps_of(log, names, config.slate_size)
    ends = _session_ends(log, steps)
    plan = _plan_episodes(steps, ends, config, episodes_per_user)
    keep = plan.keep
    items, signals = steps.items[keep], steps.signals[keep]
    n_sig = len(names)

    vector = np.zeros((len(items), n_sig + 2), np.float64)
    vector[:, :n_sig] = signals.sum(axis=1)
    vector[:, n_sig] = 1.0
    vector[:, n_sig + 1] = plan.retention
    spec = ObsSpec(
        n_users=reference.n_users, n_items=reference.n_items, signal_names=tuple(names),
        signal_low=tuple(float(x) for x in reference.low),
        signal_high=tuple(float(x) for x in reference.high),
        history_len=config.history_len,
        user_feature_dim=reference.features_of(steps.user[:1]).shape[1],
        slate_size=config.slate_size, n_candidates=None, max_steps=config.max_steps,
        max_sessions=config.max_sessions)
    observations = _observations(steps.user[keep], items, signals, plan, spec, reference)
    actions = items[:, 0] if config.slate_size == 1 else items
    return TrajectoryDataset(
        observations=observations,
        actions=actions.astype(np.int64),
        rewards=(vector @ weight).astype(np.float32),
        reward_vectors=vector.astype(np.float32),
        reward_names=tuple(rewards_named),
        reward_weights={k: float(v) for k, v in weights.items()},
        terminals=plan.terminal,
        timeouts=plan.timeout,
        episode=plan.episode,
        propensities=None if steps.propensity is None else steps.propensity[keep],
        behaviour="recorded" if steps.propensity is not None else None,
        spec=spec,
        env_config=config,
        source=log.source,
    )


def _check_weights(weights: dict[str, float], names: list[str], log: InteractionLog) -> None:
    unknown = [k for k in weights if k not in names]
    if unknown:
        raise InputError(f"{log.source}: reward_weights name {unknown}, which the log does not "
                         f"have; rewards of this log: {', '.join(names)}")


def _steps_of(log: InteractionLog, names: list[str], slate_size: int) -> _Steps:
    """Group rows into steps of `slate_size` items."""
    frame = log.interactions
    user = frame[USER].to_numpy()
    signals = np.stack([frame[n].to_numpy(np.float32) for n in names], axis=-1)
    items = frame["item_id"].to_numpy()
    session = frame[SESSION].to_numpy()
    propensity = (frame[PROPENSITY].to_numpy(np.float64) if PROPENSITY in frame.columns
                  else None)
    if slate_size == 1:
        return _Steps(user, session, items[:, None], signals[:, None, :], propensity)
    time = frame[TIMESTAMP].to_numpy()
    new = np.r_[True, (user[1:] != user[:-1]) | (time[1:] != time[:-1])]
    starts = np.flatnonzero(new)
    sizes = np.diff(np.r_[starts, len(user)])
    wrong = np.flatnonzero(sizes != slate_size)
    if len(wrong):
        bad = starts[wrong[0]]
        raise InputError(
            f"{log.source}: slate_size {slate_size} needs every step (the rows of a user at "
            f"one timestamp) to hold {slate_size} items, but {len(wrong)} of {len(starts)} "
            f"steps do not (e.g. user {log.user_ids[user[bad]]} at {time[bad]} has "
            f"{sizes[wrong[0]]}); use slate_size=1 to take every row as a step")
    order = np.arange(len(user)).reshape(-1, slate_size)
    if POSITION in frame.columns:
        position = frame[POSITION].to_numpy()[order]
        order = np.take_along_axis(order, np.argsort(position, axis=1, kind="stable"), axis=1)
    return _Steps(user[starts], session[starts], items[order], signals[order],
                  None if propensity is None else propensity[starts])


@dataclass(frozen=True)
class _SessionEnds:
    """Per step: whether it ends its session, and that session's return gap."""

    last: np.ndarray
    """(S,) the step is the last of its session."""
    gap_h: np.ndarray
    """(S,) hours until the user's next session (NaN unless `last` and seen)."""
    censored: np.ndarray
    """(S,) the step ends the user's last session in the log (its gap is unknown)."""
    observed_h: np.ndarray
    """(S,) for a user's last session: hours from its end to the end of the log."""


def _session_ends(log: InteractionLog, steps: _Steps) -> _SessionEnds:
    sessions = log.sessions
    last = np.r_[steps.session[1:] != steps.session[:-1], True]
    row = np.searchsorted(sessions["session_id"].to_numpy(), steps.session)
    gap = sessions["return_gap"].to_numpy()[row] / HOUR_S
    observed = sessions["observed_gap"].to_numpy()[row] / HOUR_S
    censored = sessions["censored"].to_numpy()[row]
    return _SessionEnds(last=last, gap_h=np.where(last & ~censored, gap, np.nan),
                        censored=last & censored, observed_h=np.where(last, observed, np.nan))


@dataclass(frozen=True)
class _Plan:
    """Which steps are kept and, for each kept step, its place in its episode."""

    keep: np.ndarray
    episode: np.ndarray
    session_index: np.ndarray
    session_step: np.ndarray
    step_in_episode: np.ndarray
    retention: np.ndarray
    terminal: np.ndarray
    timeout: np.ndarray


def _plan_episodes(steps: _Steps, ends: _SessionEnds, config: EnvConfig,
                   episodes_per_user: int | None) -> _Plan:
    """Walk the steps once, ending episodes where the environment would."""
    n = len(steps.user)
    churn_h = float(config.churn_after_h)
    keep = np.zeros(n, dtype=bool)
    episode = np.zeros(n, dtype=np.int64)
    session_index = np.zeros(n, dtype=np.int64)
    session_step = np.zeros(n, dtype=np.int64)
    step_in_episode = np.zeros(n, dtype=np.int64)
    retention = np.zeros(n, dtype=np.float64)
    terminal = np.zeros(n, dtype=bool)
    timeout = np.zeros(n, dtype=bool)
    user = steps.user.tolist()
    last = ends.last.tolist()
    gap_h = ends.gap_h.tolist()
    at_log_end = ends.censored.tolist()
    observed_h = ends.observed_h.tolist()
    max_sessions, max_steps = config.max_sessions, config.max_steps

    current = -1          # episode id
    count = 0             # steps in the episode so far
    finished = 0          # sessions finished in the episode so far
    in_session = 0        # steps in the current session so far (within the episode)
    user_episodes = 0
    previous_user = None
    open_episode = False
    for s in range(n):
        if user[s] != previous_user:
            previous_user, user_episodes, open_episode = user[s], 0, False
        if not open_episode:
            if episodes_per_user is not None and user_episodes >= episodes_per_user:
                continue
            current += 1
            user_episodes += 1
            count = finished = in_session = 0
            open_episode = True
        keep[s] = True
        episode[s] = current
        step_in_episode[s] = count
        session_index[s] = finished
        session_step[s] = in_session
        count += 1
        in_session += 1
        end = False
        if last[s]:
            finished += 1
            in_session = 0
            if at_log_end[s]:
                if observed_h[s] > churn_h:        # never came back within the horizon
                    terminal[s] = True
                else:                              # the log ended: unknown gap
                    timeout[s] = True
                end = True
            else:
                retention[s] = float(retention_reward(np.array([gap_h[s]]), churn_h)[0])
                if gap_h[s] > churn_h:
                    terminal[s] = end = True
        if not end and ((last[s] and finished >= max_sessions) or count >= max_steps):
            timeout[s] = end = True
        if end:
            open_episode = False
    kept = np.flatnonzero(keep)
    if len(kept) == 0:
        raise InputError("episodes_from_log: the log holds no step to make an episode of")
    return _Plan(keep=kept, episode=episode[kept], session_index=session_index[kept],
                 session_step=session_step[kept], step_in_episode=step_in_episode[kept],
                 retention=retention[kept], terminal=terminal[kept], timeout=timeout[kept])


def _observations(user: np.ndarray, items: np.ndarray, signals: np.ndarray, plan: _Plan,
                  spec: ObsSpec, reference: ObservationReference) -> dict[str, np.ndarray]:
    """The observation before each step: the episode's earlier items, most recent first
    (a slate's last item first, as the environment pushes it), with their feedback."""
    n, k = items.shape
    length = spec.history_len
    flat_items = items.reshape(-1)
    flat_signals = signals.reshape(n * k, -1)
    before = np.arange(n) * k                          # items in the dataset before step s
    episode_start = (np.arange(n) - plan.step_in_episode) * k
    back = before[:, None] - 1 - np.arange(length)[None, :]
    valid = back >= episode_start[:, None]
    safe = np.where(valid, back, 0)
    history_items = np.where(valid, flat_items[safe], spec.n_items).astype(np.int64)
    history_feedback = np.where(valid[:, :, None], flat_signals[safe], 0.0).astype(np.float32)
    return {
        "user_id": user.astype(np.int64),
        "user_features": reference.features_of(user),
        "history_items": history_items,
        "history_feedback": history_feedback,
        "history_mask": valid.astype(np.int8),
        "session_step": plan.session_step[:, None].astype(np.float32),
        "session_index": plan.session_index[:, None].astype(np.float32),
    }
