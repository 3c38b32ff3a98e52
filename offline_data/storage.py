"""Parquet folders for `InteractionLog`: `meta.json` plus one Parquet file per table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from offline_data.log import InteractionLog
from offline_data.schema import Signal
from offline_data.shared.atomic import atomic_directory
from offline_data.shared.errors import LogSchemaError
from offline_data.shared.jsonfile import read_format_meta
from offline_data.validation import require_dir

FORMAT_NAME = "recgym-interaction-log"
FORMAT_VERSION = 1
META_FILE = "meta.json"


def write_log(log: InteractionLog, directory: str | Path, *, overwrite: bool = False) -> Path:
    """Write `log` to `directory` atomically; see `InteractionLog.to_parquet`."""
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "signals": [{"name": s.name, "kind": s.kind} for s in log.signals],
        "session_gap": log.session_gap,
        "start_time": log.start_time,
        "end_time": log.end_time,
        "source": log.source,
        "n_interactions": log.n_interactions,
    }
    with atomic_directory(directory, overwrite=overwrite, marker=META_FILE) as tmp:
        log.interactions.to_parquet(tmp / "interactions.parquet", index=False)
        pd.DataFrame({"raw_id": log.user_ids}).to_parquet(tmp / "user_ids.parquet", index=False)
        pd.DataFrame({"raw_id": log.item_ids}).to_parquet(tmp / "item_ids.parquet", index=False)
        if log.users is not None:
            log.users.to_parquet(tmp / "users.parquet")
        if log.items is not None:
            log.items.to_parquet(tmp / "items.parquet")
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
    return Path(directory)


def is_log_directory(path: str | Path) -> bool:
    """True when `path` is a folder written by `write_log`."""
    return (Path(path) / META_FILE).is_file()


def read_log(directory: str | Path) -> InteractionLog:
    """Read a folder written by `write_log`, checking its metadata and tables."""
    folder = require_dir(directory, "interaction-log folder")
    meta_path = folder / META_FILE
    meta = read_format_meta(
        meta_path, format_name=FORMAT_NAME, version=FORMAT_VERSION, error=LogSchemaError,
        missing=f"{folder}: no {META_FILE}; this is not a folder written by "
                "InteractionLog.to_parquet / `recgym data synth`", hint="rewrite the folder")
    try:
        signals = tuple(Signal(s["name"], s["kind"]) for s in meta["signals"])
        session_gap, start, end = meta["session_gap"], meta["start_time"], meta["end_time"]
    except (ValueError, KeyError, TypeError) as exc:
        raise LogSchemaError(
            f"{meta_path}: unreadable metadata ({exc}); rewrite the folder"
        ) from None

    def table(name: str, required: bool = True) -> pd.DataFrame | None:
        path = folder / name
        if not path.is_file():
            if required:
                raise LogSchemaError(f"{folder}: {name} is missing; the folder is incomplete")
            return None
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise LogSchemaError(f"{path}: not a readable Parquet file ({exc})") from None

    interactions = table("interactions.parquet")
    assert interactions is not None
    if len(interactions) != meta.get("n_interactions", len(interactions)):
        raise LogSchemaError(
            f"{folder}: interactions.parquet has {len(interactions)} rows but {META_FILE} "
            f"says {meta['n_interactions']}; the folder is inconsistent"
        )
    user_ids, item_ids = table("user_ids.parquet"), table("item_ids.parquet")
    assert user_ids is not None and item_ids is not None
    return InteractionLog(
        interactions=interactions,
        signals=signals,
        user_ids=np.asarray(user_ids["raw_id"]),
        item_ids=np.asarray(item_ids["raw_id"]),
        users=table("users.parquet", required=False),
        items=table("items.parquet", required=False),
        session_gap=int(session_gap),
        start_time=int(start),
        end_time=int(end),
        source=str(folder),
    )
