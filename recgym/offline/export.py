"""Write a `TrajectoryDataset` for other tools: Parquet (recgym's own), Minari (optional
extra, `recgym.offline.minari_export`) or d3rlpy's HDF5 dump of an `MDPDataset`.

Every export is a folder written atomically with `export.json` (format, sizes, the
observation spec, the env config, reward names and weights, behaviour and its report);
it replaces only a folder recgym wrote. A behaviour model given to `export_dataset` is
saved in its `behaviour/` subfolder, so it can be applied to new data later.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from offline_data.shared.atomic import atomic_directory, check_output_dir
from offline_data.shared.errors import InputError
from offline_data.shared.jsonfile import json_default, read_json_object
from recgym.offline.dataset import DATASET_FILE, DatasetFileError, TrajectoryDataset
from recgym.spaces import ObsSpec

if TYPE_CHECKING:
    from recgym.offline.behaviour import BehaviourModel

FORMATS = ("parquet", "minari", "d3rlpy")
EXPORT_FILE = "export.json"
EXPORT_VERSION = 1
D3RLPY_FILE = "dataset.h5"
BEHAVIOUR_DIR = "behaviour"


def check_format(name: str) -> str:
    """`name` as a known export format, or an `InputError` with a did-you-mean."""
    key = str(name).strip().lower()
    if key not in FORMATS:
        close = difflib.get_close_matches(key, FORMATS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InputError(f"unknown export format {name!r}; {hint}Formats: {', '.join(FORMATS)}")
    return key


def check_export_target(directory: str | Path, overwrite: bool = False) -> Path:
    """Raise unless an export may be written to `directory` (an empty or new folder, or,
    with `overwrite`, one that recgym wrote); call it before long work."""
    return check_output_dir(directory, overwrite=overwrite, marker=_marker(directory))


def export_dataset(dataset: TrajectoryDataset, directory: str | Path, to: str = "parquet",
                   *, overwrite: bool = False, behaviour_model: BehaviourModel | None = None,
                   dataset_id: str | None = None) -> Path:
    """Write `dataset` to the folder `directory` in the format `to` (see `FORMATS`).

    parquet: `TrajectoryDataset.to_parquet`'s files (read back with `from_parquet`);
    minari: a Minari 0.5 HDF5 dataset (`minari.MinariDataset(directory)`; read back with
    `recgym.offline.from_minari`), named `dataset_id`; d3rlpy: `dataset.h5`, the
    `MDPDataset` dumped by d3rlpy (`ReplayBuffer.load(f, InfiniteBuffer())`, or
    `read_d3rlpy`), with `propensities.npy` and `reward_vectors.npy` beside it.
    """
    fmt = check_format(to)
    check_exportable(dataset, fmt)
    target = check_export_target(directory, overwrite)
    meta = export_meta(dataset, fmt)
    with atomic_directory(target, overwrite=overwrite, marker=_marker(target)) as tmp:
        if fmt == "parquet":
            dataset.to_parquet(tmp, overwrite=True)
        elif fmt == "minari":
            from recgym.offline.minari_export import write_minari

            meta.update(write_minari(dataset, tmp, dataset_id or _dataset_id(target)))
        else:
            _write_d3rlpy(dataset, tmp)
        if behaviour_model is not None:
            behaviour_model.save(tmp / BEHAVIOUR_DIR, overwrite=True)
            meta["behaviour_model"] = BEHAVIOUR_DIR
        meta["files"] = sorted([*(p.name for p in tmp.iterdir()), EXPORT_FILE])
        (tmp / EXPORT_FILE).write_text(json.dumps(meta, indent=1, default=json_default))
    return target


def check_exportable(dataset: TrajectoryDataset, fmt: str) -> None:
    """Raise an `InputError` when `dataset` cannot be written as `fmt` (or at all)."""
    if dataset.n_steps == 0:
        raise InputError(f"{dataset.source}: the dataset is empty (no steps), nothing to "
                         "export; build it from a log with interactions")
    if fmt == "d3rlpy" and dataset.actions.ndim != 1:
        raise InputError(f"d3rlpy learns one item per step, but this dataset has slates of "
                         f"{dataset.actions.shape[1]}; export it with slate_size 1, or as "
                         "parquet or minari")
    if fmt == "minari":
        from recgym.offline.minari_export import require_minari

        require_minari()


def to_d3rlpy(dataset: TrajectoryDataset, directory: str | Path, *,
              overwrite: bool = False) -> Path:
    """`export_dataset(dataset, directory, "d3rlpy")`."""
    return export_dataset(dataset, directory, "d3rlpy", overwrite=overwrite)


def read_d3rlpy(directory: str | Path) -> tuple[Any, ObsSpec, dict[str, Any]]:
    """(d3rlpy `ReplayBuffer`, observation spec for `RecEncoderFactory`, export.json) of a
    folder written by `to_d3rlpy`."""
    from d3rlpy.dataset import InfiniteBuffer, ReplayBuffer

    folder = Path(directory)
    meta = read_export_meta(folder, "d3rlpy")
    try:
        with open(folder / D3RLPY_FILE, "rb") as handle:
            buffer = ReplayBuffer.load(handle, InfiniteBuffer())
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetFileError(f"{folder / D3RLPY_FILE}: not readable by d3rlpy "
                               f"({type(exc).__name__}: {exc}); export the dataset "
                               "again") from None
    return buffer, ObsSpec.from_dict(meta["spec"]), meta


def read_export_meta(directory: str | Path, fmt: str) -> dict[str, Any]:
    """The `export.json` of an export folder of format `fmt` (clear errors otherwise)."""
    folder = Path(directory)
    meta = read_json_object(
        folder / EXPORT_FILE, error=DatasetFileError, hint="export the dataset again",
        missing=f"{folder}: no {EXPORT_FILE}; not a dataset exported by recgym "
                "(`recgym data export`)")
    if meta.get("format") != fmt or meta.get("export_version") != EXPORT_VERSION:
        raise DatasetFileError(
            f"{folder / EXPORT_FILE}: a {meta.get('format')!r} export of version "
            f"{meta.get('export_version')!r}, not {fmt!r} version {EXPORT_VERSION}; read it "
            "with the matching reader or export the dataset again")
    return meta


def export_meta(dataset: TrajectoryDataset, fmt: str) -> dict[str, Any]:
    """What `export.json` records about `dataset`."""
    return {
        "format": fmt, "export_version": EXPORT_VERSION, "written_by": "recgym",
        "source": dataset.source, "steps": dataset.n_steps, "episodes": dataset.n_episodes,
        "terminals": int(dataset.terminals.sum()), "timeouts": int(dataset.timeouts.sum()),
        "spec": dataset.spec.to_dict(), "env_config": dataset.env_config.to_dict(),
        "reward_names": list(dataset.reward_names), "reward_weights": dataset.reward_weights,
        "behaviour": dataset.behaviour, "behaviour_report": dataset.behaviour_report,
    }


def _write_d3rlpy(dataset: TrajectoryDataset, folder: Path) -> None:
    mdp = dataset.to_mdp_dataset()
    with open(folder / D3RLPY_FILE, "w+b") as handle:  # h5py reads back as it writes
        mdp.dump(handle)
    np.save(folder / "reward_vectors.npy", dataset.reward_vectors, allow_pickle=False)
    if dataset.propensities is not None:
        np.save(folder / "propensities.npy", dataset.propensities, allow_pickle=False)


def _marker(directory: str | Path) -> str:
    """The file that shows recgym wrote `directory`: `export.json`, or `dataset.json` for
    a folder written by `TrajectoryDataset.to_parquet`."""
    folder = Path(directory)
    if not (folder / EXPORT_FILE).is_file() and (folder / DATASET_FILE).is_file():
        return DATASET_FILE
    return EXPORT_FILE


def _dataset_id(target: Path) -> str:
    """A Minari dataset id from the folder name: `recgym/<name>-v0` (or its own -vN)."""
    import re

    name = re.sub(r"[^\w-]+", "-", target.resolve().name).strip("-_") or "dataset"
    return f"recgym/{name}" if re.search(r"-v\d+$", name) else f"recgym/{name}-v0"
