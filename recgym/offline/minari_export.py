"""Minari export (optional extra `recgym[minari]`, Minari 0.5): a `TrajectoryDataset` as a
Minari dataset with the environment's `Dict` observation space, and back.

Each episode holds its observations plus the observation after its last step (Minari
stores T + 1), the actions, the scalar rewards, terminations (churn) and truncations
(timeouts), and as infos, in Gymnasium's order (index 0 the reset, t + 1 after step t),
`reward_vector` and, when known, `propensity`. The folder is Minari's data folder:
`minari.MinariDataset(folder)` reads it; placed at `$MINARI_DATASETS_PATH/<dataset_id>/data`
it is listed and loaded by id. Written through `MinariStorage` (Minari 0.5's storage
API), so the extra pins minari to 0.5.x and tests/test_export.py round-trips it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from offline_data.shared.errors import InputError
from recgym.offline.dataset import DatasetFileError, TrajectoryDataset
from recgym.offline.export import export_dataset, read_export_meta
from recgym.spaces import ObsSpec

EXTRA = 'pip install "recgym[minari]"'


def require_minari() -> Any:
    """The `minari` module, or an `InputError` that names the extra to install."""
    try:
        import minari
    except ImportError:
        raise InputError(f"Minari export needs the optional package minari 0.5; install it "
                         f"with {EXTRA} (or pip install 'minari>=0.5,<0.6')") from None
    if not str(minari.__version__).startswith("0.5."):
        raise InputError(f"Minari export is written for minari 0.5.x, found "
                         f"{minari.__version__}; install it with {EXTRA}")
    return minari


def to_minari(dataset: TrajectoryDataset, directory: str | Path, *,
              dataset_id: str | None = None, overwrite: bool = False) -> Path:
    """Write `dataset` as a Minari dataset in the folder `directory` (atomically; replaces
    only a folder recgym wrote). `dataset_id` defaults to `recgym/<folder name>-v0`."""
    return export_dataset(dataset, directory, "minari", overwrite=overwrite,
                          dataset_id=dataset_id)


def write_minari(dataset: TrajectoryDataset, folder: Path, dataset_id: str
                 ) -> dict[str, Any]:
    """Write the Minari files of `dataset` into the existing empty `folder`; returns what
    `export.json` should add."""
    minari = require_minari()
    from minari.data_collector import EpisodeBuffer
    from minari.dataset.minari_dataset import parse_dataset_id
    from minari.dataset.minari_storage import MinariStorage

    try:
        parse_dataset_id(dataset_id)
    except ValueError:
        raise InputError(f"Minari dataset id {dataset_id!r} is malformed; write it as "
                         "(namespace/)name-v0, e.g. recgym/kuairand-v0") from None
    spec = dataset.spec
    storage = MinariStorage.new(folder, observation_space=spec.observation_space(),
                                action_space=_action_space(spec), data_format="hdf5")
    storage.update_metadata({
        "dataset_id": dataset_id, "minari_version": str(minari.__version__),
        "algorithm_name": f"logged behaviour ({dataset.behaviour or 'unknown'} propensities)",
        "description": (f"recgym episodes from {dataset.source}: the RecGym environment's "
                        f"Dict observations and rewards ({', '.join(dataset.reward_names)}; "
                        f"weights {dataset.reward_weights}); terminations are churn, "
                        "truncations timeouts"),
    })
    finals = final_observations(dataset)
    starts, stops = dataset.episode_bounds()
    n_rewards = len(dataset.reward_names)
    buffers = []
    for e, (start, stop) in enumerate(zip(starts.tolist(), stops.tolist(), strict=True)):
        obs = {k: np.concatenate([v[start:stop], finals[k][e:e + 1]])
               for k, v in dataset.observations.items()}
        infos: dict[str, np.ndarray] = {"reward_vector": np.concatenate(
            [np.zeros((1, n_rewards), np.float32), dataset.reward_vectors[start:stop]])}
        if dataset.propensities is not None:
            infos["propensity"] = np.r_[np.nan, dataset.propensities[start:stop]]
        buffers.append(EpisodeBuffer(
            id=e, observations=obs, actions=dataset.actions[start:stop],
            rewards=dataset.rewards[start:stop], terminations=dataset.terminals[start:stop],
            truncations=dataset.timeouts[start:stop], infos=infos))
        if len(buffers) == 1024:
            storage.update_episodes(buffers)
            buffers = []
    if buffers:
        storage.update_episodes(buffers)
    exact = spec.slate_size == 1
    return {"minari_dataset_id": dataset_id, "minari_version": str(minari.__version__),
            "final_observation": "as the environment shows it" if exact else
            "the last slate's items enter the history with zero feedback (the dataset keeps "
            "per-step sums of a slate's feedback, not each item's)"}


def from_minari(directory: str | Path) -> TrajectoryDataset:
    """Read a folder written by `to_minari` back into a `TrajectoryDataset` (the final
    observations are dropped; spec, config and behaviour come from `export.json`)."""
    from recgym.env_config import EnvConfig

    minari = require_minari()
    folder = Path(directory)
    meta = read_export_meta(folder, "minari")
    try:
        data = minari.MinariDataset(folder)
        episodes = list(data.iterate_episodes())
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetFileError(f"{folder}: not readable by Minari ({type(exc).__name__}: "
                               f"{exc}); export the dataset again") from None
    obs_keys = list(episodes[0].observations) if episodes else []
    observations = {k: np.concatenate([ep.observations[k][:-1] for ep in episodes])
                    for k in obs_keys}
    has_propensity = bool(episodes) and "propensity" in episodes[0].infos
    config = dict(meta["env_config"])
    if config.get("users") is not None:
        config["users"] = tuple(config["users"])
    return TrajectoryDataset(
        observations=observations,
        actions=np.concatenate([ep.actions for ep in episodes]),
        rewards=np.concatenate([ep.rewards for ep in episodes]).astype(np.float32),
        reward_vectors=np.concatenate([ep.infos["reward_vector"][1:] for ep in episodes]),
        reward_names=tuple(meta["reward_names"]),
        reward_weights=dict(meta["reward_weights"]),
        terminals=np.concatenate([ep.terminations for ep in episodes]).astype(bool),
        timeouts=np.concatenate([ep.truncations for ep in episodes]).astype(bool),
        episode=np.repeat(np.arange(len(episodes)), [len(ep) for ep in episodes]),
        spec=ObsSpec.from_dict(meta["spec"]),
        env_config=EnvConfig(**config),
        propensities=(np.concatenate([ep.infos["propensity"][1:] for ep in episodes])
                      if has_propensity else None),
        behaviour=meta.get("behaviour"),
        behaviour_report=dict(meta.get("behaviour_report") or {}),
        source=str(meta.get("source", folder)),
    )


def final_observations(dataset: TrajectoryDataset) -> dict[str, np.ndarray]:
    """(E, ...) the observation after each episode's last step, as the environment would
    show it: the step's item pushed into the history with its feedback (taken from the
    reward vector; a slate's items get zero feedback, the per-item values are not kept),
    and the session counters moved on when the step ended its session (it did unless the
    episode was cut by `max_steps` with no retention paid)."""
    spec, config = dataset.spec, dataset.env_config
    starts, stops = dataset.episode_bounds()
    last = stops - 1
    obs = {k: v[last].copy() for k, v in dataset.observations.items()}
    slates = dataset.actions[last].reshape(len(last), -1)
    k, n_sig = slates.shape[1], spec.n_signals
    feedback = np.zeros((len(last), k, n_sig), np.float32)
    if k == 1:
        feedback[:, 0, :] = dataset.reward_vectors[last, :n_sig]
    length = spec.history_len
    items = np.concatenate([slates[:, ::-1], obs["history_items"]], axis=1)[:, :length]
    fb = np.concatenate([feedback[:, ::-1], obs["history_feedback"]], axis=1)[:, :length]
    obs["history_items"] = items.astype(obs["history_items"].dtype)
    obs["history_feedback"] = fb.astype(obs["history_feedback"].dtype)
    obs["history_mask"] = (items < spec.n_items).astype(obs["history_mask"].dtype)
    retention = dataset.reward_vectors[last, dataset.reward_names.index("retention")]
    cut_by_steps = (stops - starts) >= config.max_steps
    left = dataset.terminals[last] | (dataset.timeouts[last] & (~cut_by_steps
                                                                | (retention > 0)))
    step = obs["session_step"]
    obs["session_step"] = np.where(left[:, None], 0, step + 1).astype(step.dtype)
    obs["session_index"] = (obs["session_index"] + left[:, None]).astype(step.dtype)
    return obs


def _action_space(spec: ObsSpec) -> spaces.Space:
    """The env's action space as a plain Gymnasium space (a slate as `MultiDiscrete`)."""
    if spec.slate_size == 1:
        return spaces.Discrete(spec.n_items)
    return spaces.MultiDiscrete(np.full(spec.slate_size, spec.n_items))
