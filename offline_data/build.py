"""`build_log`: turn a raw frame with canonical column names into an `InteractionLog`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from offline_data.errors import LogSchemaError
from offline_data.log import InteractionLog
from offline_data.schema import (
    DEFAULT_SESSION_GAP_S,
    ITEM,
    SESSION,
    TIMESTAMP,
    USER,
    Signal,
    SignalsLike,
    parse_signals,
)
from offline_data.sessions import assign_sessions
from offline_data.validation import (
    Origin,
    check_ids,
    check_signal,
    check_timestamps,
    drop_duplicate_rows,
    logger,
    require_columns,
    require_rows,
)


def build_log(
    frame: pd.DataFrame,
    signals: SignalsLike,
    *,
    origin: Origin | str = "<frame>",
    users: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    session_gap: int = DEFAULT_SESSION_GAP_S,
    time_unit: str = "s",
    string_ids: bool = False,
    context: Sequence[str] = (),
    window: tuple[int, int] | None = None,
    user_universe: np.ndarray | None = None,
    item_universe: np.ndarray | None = None,
) -> InteractionLog:
    """Validate a raw log frame and return an `InteractionLog`.

    `frame` has columns `user_id`, `item_id`, `timestamp` (raw ids and times), one column
    per signal and the `context` columns to keep. Exact duplicate rows are dropped with a
    warning. Ids are remapped to contiguous ints (sorted raw order), rows are sorted by user
    then time (ties keep their order), and sessions are cut at gaps over `session_gap`
    seconds. `users` / `items` are feature tables whose column `user_id` / `item_id` holds
    raw ids; rows for ids not in the log are dropped, ids without features get NaN.
    `window` is the observation window in Unix seconds (default: first to last timestamp).
    `user_universe` / `item_universe` list raw ids that belong to the id space even when
    absent from the log (e.g. a simulator's full catalogue).
    """
    origin = origin if isinstance(origin, Origin) else Origin(str(origin))
    parsed = parse_signals(signals)
    if session_gap <= 0:
        raise LogSchemaError(f"session_gap must be a positive number of seconds, got {session_gap}")
    names = [s.name for s in parsed]
    require_columns(frame, [USER, ITEM, TIMESTAMP, *names, *context], origin)
    require_rows(frame, origin)
    frame = drop_duplicate_rows(frame, origin)

    user_raw, item_raw, seconds, signal_values = validate_part(
        frame, parsed, origin, time_unit=time_unit, string_ids=string_ids
    )

    user_codes, user_ids = _encode(user_raw, user_universe)
    item_codes, item_ids = _encode(item_raw, item_universe)
    # order by the raw time when it is finer than seconds, so sub-second order survives
    order_time = (
        seconds if time_unit == "datetime" else pd.to_numeric(frame[TIMESTAMP]).to_numpy()
    )
    order = np.lexsort((order_time, user_codes))

    user = user_codes[order].astype(np.int64)
    timestamp = seconds[order]
    columns: dict[str, np.ndarray] = {
        USER: user,
        ITEM: item_codes[order].astype(np.int64),
        TIMESTAMP: timestamp,
        SESSION: assign_sessions(user, timestamp, int(session_gap)),
    }
    columns.update({name: values[order] for name, values in signal_values.items()})
    for column in context:
        columns[column] = frame[column].to_numpy()[order]
    interactions = pd.DataFrame(columns)

    start, end = window if window is not None else (int(timestamp.min()), int(timestamp.max()))
    return InteractionLog(
        interactions=interactions,
        signals=parsed,
        user_ids=user_ids,
        item_ids=item_ids,
        users=_align_features(users, USER, user_ids, origin, string_ids),
        items=_align_features(items, ITEM, item_ids, origin, string_ids),
        session_gap=int(session_gap),
        start_time=int(start),
        end_time=int(end),
        source=origin.source,
    )


def _encode(raw: pd.Series, universe: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous codes for raw ids, over the sorted union of the ids and `universe`."""
    if universe is None:
        codes, uniques = pd.factorize(raw, sort=True)
        return codes, np.asarray(uniques)
    uniques = np.union1d(np.asarray(universe), raw.to_numpy())
    return np.searchsorted(uniques, raw.to_numpy()), uniques


def validate_part(
    frame: pd.DataFrame,
    signals: Sequence[Signal],
    origin: Origin,
    *,
    time_unit: str = "s",
    string_ids: bool = False,
) -> tuple[pd.Series, pd.Series, np.ndarray, dict[str, np.ndarray]]:
    """Check one raw frame (e.g. one file of a multi-file log) and return its clean parts:
    raw user ids, raw item ids, timestamps in seconds and float32 signals."""
    require_columns(frame, [USER, ITEM, TIMESTAMP, *(s.name for s in signals)], origin)
    require_rows(frame, origin)
    user_raw = check_ids(frame, USER, origin, string_ids)
    item_raw = check_ids(frame, ITEM, origin, string_ids)
    seconds = check_timestamps(frame, TIMESTAMP, origin, time_unit)
    signal_values = {s.name: check_signal(frame, s, origin) for s in signals}
    return user_raw, item_raw, seconds, signal_values


def _align_features(
    table: pd.DataFrame | None,
    key: str,
    raw_ids: np.ndarray,
    origin: Origin,
    string_ids: bool,
) -> pd.DataFrame | None:
    """Reindex a feature table by the log's new ids (NaN rows for ids without features)."""
    if table is None:
        return None
    table_origin = Origin(f"{origin.source} ({key.split('_')[0]} features)")
    require_columns(table, [key], table_origin)
    ids = check_ids(table, key, table_origin, string_ids)
    duplicated = ids.duplicated().to_numpy()
    if duplicated.any():
        i = int(np.flatnonzero(duplicated)[0])
        raise LogSchemaError(
            f"{table_origin.source}: column {key!r} repeats id {ids.iloc[i]!r}; each id may "
            "have one row of features"
        )
    features = table.drop(columns=[key]).set_axis(ids.to_numpy(), axis=0)
    aligned = features.reindex(raw_ids)
    missing = int((~pd.Index(raw_ids).isin(features.index)).sum())
    if missing:
        logger.warning(
            "%s: %d of %d ids in the log have no features (filled with NaN)",
            table_origin.source, missing, len(raw_ids),
        )
    aligned.index = pd.RangeIndex(len(raw_ids), name=key)
    return aligned

