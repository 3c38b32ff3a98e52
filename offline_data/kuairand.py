"""Loader for KuaiRand (Pure / 1K / 27K) folders.

Signals: the binary `is_click`, `is_like`, `is_follow`, `is_comment`, `is_forward`,
`is_hate`, `long_view`, and the continuous `watch_ratio` = play_time_ms / duration_ms,
clipped to [0, WATCH_RATIO_CAP]. Where the video has no duration (duration_ms <= 0: live
streams and picture posts, about 1.6% of KuaiRand-Pure rows) the ratio is unknown and is
recorded as `long_view` (1.0 for a long view, else 0.0). Context columns kept: `is_rand`
(1 for randomly exposed videos) and `tab` (the app tab of the exposure).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from offline_data.build import build_log, validate_block
from offline_data.log import InteractionLog
from offline_data.readers import csv_header, read_delimited
from offline_data.schema import (
    DEFAULT_SESSION_GAP_S,
    ITEM,
    TIMESTAMP,
    USER,
    Signal,
    check_session_gap,
)
from offline_data.shared.errors import LogSchemaError
from offline_data.validation import Origin, check_signal, logger, require_dir

BINARY_SIGNALS = (
    "is_click", "is_like", "is_follow", "is_comment", "is_forward", "is_hate", "long_view",
)
WATCH_RATIO_CAP = 5.0
"""Upper clip of watch_ratio; 99.9% of KuaiRand-Pure ratios are below 4.6."""
SIGNALS = (*(Signal(n, "binary") for n in BINARY_SIGNALS), Signal("watch_ratio", "continuous"))
CONTEXT = ("is_rand", "tab")
LOG_COLUMNS = ("user_id", "video_id", "time_ms", *BINARY_SIGNALS, "play_time_ms", "duration_ms")
LOG_KINDS = ("standard", "random", "all")
FILE_COLUMNS = {ITEM: "video_id", TIMESTAMP: "time_ms"}
"""Canonical column -> KuaiRand's name for it (used to name columns in messages)."""
_OFFICIAL_NAME = re.compile(r"^log_(standard|random)_\d+_\d+_to_\d+_\d+.*\.csv$")


def load_kuairand(
    path: str | Path,
    *,
    log: str | None = None,
    files: list[str] | None = None,
    session_gap: int = DEFAULT_SESSION_GAP_S,
    features: bool = True,
) -> InteractionLog:
    """Load a KuaiRand folder.

    `log` picks the files: "standard" reads every `log_standard_*.csv`, "random" every
    `log_random_*.csv`, "all" both; the default (None) reads the standard logs when the
    folder has any, else the random ones. When the folder holds official date-range files
    (`log_standard_4_08_to_4_21_pure.csv`, ...) other names (samples, copies) are skipped
    with a warning; `files=[...]` names the files to read instead (then leave `log` out).
    `user_features*.csv` and `video_features_basic*.csv` are joined when present and
    `features` is True. Error messages use KuaiRand's column names (`video_id`, `time_ms`).
    """
    folder = require_dir(path, "KuaiRand folder")
    session_gap = check_session_gap(session_gap)
    paths = _log_files(folder, log, files)
    parts = []
    for file in paths:
        check_log_header(file)
        raw = read_delimited(file, what="KuaiRand log (CSV)")
        parts.append(kuairand_frame(raw, file, Origin(str(file), line_offset=2,
                                                      columns=FILE_COLUMNS)))
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    users = items = users_origin = items_origin = None
    if features:
        users, users_origin = _features(folder, "user_features*.csv", USER, USER)
        items, items_origin = _features(folder, "video_features_basic*.csv", ITEM, "video_id")
    return build_log(
        frame,
        SIGNALS,
        origin=Origin(str(folder), columns=FILE_COLUMNS),
        users=users,
        items=items,
        users_origin=users_origin,
        items_origin=items_origin,
        session_gap=session_gap,
        time_unit="ms",
        context=CONTEXT,
    )


def check_log_header(file: Path) -> list[str]:
    """The header of a KuaiRand log file; raise naming the official columns it lacks."""
    header = csv_header(file)
    missing = [c for c in LOG_COLUMNS if c not in header]
    if missing:
        raise LogSchemaError(
            f"{file}: missing KuaiRand column(s) {', '.join(map(repr, missing))}; "
            f"the file has: {', '.join(header[:25])}"
        )
    return header


def kuairand_frame(raw: pd.DataFrame, file: Path, origin: Origin) -> pd.DataFrame:
    """Rows of a KuaiRand log file (all of them, or one block of a large file) with
    canonical column names, the context columns and `watch_ratio`, checked (ids, times,
    binary signals, play and duration times) with errors naming `origin`'s lines."""
    frame = raw.rename(columns={"video_id": ITEM, "time_ms": TIMESTAMP})
    if "is_rand" not in frame.columns:
        frame["is_rand"] = 1 if file.name.startswith("log_random") else 0
    if "tab" not in frame.columns:
        frame["tab"] = -1
    validate_block(frame, SIGNALS[:-1], origin, time_unit="ms")
    play = check_signal(frame, Signal("play_time_ms", "continuous"), origin)
    duration = check_signal(frame, Signal("duration_ms", "continuous"), origin)
    frame["watch_ratio"] = _watch_ratio(play, duration, frame["long_view"].to_numpy())
    return frame


def log_files(folder: Path, log: str | None = None, files: list[str] | None = None
              ) -> list[Path]:
    """The KuaiRand log files `load_kuairand(folder, log=..., files=...)` reads."""
    return _log_files(folder, log, files)


def _watch_ratio(play: np.ndarray, duration: np.ndarray, long_view: np.ndarray) -> np.ndarray:
    known = duration > 0
    ratio = np.where(known, play / np.where(known, duration, 1.0), long_view)
    unknown = int((~known).sum())
    if unknown:
        logger.info("watch_ratio: %d rows without a video duration use long_view", unknown)
    return np.clip(ratio, 0.0, WATCH_RATIO_CAP).astype(np.float32)


def _log_files(folder: Path, log: str | None, files: list[str] | None) -> list[Path]:
    if files is not None:
        if log is not None:
            raise LogSchemaError(
                f"{folder}: pass either log={log!r} or files=[...], not both (files names "
                "exactly the KuaiRand logs to read)"
            )
        if isinstance(files, str) or not files:
            raise LogSchemaError(
                f"{folder}: files must be a non-empty list of file names, got {files!r}"
            )
        paths = [folder / name for name in files]
        absent = [str(p) for p in paths if not p.is_file()]
        if absent:
            raise LogSchemaError(f"KuaiRand log file(s) not found: {', '.join(absent)}")
        return paths
    if log is not None and log not in LOG_KINDS:
        raise LogSchemaError(f"unknown KuaiRand log {log!r}; use one of {', '.join(LOG_KINDS)}")
    if log is None:
        # the standard logs when there are any, else the random-exposure ones
        kinds: tuple[str, ...] = ("standard",) if any(folder.glob("log_standard_*.csv")) \
            else ("random",) if any(folder.glob("log_random_*.csv")) else ("standard", "random")
    else:
        kinds = ("standard", "random") if log == "all" else (log,)
    found = sorted(p for kind in kinds for p in folder.glob(f"log_{kind}_*.csv"))
    if not found:
        expected = " or ".join(f"log_{k}_*.csv" for k in kinds)
        present = ", ".join(sorted(p.name for p in folder.iterdir())[:12]) or "nothing"
        raise LogSchemaError(
            f"{folder}: no KuaiRand log files; expected {expected} (e.g. "
            f"log_{kinds[0]}_4_22_to_5_08_pure.csv), found: {present}"
        )
    official = [p for p in found if _OFFICIAL_NAME.match(p.name)]
    if official and len(official) < len(found):
        skipped = [p.name for p in found if p not in official]
        logger.warning(
            "%s: skipped %s (not an official date-range log name; pass files=[...] to read "
            "it)", folder, ", ".join(skipped),
        )
        return official
    return found


def _features(
    folder: Path, pattern: str, key: str, column: str
) -> tuple[pd.DataFrame | None, Origin | None]:
    """The first feature table matching `pattern` (its id `column` renamed to `key`) and
    where it came from."""
    matches = sorted(folder.glob(pattern))
    if not matches:
        logger.info("%s: no %s; loading without those features", folder, pattern)
        return None, None
    header = csv_header(matches[0])
    if column not in header:
        raise LogSchemaError(
            f"{matches[0]}: missing column {column!r}; it is not a KuaiRand table (it has: "
            f"{', '.join(header[:20])})"
        )
    table = read_delimited(matches[0], what="KuaiRand feature table (CSV)")
    origin = Origin(str(matches[0]), line_offset=2,
                    columns={key: column} if column != key else {})
    return table.rename(columns={column: key}), origin
