"""`TrajectoryDataset`: logged episodes with an environment's observations and rewards,
saved as Parquet and handed to d3rlpy as an `MDPDataset`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from offline_data.shared.atomic import atomic_directory
from offline_data.shared.errors import InputError
from offline_data.shared.jsonfile import json_default, read_json_object
from recgym.env_config import EnvConfig
from recgym.spaces import ObsSpec

DATASET_FILE = "dataset.json"
STEPS_FILE = "steps.parquet"
FORMAT_VERSION = 1


class DatasetFileError(InputError):
    """A saved trajectory dataset is missing, damaged or of another format."""


@dataclass(frozen=True, eq=False)
class TrajectoryDataset:
    """Transitions of logged episodes, one row per step, grouped in episodes.

    `observations` is the environment's observation dict, batched over steps; `actions`
    the logged item (or (S, k) slate); `rewards` the scalar reward and `reward_vectors`
    every reward component (`reward_names`); `terminals` marks a churn, `timeouts` an
    episode cut short (session budget, step budget or the end of the log) at the
    episode's last step. `episode` numbers the episodes 0..E-1 in order. `propensities`
    are the behaviour policy's probabilities of each logged action (recorded in the log,
    or fitted: `behaviour` says which), needed by importance-sampling estimators.
    """

    observations: dict[str, np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray
    reward_vectors: np.ndarray
    reward_names: tuple[str, ...]
    reward_weights: dict[str, float]
    terminals: np.ndarray
    timeouts: np.ndarray
    episode: np.ndarray
    spec: ObsSpec
    env_config: EnvConfig
    propensities: np.ndarray | None = None
    behaviour: str | None = None
    behaviour_report: dict[str, Any] = field(default_factory=dict)
    source: str = "<memory>"

    def __post_init__(self) -> None:
        n = len(self.actions)
        for name in ("rewards", "reward_vectors", "terminals", "timeouts", "episode"):
            if len(getattr(self, name)) != n:
                raise InputError(f"TrajectoryDataset: {name} has {len(getattr(self, name))} "
                                 f"rows, actions {n}")
        for key, values in self.observations.items():
            if len(values) != n:
                raise InputError(f"TrajectoryDataset: observation {key!r} has {len(values)} "
                                 f"rows, actions {n}")
        if self.propensities is not None and len(self.propensities) != n:
            raise InputError("TrajectoryDataset: propensities need one value per step")
        ends = self.terminals | self.timeouts
        if n and not ends[-1]:
            raise InputError("TrajectoryDataset: the last step must end an episode")
        starts = np.r_[True, self.episode[1:] != self.episode[:-1]]
        if n and not np.array_equal(starts[1:], ends[:-1]):
            raise InputError("TrajectoryDataset: every episode must end with a terminal or "
                             "a timeout on its last step, and only there")

    # ------------------------------------------------------------------ facts
    @property
    def n_steps(self) -> int:
        """Transitions (steps) in the dataset."""
        return len(self.actions)

    @property
    def n_episodes(self) -> int:
        """Episodes in the dataset."""
        return int(self.episode[-1]) + 1 if self.n_steps else 0

    def episode_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(start, stop) step indices of each episode (stop exclusive)."""
        starts = np.flatnonzero(np.r_[True, self.episode[1:] != self.episode[:-1]])
        return starts, np.r_[starts[1:], self.n_steps]

    def episode_returns(self, gamma: float = 1.0) -> np.ndarray:
        """(E,) discounted sum of rewards of each episode."""
        starts, _ = self.episode_bounds()
        position = np.arange(self.n_steps) - np.repeat(starts, np.diff(np.r_[starts,
                                                                              self.n_steps]))
        return np.bincount(self.episode, weights=self.rewards * gamma ** position,
                           minlength=self.n_episodes)

    def __repr__(self) -> str:
        return (f"TrajectoryDataset(source={self.source!r}, episodes={self.n_episodes}, "
                f"steps={self.n_steps}, terminals={int(self.terminals.sum())}, "
                f"behaviour={self.behaviour!r})")

    # ------------------------------------------------------------------ subsets
    def select_episodes(self, episodes: np.ndarray) -> TrajectoryDataset:
        """The given episodes (renumbered 0.. in the order given)."""
        chosen = np.asarray(episodes, dtype=np.int64)
        if len(chosen) == 0:
            raise InputError(f"{self.source}: no episode selected")
        if chosen.min() < 0 or chosen.max() >= self.n_episodes:
            raise InputError(f"episodes must be in 0..{self.n_episodes - 1}")
        starts, stops = self.episode_bounds()
        rows = np.concatenate([np.arange(starts[e], stops[e]) for e in chosen])
        numbers = np.repeat(np.arange(len(chosen)), stops[chosen] - starts[chosen])
        return replace(
            self,
            observations={k: v[rows] for k, v in self.observations.items()},
            actions=self.actions[rows], rewards=self.rewards[rows],
            reward_vectors=self.reward_vectors[rows], terminals=self.terminals[rows],
            timeouts=self.timeouts[rows], episode=numbers,
            propensities=None if self.propensities is None else self.propensities[rows])

    def split_by_user(self, test_fraction: float = 0.2, seed: int = 0
                      ) -> tuple[TrajectoryDataset, TrajectoryDataset]:
        """Episodes of a random `test_fraction` of the users (at least one) in the second
        part, the rest in the first; a user's episodes stay together."""
        if not 0.0 < test_fraction < 1.0:
            raise InputError(f"test_fraction must be in (0, 1), got {test_fraction}")
        starts, _ = self.episode_bounds()
        owner = self.observations["user_id"][starts]
        users = np.unique(owner)
        if len(users) < 2:
            raise InputError(f"{self.source}: split_by_user needs episodes of 2 or more users, "
                             f"got {len(users)}")
        rng = np.random.default_rng(seed)
        n_test = min(max(1, int(np.ceil(test_fraction * len(users)))), len(users) - 1)
        test_users = rng.choice(users, n_test, replace=False)
        is_test = np.isin(owner, test_users)
        return (self.select_episodes(np.flatnonzero(~is_test)),
                self.select_episodes(np.flatnonzero(is_test)))

    def with_propensities(self, propensities: np.ndarray, behaviour: str,
                          report: dict[str, Any] | None = None) -> TrajectoryDataset:
        """A copy with behaviour propensities (e.g. from a fitted behaviour model)."""
        values = np.asarray(propensities, dtype=np.float64)
        if values.shape != (self.n_steps,):
            raise InputError(f"propensities must have shape ({self.n_steps},), got "
                             f"{values.shape}")
        if not np.all((values > 0) & (values <= 1)):
            raise InputError("propensities must lie in (0, 1]")
        return replace(self, propensities=values, behaviour=behaviour,
                       behaviour_report=dict(report or {}))

    # ------------------------------------------------------------------ exports
    def flat_observations(self) -> np.ndarray:
        """(S, flat_dim) float32 observations in the `ObsSpec.flatten` layout (what
        `RecEncoderFactory` reads back)."""
        return self.spec.flatten(self.observations)

    def to_mdp_dataset(self) -> Any:
        """A d3rlpy `MDPDataset` over the flat observations, with discrete item actions
        (slate_size 1), the scalar rewards, terminals and timeouts."""
        from d3rlpy.constants import ActionSpace
        from d3rlpy.dataset import MDPDataset

        if self.actions.ndim != 1:
            raise InputError("d3rlpy learns one item per step: build the dataset with "
                             "slate_size=1")
        return MDPDataset(
            observations=self.flat_observations(),
            actions=self.actions.astype(np.int64)[:, None],
            rewards=self.rewards.astype(np.float32)[:, None],
            terminals=self.terminals.astype(np.float32),
            timeouts=self.timeouts.astype(np.float32),
            action_space=ActionSpace.DISCRETE,
            action_size=self.spec.n_items,
        )

    # ------------------------------------------------------------------ files
    def to_parquet(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Write `dataset.json` (spec, settings) and `steps.parquet` (one row per step),
        atomically; an existing folder is replaced only with `overwrite=True` and only
        when it is a dataset recgym wrote."""
        with atomic_directory(directory, overwrite=overwrite, marker=DATASET_FILE) as tmp:
            pq.write_table(self.steps_table(), tmp / STEPS_FILE)
            self.write_meta(tmp)
        return Path(directory)

    def steps_table(self, episode_offset: int = 0) -> pa.Table:
        """The rows of `steps.parquet` (episodes numbered from `episode_offset`, for
        datasets written part by part)."""
        columns: dict[str, Any] = {"episode": self.episode + episode_offset,
                                   "terminal": self.terminals, "timeout": self.timeouts,
                                   "reward": self.rewards}
        for key, values in self.observations.items():
            columns[f"obs.{key}"] = _column(values)
        columns["action"] = _column(self.actions)
        columns["reward_vector"] = _column(self.reward_vectors)
        if self.propensities is not None:
            columns["propensity"] = self.propensities
        return pa.table(columns)

    def write_meta(self, folder: Path, source: str | None = None) -> None:
        """Write `dataset.json` (spec, settings, shapes) into `folder`."""
        meta = {
            "format_version": FORMAT_VERSION, "source": source or self.source,
            "spec": self.spec.to_dict(), "env_config": self.env_config.to_dict(),
            "reward_names": list(self.reward_names), "reward_weights": self.reward_weights,
            "behaviour": self.behaviour, "behaviour_report": self.behaviour_report,
            "shapes": {key: list(np.shape(v)[1:]) for key, v in self.observations.items()},
            "action_shape": list(self.actions.shape[1:]),
        }
        (folder / DATASET_FILE).write_text(json.dumps(meta, indent=1, default=json_default))

    @classmethod
    def from_parquet(cls, directory: str | Path) -> TrajectoryDataset:
        """Read a folder written by `to_parquet` (a clear error naming the file when it
        is missing, damaged or of another format)."""
        folder = Path(directory)
        meta = read_json_object(
            folder / DATASET_FILE, error=DatasetFileError,
            missing=f"{folder}: no {DATASET_FILE}; not a trajectory dataset written by "
                    "recgym (TrajectoryDataset.to_parquet)",
            hint="write the dataset again")
        if meta.get("format_version") != FORMAT_VERSION:
            raise DatasetFileError(f"{folder / DATASET_FILE}: format version "
                                   f"{meta.get('format_version')!r}, this recgym reads "
                                   f"{FORMAT_VERSION}; build the dataset again")
        try:
            table = pq.read_table(folder / STEPS_FILE)
            shapes = meta["shapes"]
            observations = {key: _unstack(table, f"obs.{key}", shape)
                            for key, shape in shapes.items()}
            return cls(
                observations=observations,
                actions=_unstack(table, "action", meta["action_shape"]),
                rewards=_unstack(table, "reward", []).astype(np.float32),
                reward_vectors=_unstack(table, "reward_vector", [len(meta["reward_names"])]),
                reward_names=tuple(meta["reward_names"]),
                reward_weights=dict(meta["reward_weights"]),
                terminals=_unstack(table, "terminal", []).astype(bool),
                timeouts=_unstack(table, "timeout", []).astype(bool),
                episode=_unstack(table, "episode", []).astype(np.int64),
                spec=ObsSpec.from_dict(meta["spec"]),
                env_config=EnvConfig(**_config_fields(meta["env_config"])),
                propensities=(_unstack(table, "propensity", []).astype(np.float64)
                              if "propensity" in table.column_names else None),
                behaviour=meta.get("behaviour"),
                behaviour_report=dict(meta.get("behaviour_report") or {}),
                source=str(meta.get("source", folder)),
            )
        except (OSError, KeyError, ValueError, TypeError, pa.ArrowException) as exc:
            if isinstance(exc, InputError):
                raise
            raise DatasetFileError(f"{folder / STEPS_FILE}: unreadable or not matching "
                                   f"{DATASET_FILE} ({type(exc).__name__}: {exc}); build the "
                                   "dataset again") from None


def _column(values: np.ndarray) -> pa.Array:
    """An Arrow column: plain for (S,), a fixed-size list per row for (S, ...)
    (flattened), keeping the dtype."""
    array = np.ascontiguousarray(values)
    if array.ndim == 1:
        return pa.array(array)
    width = int(np.prod(array.shape[1:]))
    return pa.FixedSizeListArray.from_arrays(pa.array(array.reshape(-1)), width)


def _unstack(table: pa.Table, name: str, shape: list[int]) -> np.ndarray:
    """A column written by `_column`, back in its (S, *shape) form and dtype (a writable
    array: Arrow's zero-copy views are read-only, which torch warns about)."""
    column = table.column(name).combine_chunks()
    if not shape:
        return np.array(column.to_numpy(zero_copy_only=False))
    flat = np.array(column.flatten().to_numpy(zero_copy_only=False))
    return flat.reshape(len(column), *shape)


def _config_fields(data: dict[str, Any]) -> dict[str, Any]:
    fields = dict(data)
    if fields.get("users") is not None:
        fields["users"] = tuple(fields["users"])
    return fields
