"""`build_log`: turn a raw frame with canonical column names into an `InteractionLog`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from offline_data.log import InteractionLog
from offline_data.schema import (
    DEFAULT_SESSION_GAP_S,
    ITEM,
    SESSION,
    TIMESTAMP,
    USER,
    Signal,
    SignalsLike,
    check_session_gap,
    parse_signals,
)
from offline_data.sessions import assign_sessions
from offline_data.shared.errors import LogSchemaError
from offline_data.validation import (
    Origin,
    check_ids,
    check_signal,
    drop_duplicate_rows,
    logger,
    parse_timestamps,
    require_columns,
    require_rows,
    show,
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
    users_origin: Origin | None = None,
    items_origin: Origin | None = None,
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
    absent from the log (e.g. a simulator's full catalogue). `users_origin` /
    `items_origin` say where the feature tables came from (file, line numbers, the file's
    name for the id column), for error messages.
    """
    origin = origin if isinstance(origin, Origin) else Origin(
        str(origin), id_hint="pass string_ids=True if your ids are text"
    )
    parsed = parse_signals(signals)
    session_gap = check_session_gap(session_gap)
    names = [s.name for s in parsed]
    require_columns(frame, [USER, ITEM, TIMESTAMP, *names, *context], origin)
    require_rows(frame, origin)
    frame = drop_duplicate_rows(frame, origin)

    user_raw, item_raw, seconds, order_time, signal_values = validate_block(
        frame, parsed, origin, time_unit=time_unit, string_ids=string_ids
    )

    user_codes, user_ids = _encode(user_raw, user_universe)
    item_codes, item_ids = _encode(item_raw, item_universe)
    # order by the raw time when it is finer than seconds, so sub-second order survives
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
        users=_align_features(users, USER, user_ids, users_origin or _feature_origin(origin, USER),
                              string_ids),
        items=_align_features(items, ITEM, item_ids, items_origin or _feature_origin(origin, ITEM),
                              string_ids),
        session_gap=int(session_gap),
        start_time=int(start),
        end_time=int(end),
        source=origin.source,
    )


def _encode(raw: pd.Series, universe: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous codes for raw ids, over the sorted union of the ids and `universe`."""
    if universe is None:
        codes, seen = pd.factorize(raw, sort=True)
        return codes, np.asarray(seen)
    every = np.union1d(np.asarray(universe), raw.to_numpy())
    return np.searchsorted(every, raw.to_numpy()), every


def validate_block(
    frame: pd.DataFrame,
    signals: Sequence[Signal],
    origin: Origin,
    *,
    time_unit: str = "s",
    string_ids: bool = False,
) -> tuple[pd.Series, pd.Series, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Check one raw frame (one file of a multi-file log, or one block of a large file)
    with the rules and messages of the in-memory loaders, and return its clean parts: raw
    user ids, raw item ids, timestamps in seconds, the fine-grained time order key (raw
    numbers, or nanoseconds for datetimes) and float32 signals."""
    require_columns(frame, [USER, ITEM, TIMESTAMP, *(s.name for s in signals)], origin)
    require_rows(frame, origin)
    user_raw = check_ids(frame, USER, origin, string_ids)
    item_raw = check_ids(frame, ITEM, origin, string_ids)
    seconds, order = parse_timestamps(frame, TIMESTAMP, origin, time_unit)
    signal_values = {s.name: check_signal(frame, s, origin) for s in signals}
    return user_raw, item_raw, seconds, order, signal_values


def _feature_origin(origin: Origin, key: str) -> Origin:
    """Where a feature table given as a frame came from: its rows, named after the log."""
    return Origin(f"{origin.source} ({key.split('_')[0]} features)",
                  columns={key: origin.name(key)}, id_hint=origin.id_hint)


def _align_features(
    table: pd.DataFrame | None,
    key: str,
    raw_ids: np.ndarray,
    table_origin: Origin,
    string_ids: bool,
) -> pd.DataFrame | None:
    """Reindex a feature table by the log's new ids (NaN rows for ids without features)."""
    if table is None:
        return None
    require_columns(table, [key], table_origin)
    ids = check_ids(table, key, table_origin, string_ids)
    duplicated = ids.duplicated().to_numpy()
    if duplicated.any():
        i = int(np.flatnonzero(duplicated)[0])
        first = int(np.flatnonzero((ids == ids.iloc[i]).to_numpy())[0])
        name = table_origin.name(key)
        raise LogSchemaError(
            f"{table_origin.source}: column {name!r} repeats id {show(ids.iloc[i])} "
            f"({table_origin.row(table, first)} and {table_origin.row(table, i)}); each id "
            "may have one row of features"
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

