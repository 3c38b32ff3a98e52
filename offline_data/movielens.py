"""Loader for MovieLens folders: ML-100K (`u.data`), ML-1M / 10M (`ratings.dat`) and the
CSV releases (`ratings.csv`: ml-latest, 20M, 25M, 32M).

Signals: `rating` (continuous, the star rating) and `liked` (binary, rating >= 4).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from offline_data.build import build_log
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
from offline_data.validation import Origin, check_signal, require_dir

LIKED_THRESHOLD = 4.0
SIGNALS = (Signal("rating", "continuous"), Signal("liked", "binary"))
GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)
CSV_COLUMNS = {USER: "userId", ITEM: "movieId", "rating": "rating", TIMESTAMP: "timestamp"}
"""Canonical column -> its name in the CSV releases' ratings.csv."""
LAYOUTS = {
    "100k": ("u.data", "u.item", "u.user"),
    "1m": ("ratings.dat", "movies.dat", "users.dat"),
    "csv": ("ratings.csv", "movies.csv", None),
}


def load_movielens(
    path: str | Path, *, session_gap: int = DEFAULT_SESSION_GAP_S, features: bool = True
) -> InteractionLog:
    """Load a MovieLens folder (layout detected from its rating file)."""
    folder = require_dir(path, "MovieLens folder")
    session_gap = check_session_gap(session_gap)
    layout = next((name for name, files in LAYOUTS.items() if (folder / files[0]).is_file()), None)
    if layout is None:
        expected = ", ".join(files[0] for files in LAYOUTS.values())
        present = ", ".join(sorted(p.name for p in folder.iterdir())[:12]) or "nothing"
        raise LogSchemaError(
            f"{folder}: no MovieLens rating file; expected one of {expected} "
            f"(ML-100K, ML-1M/10M, CSV releases), found: {present}"
        )
    ratings_name, items_name, users_name = LAYOUTS[layout]
    ratings_path = folder / ratings_name
    if layout == "100k":
        frame = read_delimited(ratings_path, what="MovieLens ratings file", sep="\t",
                               header=False, names=[USER, ITEM, "rating", TIMESTAMP])
    elif layout == "1m":
        frame = read_delimited(ratings_path, what="MovieLens ratings file", sep="::",
                               header=False, names=[USER, ITEM, "rating", TIMESTAMP])
    else:
        header = csv_header(ratings_path)
        missing = [c for c in CSV_COLUMNS.values() if c not in header]
        if missing:
            raise LogSchemaError(
                f"{ratings_path}: missing MovieLens column(s) {', '.join(map(repr, missing))}; "
                f"the file has: {', '.join(header[:25])}"
            )
        frame = read_delimited(ratings_path, what="MovieLens ratings file",
                               usecols=list(CSV_COLUMNS.values()))
        frame = frame.rename(columns={v: k for k, v in CSV_COLUMNS.items()})
    columns = {k: v for k, v in CSV_COLUMNS.items() if k != v} if layout == "csv" else {}
    origin = Origin(str(ratings_path), line_offset=2 if layout == "csv" else 1, columns=columns)
    rating = check_signal(frame, SIGNALS[0], origin)
    frame["liked"] = (rating >= LIKED_THRESHOLD).astype(np.float32)

    users = items = users_origin = items_origin = None
    if features:
        items, items_origin = _items(folder / items_name, layout)
        if users_name:
            users, users_origin = _users(folder / users_name, layout)
    return build_log(frame, SIGNALS, origin=origin, users=users, items=items,
                     users_origin=users_origin, items_origin=items_origin,
                     session_gap=session_gap)


def _items(path: Path, layout: str) -> tuple[pd.DataFrame | None, Origin | None]:
    if not path.is_file():
        return None, None
    if layout == "csv":
        origin = Origin(str(path), line_offset=2, columns={ITEM: "movieId"})
    else:
        origin = Origin(str(path), line_offset=1)
    return _item_table(path, layout), origin


def _item_table(path: Path, layout: str) -> pd.DataFrame:
    if layout == "100k":
        names = [ITEM, "title", "release_date", "video_release_date", "imdb_url", *GENRES_100K]
        table = read_delimited(path, what="MovieLens item file", sep="|", header=False,
                               names=names, encoding="latin-1")
        table = table.drop(columns=["video_release_date", "imdb_url"])
        table["year"] = pd.to_datetime(table["release_date"], format="%d-%b-%Y",
                                       errors="coerce").dt.year
        return table.drop(columns=["release_date"])
    if layout == "1m":
        table = read_delimited(path, what="MovieLens movie file", sep="::", header=False,
                               names=[ITEM, "title", "genres"], encoding="latin-1")
    else:
        header = csv_header(path)
        missing = [c for c in ("movieId", "title", "genres") if c not in header]
        if missing:
            raise LogSchemaError(
                f"{path}: missing MovieLens column(s) {', '.join(map(repr, missing))}; the "
                f"file has: {', '.join(header[:25])}"
            )
        table = read_delimited(path, what="MovieLens movie file").rename(columns={"movieId": ITEM})
    genres = table["genres"].astype(str).str.get_dummies(sep="|")
    year = table["title"].astype(str).str.extract(r"\((\d{4})\)\s*$")[0].astype(float)
    return pd.concat([table[[ITEM, "title"]], genres, year.rename("year")], axis=1)


def _users(path: Path, layout: str) -> tuple[pd.DataFrame | None, Origin | None]:
    if not path.is_file():
        return None, None
    origin = Origin(str(path), line_offset=1)
    if layout == "100k":
        return read_delimited(path, what="MovieLens user file", sep="|", header=False,
                              names=[USER, "age", "gender", "occupation", "zip_code"]), origin
    return read_delimited(path, what="MovieLens user file", sep="::", header=False,
                          names=[USER, "gender", "age", "occupation", "zip_code"]), origin
