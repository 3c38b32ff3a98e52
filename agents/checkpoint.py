"""Saving agent and training state safely: nested dicts of tensors, numpy arrays and plain
values go through `torch.save` and come back with `torch.load(weights_only=True)`, so
loading a file never runs code from it."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from offline_data.shared.errors import InputError

_ARRAY = "__ndarray__"


def pack(value: Any) -> Any:
    """Turn numpy arrays (any dtype) into tagged tensors, recursively."""
    if isinstance(value, np.ndarray):
        array = value.view(np.int64) if value.dtype == np.uint64 else value
        if array.dtype == np.bool_:
            array = array.astype(np.uint8)
        return {_ARRAY: torch.from_numpy(np.ascontiguousarray(array)), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):  # keys keep their type: optimiser states use int keys
        return {k: pack(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [pack(v) for v in value]
    return value


def unpack(value: Any) -> Any:
    """Inverse of `pack`."""
    if isinstance(value, dict):
        if _ARRAY in value:
            array = value[_ARRAY].numpy()
            dtype = value["dtype"]
            if dtype == "uint64":
                return array.view(np.uint64).copy()
            return array.astype(dtype, copy=True)
        return {k: unpack(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unpack(v) for v in value]
    return value


def save_state(path: str | Path, state: dict[str, Any]) -> None:
    """Write a nested state dict with `torch.save` (the folder is the caller's to make
    atomic)."""
    torch.save(pack(state), Path(path))


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a file written by `save_state` with `weights_only=True`; clear errors name the
    file when it is missing, truncated or not such a file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p} is missing; the folder is incomplete")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or foreign files raise several types
        raise InputError(f"{p}: not a readable recgym state file ({type(exc).__name__}); it "
                         "may be truncated or not written by recgym") from None
    if not isinstance(data, dict):
        raise InputError(f"{p}: expected a dict of tensors")
    return unpack(data)


def capture_rng() -> dict[str, Any]:
    """The global random states (torch, numpy, Python) that training draws from."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state().numpy().copy(), "numpy_keys": np.asarray(keys),
             "numpy": [kind, int(pos), int(has_gauss), float(cached)],
             "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()]}
    if torch.cuda.is_available():
        state["cuda"] = [s.numpy().copy() for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Restore what `capture_rng` returned."""
    torch.set_rng_state(torch.from_numpy(np.asarray(state["torch"], dtype=np.uint8)))
    kind, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(state["numpy_keys"], dtype=np.uint32), pos,
                         has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.from_numpy(np.asarray(s, dtype=np.uint8))
                                      for s in state["cuda"]])
