"""Saving and loading fitted simulators: JSON metadata plus a weights-only tensor file.

Loading never unpickles code: tensors are read with `torch.load(..., weights_only=True)`,
and every file is checked (present, readable, shapes matching the metadata).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from offline_data.shared.atomic import atomic_directory
from offline_data.shared.errors import InputError
from offline_data.shared.jsonfile import read_json_object
from simulators.features import category_columns
from simulators.logged import FittedMeta, LoggedUserSimulator, SimulatorTensors
from simulators.networks import LEAVE_CONTEXT, ResponseNet, UserContextNet
from simulators.sim_config import Behaviour
from simulators.training import pick_device

FORMAT = "recgym-logged-simulator"
VERSION = 5
"""Bumped whenever the saved files change (4: per-value dependent heads; 5: Platt
calibration maps in `simulator.json`)."""
META_FILE = "simulator.json"
WEIGHTS_FILE = "weights.pt"
TENSOR_FIELDS = ("known_user", "known_item", "item_popularity", "start_items",
                 "start_feedback", "start_profile_sum", "start_profile_count",
                 "start_session_index", "start_hours_since", "start_hist_hours")


class SimulatorFileError(InputError):
    """A saved simulator folder is missing, incomplete, corrupt or does not match."""


def save_simulator(sim: LoggedUserSimulator, directory: str | Path, *,
                   overwrite: bool = False) -> Path:
    """Write `sim` to `directory` atomically (refuses to replace it unless `overwrite`,
    and never replaces a folder it did not write)."""
    with atomic_directory(directory, overwrite=overwrite, marker=META_FILE) as tmp:
        write_simulator_files(sim, tmp)
    return Path(directory)


def write_simulator_files(sim: LoggedUserSimulator, folder: Path) -> None:
    """Write `simulator.json` and `weights.pt` into an existing (temporary) folder."""
    meta = sim.meta.to_dict()
    meta["format"], meta["version"] = FORMAT, VERSION
    meta["behaviour"] = {k: float(v) for k, v in sim.behaviour.__dict__.items()}
    weights: dict[str, torch.Tensor] = {}
    for prefix, net in (("response", sim.response), ("leave", sim.leave),
                        ("return", sim.returns)):
        for key, value in net.state_dict().items():
            weights[f"{prefix}.{key}"] = value.detach().cpu()
    for name in TENSOR_FIELDS:
        weights[f"tensors.{name}"] = torch.from_numpy(np.ascontiguousarray(
            getattr(sim.tensors, name)))
    torch.save(weights, folder / WEIGHTS_FILE)
    (folder / META_FILE).write_text(json.dumps(meta, indent=2))


def _read_meta(folder: Path) -> dict:
    if not folder.is_dir():
        raise SimulatorFileError(f"simulator folder not found: {folder}; check the path")
    path = folder / META_FILE
    meta = read_json_object(
        path, error=SimulatorFileError, hint="save the simulator again",
        missing=f"{folder}: no {META_FILE}; this is not a folder written by "
        "LoggedUserSimulator.save / `recgym fit-sim`")
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise SimulatorFileError(
            f"{path}: format {meta.get('format')!r} version {meta.get('version')!r} is not "
            f"{FORMAT!r} version {VERSION}, which this recgym reads; fit the simulator again "
            "(`recgym fit-sim`)"
        )
    return meta


def load_simulator(directory: str | Path, device: str = "auto") -> LoggedUserSimulator:
    """Read a folder written by `save_simulator`."""
    folder = Path(directory)
    raw = _read_meta(folder)
    try:
        behaviour = Behaviour(**raw.pop("behaviour"))
        for key in ("format", "version"):
            raw.pop(key)
        meta = FittedMeta.from_dict(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise SimulatorFileError(f"{folder / META_FILE}: bad metadata ({exc})") from None
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise SimulatorFileError(f"{folder}: {WEIGHTS_FILE} is missing; the folder is incomplete")
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or foreign files raise several types
        raise SimulatorFileError(
            f"{path}: not a readable weights file ({type(exc).__name__}); it may be truncated"
        ) from None
    if not isinstance(weights, dict):
        raise SimulatorFileError(f"{path}: expected a dict of tensors")

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) + 1:]: v for k, v in weights.items() if k.startswith(prefix + ".")}

    try:
        tensors = SimulatorTensors(**{k: v.numpy() for k, v in part("tensors").items()})
        user_x = part("response")["user_x"][:-1]
        item_x = part("response")["item_x"][:-2]
        config = meta.config
        response = ResponseNet(meta.n_users, meta.n_items, user_x, item_x,
                               [s.is_binary for s in meta.signals], meta.primary, config,
                               category_columns(meta.item_features))
        leave = UserContextNet(meta.n_users, user_x, LEAVE_CONTEXT + 2 * meta.n_signals, 1)
        returns = UserContextNet(meta.n_users, user_x, 2 + meta.n_signals,
                                 len(meta.return_edges_s))
        response.load_state_dict(part("response"))
        leave.load_state_dict(part("leave"))
        returns.load_state_dict(part("return"))
    except (KeyError, TypeError, RuntimeError) as exc:
        first = str(exc).splitlines()[0][:200]
        raise SimulatorFileError(
            f"{path}: weights do not match {META_FILE} ({first}); the folder is mixed up or "
            "corrupt"
        ) from None
    if len(tensors.known_user) != meta.n_users or len(tensors.known_item) != meta.n_items:
        raise SimulatorFileError(f"{path}: tensor sizes do not match {META_FILE}")
    return LoggedUserSimulator(meta, response, leave, returns, tensors, behaviour,
                               device=pick_device(device))
