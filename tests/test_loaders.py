"""Loaders on the real samples in ../shared/data and on small files in each layout."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from offline_data import load_csv, load_kuairand, load_log, load_movielens, load_parquet
from offline_data.kuairand import WATCH_RATIO_CAP

KUAIRAND_ROWS = 94_784 + 133_545
KUAIRAND_DUPLICATES = 5_460


@pytest.fixture(scope="module")
def kuairand(kuairand_dir):
    return load_kuairand(kuairand_dir)


def test_kuairand_counts_match_the_files(kuairand, kuairand_dir, caplog):
    assert kuairand.n_interactions == KUAIRAND_ROWS - KUAIRAND_DUPLICATES == 222_869
    raw = pd.concat([pd.read_csv(p) for p in sorted(kuairand_dir.glob("log_standard_*_to_*.csv"))])
    assert kuairand.n_users == raw["user_id"].nunique()
    assert kuairand.n_items == raw["video_id"].nunique()
    deduped = raw.drop_duplicates()
    assert kuairand.interactions["is_click"].sum() == deduped["is_click"].sum()
    assert kuairand.interactions["long_view"].sum() == deduped["long_view"].sum()


def test_kuairand_warns_about_duplicates_and_skipped_files(kuairand_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="offline_data"):
        load_kuairand(kuairand_dir, features=False)
    text = caplog.text
    assert f"dropped {KUAIRAND_DUPLICATES} exact duplicate" in text
    if (kuairand_dir / "log_standard_smoke2000_pure.csv").exists():
        assert "skipped log_standard_smoke2000_pure.csv" in text


def test_kuairand_signals_sessions_and_features(kuairand):
    names = kuairand.signal_names
    for name in ("is_click", "is_like", "is_follow", "is_comment", "long_view", "watch_ratio"):
        assert name in names
    assert kuairand.signal("watch_ratio").kind == "continuous"
    wr = kuairand.interactions["watch_ratio"]
    assert wr.min() >= 0 and wr.max() <= WATCH_RATIO_CAP
    assert 0.3 < wr.mean() < 0.4
    assert kuairand.interactions["is_rand"].eq(0).all()
    sessions = kuairand.sessions
    assert sessions["length"].sum() == kuairand.n_interactions
    assert sessions["censored"].sum() == kuairand.interactions["user_id"].nunique()
    observed = sessions.loc[~sessions["censored"], "return_gap"]
    assert (observed > kuairand.session_gap).all()
    assert kuairand.users is not None and len(kuairand.users) == kuairand.n_users
    assert "user_active_degree" in kuairand.users.columns
    assert kuairand.items is not None and "video_type" in kuairand.items.columns
    # the feature rows follow the id map
    raw_user = kuairand.user_ids[5]
    assert kuairand.users.index[5] == 5 and raw_user >= 0


def test_kuairand_watch_ratio_is_play_over_duration(kuairand_dir):
    raw = pd.read_csv(kuairand_dir / "log_standard_4_25_to_4_30_pure.csv").drop_duplicates()
    log = load_kuairand(kuairand_dir, files=["log_standard_4_25_to_4_30_pure.csv"])
    assert log.n_interactions == len(raw)
    row = raw[raw["duration_ms"] > 0].iloc[0]
    f = log.interactions
    match = f[
        (log.user_ids[f["user_id"]] == row["user_id"])
        & (log.item_ids[f["item_id"]] == row["video_id"])
        & (f["timestamp"] == row["time_ms"] // 1000)
    ]
    expected = min(row["play_time_ms"] / row["duration_ms"], WATCH_RATIO_CAP)
    assert match["watch_ratio"].iloc[0] == pytest.approx(expected, rel=1e-5)


def test_kuairand_smoke_file(kuairand_smoke):
    folder, name = kuairand_smoke
    log = load_kuairand(folder, files=[name])
    assert log.n_interactions <= 2000
    assert log.interactions["user_id"].nunique() == 168


def test_kuairand_random_log_missing_names_expected_files(kuairand_dir):
    from offline_data import LogSchemaError

    with pytest.raises(LogSchemaError, match=r"log_random_\*\.csv"):
        load_kuairand(kuairand_dir, log="random")


def test_movielens_100k(movielens_dir):
    log = load_movielens(movielens_dir)
    assert log.n_interactions == 100_000
    assert (log.n_users, log.n_items) == (943, 1682)
    rating = log.interactions["rating"]
    assert rating.min() == 1 and rating.max() == 5
    assert np.array_equal(log.interactions["liked"], (rating >= 4).astype(np.float32))
    assert log.interactions["liked"].sum() == 34_174 + 21_201
    assert log.items.loc[0, "title"] == "Toy Story (1995)" and log.items.loc[0, "year"] == 1995
    assert log.users.loc[0, "occupation"] == "technician"
    assert len(log.sessions) > 943 and log.sessions["length"].sum() == 100_000


def test_movielens_1m_and_csv_layouts(tmp_path):
    ml1m = tmp_path / "ml-1m"
    ml1m.mkdir()
    (ml1m / "ratings.dat").write_text(
        "1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n"
    )
    (ml1m / "movies.dat").write_bytes("10::Caf\xe9 (1995)::Comedy|Drama\n20::B (1990)::Action\n"
                                      .encode("latin-1"))
    (ml1m / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    log = load_movielens(ml1m)
    assert log.n_interactions == 3 and log.signal_names == ["rating", "liked"]
    assert log.items.loc[0, "title"] == "Café (1995)" and log.items.loc[0, "Drama"] == 1
    assert log.users.loc[1, "age"] == 56

    latest = tmp_path / "ml-latest"
    latest.mkdir()
    (latest / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.5,964982703\n")
    (latest / "movies.csv").write_text(
        "movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n"
    )
    log = load_log(latest)
    assert log.interactions["liked"].tolist() == [1.0]


def test_load_csv_with_mapping_features_and_strings(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        "uid,iid,when,clicked,dwell\n"
        "a,x,2024-01-01T00:00:00,1,3.5\n"
        "a,y,2024-01-01T00:05:00,0,0\n"
        "b,x,2024-01-02T10:00:00,1,1.0\n"
    )
    users = pd.DataFrame({"uid": ["a", "b"], "age": [30, 40]})
    log = load_csv(
        path,
        columns={"user_id": "uid", "item_id": "iid", "timestamp": "when", "click": "clicked"},
        signals={"click": "binary", "dwell": "continuous"},
        time_unit="datetime",
        string_ids=True,
        users=users,
    )
    assert log.user_ids.tolist() == ["a", "b"]
    assert log.interactions["timestamp"].iloc[1] - log.interactions["timestamp"].iloc[0] == 300
    assert log.users["age"].tolist() == [30, 40]
    assert len(log.sessions) == 2


def test_load_parquet_file_and_folder(tmp_path, small_log):
    frame = small_log.interactions.rename(columns={"user_id": "u"})
    frame.to_parquet(tmp_path / "log.parquet")
    log = load_parquet(tmp_path / "log.parquet", columns={"user_id": "u"},
                       signals=["click:binary", "like:binary", "watch_ratio:continuous"])
    assert log.n_interactions == small_log.n_interactions
    small_log.to_parquet(tmp_path / "folder")
    assert load_parquet(tmp_path / "folder").n_interactions == small_log.n_interactions
    assert load_log(tmp_path / "folder").n_interactions == small_log.n_interactions
