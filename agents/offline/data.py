"""What the offline agents read: a `TrajectoryDataset` as flat transitions sampled with the
agent's own generator, checks of datasets and observations against the agent's `ObsSpec`,
and item embeddings from wherever they are given."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from d3rlpy.dataset import TransitionMiniBatch

from agents.base import batch_of
from offline_data.shared.errors import InputError
from recgym.offline import TrajectoryDataset
from recgym.spaces import ObsSpec
from simulators.interface import HasItemEmbeddings

OBS_KEYS = ("user_id", "user_features", "history_items", "history_feedback", "history_mask",
            "session_step", "session_index")


@dataclass(frozen=True, eq=False)
class Transitions:
    """A dataset's steps in the flat layout d3rlpy reads, and the rows that are
    transitions.

    A step's next observation is the next step of its episode; a terminal step (churn) has
    none (its target does not bootstrap). The last step of an episode that timed out (the
    log or the step budget ended it) has no known next observation: it is no transition
    for temporal-difference learners (as in d3rlpy's own datasets), but still a
    (state, action) pair for behaviour cloning (`all_steps`).
    """

    observations: np.ndarray
    """(S, flat_dim) float32."""
    actions: np.ndarray
    """(S, action_dim) float32: the item id (discrete) or an action vector."""
    rewards: np.ndarray
    """(S, 1) float32."""
    terminals: np.ndarray
    """(S, 1) float32."""
    next_row: np.ndarray
    """(S,) row of the next observation (the row itself where there is none)."""
    rows: np.ndarray
    """Rows that are sampled."""

    @classmethod
    def of(cls, dataset: TrajectoryDataset, actions: np.ndarray,
           all_steps: bool = False) -> Transitions:
        """Transitions of `dataset` with `actions` (S, action_dim) as the actions."""
        n = dataset.n_steps
        terminal = np.asarray(dataset.terminals, dtype=bool)
        timeout = np.asarray(dataset.timeouts, dtype=bool) & ~terminal
        row = np.arange(n)
        next_row = np.where(terminal | timeout, row, np.minimum(row + 1, n - 1))
        rows = row if all_steps else row[~timeout]
        if len(rows) == 0:
            raise InputError(f"{dataset.source}: the dataset has no transition to learn from "
                             "(every episode is a single step cut short); use a log with "
                             "longer sessions")
        return cls(observations=dataset.flat_observations(),
                   actions=np.asarray(actions, np.float32).reshape(n, -1),
                   rewards=np.asarray(dataset.rewards, np.float32).reshape(n, 1),
                   terminals=terminal.astype(np.float32).reshape(n, 1),
                   next_row=next_row.astype(np.int64), rows=rows.astype(np.int64))

    def sample(self, rng: np.random.Generator, batch_size: int) -> TransitionMiniBatch:
        """`batch_size` transitions drawn uniformly with replacement by `rng`."""
        pick = self.rows[rng.integers(0, len(self.rows), batch_size)]
        nxt = self.next_row[pick]
        return TransitionMiniBatch(
            observations=self.observations[pick], actions=self.actions[pick],
            rewards=self.rewards[pick], next_observations=self.observations[nxt],
            next_actions=self.actions[nxt], terminals=self.terminals[pick],
            intervals=np.ones((batch_size, 1), np.float32), transitions=[])


def spec_differences(expected: ObsSpec, given: ObsSpec) -> list[str]:
    """Names of the `ObsSpec` fields that differ."""
    ours, theirs = expected.to_dict(), given.to_dict()
    return [k for k, v in ours.items() if theirs.get(k) != v]


def check_dataset(name: str, spec: ObsSpec, dataset: Any) -> TrajectoryDataset:
    """`dataset` if it is a `TrajectoryDataset` of the agent's spec, else an `InputError`
    naming the problem and the fix."""
    if not isinstance(dataset, TrajectoryDataset):
        kind = type(dataset).__name__
        raise InputError(f"{name} is an offline agent: fit it on a TrajectoryDataset "
                         f"(recgym.offline.episodes_from_log(log, ...)), not a {kind}; to "
                         "train in an environment use an online agent")
    differ = spec_differences(spec, dataset.spec)
    if differ:
        shown = ", ".join(f"{k} {getattr(dataset.spec, k)!r} (agent: {getattr(spec, k)!r})"
                          for k in differ[:3])
        raise InputError(f"{name}: the dataset {dataset.source!r} does not match the "
                         f"environment this agent was built for ({shown}); make the agent "
                         "from this dataset (make_agent(name, dataset))")
    return dataset


def flat_observations(name: str, spec: ObsSpec, obs: Any) -> tuple[np.ndarray,
                                                                     dict[str, np.ndarray]]:
    """(flat (B, flat_dim) float32, batched dict) of one observation or a batch, checked
    against the agent's spec: a mismatch names the key and the setting to fix."""
    if not isinstance(obs, Mapping) or any(k not in obs for k in OBS_KEYS):
        raise InputError(f"{name}.predict takes a recgym observation dict (keys "
                         f"{', '.join(OBS_KEYS)}), one or a batch")
    batch = batch_of(dict(obs))
    if "candidates" in batch:
        raise InputError(f"{name} chooses among all items, but the observation has "
                         "'candidates'; evaluate it in an environment without n_candidates")
    b = len(batch["history_items"])
    expected = {"history_items": (b, spec.history_len),
                "history_feedback": (b, spec.history_len, spec.n_signals),
                "history_mask": (b, spec.history_len),
                "user_features": (b, spec.user_feature_dim)}
    setting = {"history_items": "history_len", "history_mask": "history_len",
               "history_feedback": "history_len / signals", "user_features": "user features"}
    for key, shape in expected.items():
        if tuple(batch[key].shape) != shape:
            raise InputError(
                f"{name}: observation {key!r} has shape {tuple(batch[key].shape)[1:]}, the "
                f"agent was trained on {shape[1:]} ({setting[key]} differ); evaluate it in an "
                "environment built with the dataset's settings (dataset.env_config) and "
                "simulator")
    users, items = np.asarray(batch["user_id"]), np.asarray(batch["history_items"])
    if b and (users.max() >= spec.n_users or items.max() > spec.n_items or users.min() < 0
              or items.min() < 0):
        raise InputError(f"{name}: the observation's user or item ids exceed the agent's "
                         f"{spec.n_users} users / {spec.n_items} items; evaluate it in the "
                         "environment of the dataset it was trained on")
    return spec.flatten(batch), batch


def item_embeddings(name: str, source: Any, n_items: int) -> np.ndarray:
    """(n_items, d) float32 item embeddings from an array, a simulator or an environment
    that has them (`HasItemEmbeddings`), rows scaled to unit length."""
    if source is None:
        raise InputError(f"{name} acts in item-embedding space: pass embeddings= (an "
                         "(n_items, d) array, the simulator, or the environment it will be "
                         "evaluated in, e.g. world.item_embeddings())")
    base = getattr(source, "unwrapped", source)
    if isinstance(base, HasItemEmbeddings):
        source = base.item_embeddings()
    table = np.asarray(source, dtype=np.float32)
    if table.ndim != 2 or table.shape[0] != n_items or table.shape[1] < 1:
        raise InputError(f"{name}: embeddings must have shape ({n_items}, d) (one row per "
                         f"item), got {table.shape}; pass the embeddings of the simulator the "
                         "dataset was built for")
    if not np.isfinite(table).all():
        raise InputError(f"{name}: the item embeddings hold NaN or infinite values")
    norms = np.linalg.norm(table, axis=1, keepdims=True)
    return (table / np.maximum(norms, 1e-8)).astype(np.float32)
