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


# ----------------------------------------------------------------- review regressions
KR_HEADER = (
    "user_id,video_id,date,hourmin,time_ms,is_click,is_like,is_follow,is_comment,is_forward,"
    "is_hate,long_view,play_time_ms,duration_ms,is_rand,tab\n"
)
KR_ROWS = (
    "7,70,20220422,1000,1650000000000,1,0,0,0,0,0,1,500,1000,1,1\n"
    "8,71,20220422,1000,1650000005000,0,0,0,0,0,0,0,100,1000,1,1\n"
)


def test_header_with_spaces_and_byte_order_mark(tmp_path):
    spaced = tmp_path / "spaced.csv"
    spaced.write_text("user_id, item_id, timestamp, click\n1, 10, 1700000000, 1\n")
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffuser_id,item_id,timestamp,click\n1,10,1700000000,1\n".encode())
    for path in (spaced, bom):
        log = load_csv(path, signals="click:binary")
        assert log.user_ids.tolist() == [1] and log.item_ids.tolist() == [10]
        assert log.interactions["timestamp"].tolist() == [1_700_000_000]
    mapped = load_csv(spaced, signals="hit:binary", columns={"hit": "click"})
    assert mapped.interactions["hit"].tolist() == [1.0]


def test_string_ids_keep_ids_as_written_in_log_and_features(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("uid,item_id,timestamp,click\n001,007,1700000000,1\n01,7,1700000060,0\n")
    users = tmp_path / "users.csv"
    users.write_text("uid,age\n01,20\n001,30\n")
    log = load_csv(path, signals="click:binary", columns={"user_id": "uid"}, string_ids=True,
                   users=users)
    assert log.user_ids.tolist() == ["001", "01"]
    assert log.item_ids.tolist() == ["007", "7"]
    assert log.users["age"].tolist() == [30, 20]


def test_parquet_feature_file_with_pq_suffix(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("uid,item_id,timestamp,click\n5,1,1700000000,1\n6,1,1700000060,0\n")
    pd.DataFrame({"uid": [6, 5], "age": [60, 50]}).to_parquet(tmp_path / "users.pq")
    log = load_csv(path, signals="click:binary", columns={"user_id": "uid"},
                   users=tmp_path / "users.pq")
    assert log.users["age"].tolist() == [50, 60]


def test_tsv_files_are_read_with_tabs(tmp_path):
    path = tmp_path / "log.tsv"
    path.write_text("user_id\titem_id\ttimestamp\tclick\n1\t10\t1700000000\t1\n2\t11\t1700000001\t0\n")
    log = load_log(path, signals="click:binary")
    assert log.user_ids.tolist() == [1, 2] and log.interactions["click"].tolist() == [1.0, 0.0]


def test_datetime_timestamps_from_parquet_and_iso_text(tmp_path):
    stamps = pd.to_datetime(["2024-01-01 00:00:00.500", "2024-01-01 00:10:00"],
                            format="ISO8601").astype("datetime64[us]")
    frame = pd.DataFrame({"user_id": [1, 1], "item_id": [2, 3], "timestamp": stamps,
                          "click": [1, 0]})
    frame.to_parquet(tmp_path / "log.parquet")
    log = load_parquet(tmp_path / "log.parquet", signals="click:binary")  # time_unit 's'
    assert log.interactions["timestamp"].tolist() == [1_704_067_200, 1_704_067_800]
    text = tmp_path / "log.csv"
    text.write_text(
        "user_id,item_id,timestamp,click\n"
        "1,2,2024-01-01T00:00:00,1\n"
        "1,3,2024-01-01T00:00:01.750,0\n"
        "1,4,2024-01-01T00:00:01.250Z,1\n"
        "1,5,2024-01-01 00:10:00+01:00,1\n"
    )
    log = load_csv(text, signals="click:binary", time_unit="datetime")
    assert log.interactions["timestamp"].tolist() == [1_704_064_200, 1_704_067_200,
                                                      1_704_067_201, 1_704_067_201]
    assert log.item_ids[log.interactions["item_id"]].tolist() == [5, 2, 4, 3]


def test_parquet_folder_applies_session_gap_and_rejects_other_options(tmp_path, small_log):
    folder = small_log.to_parquet(tmp_path / "log")
    regapped = load_parquet(folder, session_gap=60)
    assert regapped.session_gap == 60
    assert len(regapped.sessions) == len(small_log.with_session_gap(60).sessions)
    assert len(regapped.sessions) > len(small_log.sessions)
    assert load_log(folder, session_gap=60).session_gap == 60
    assert load_parquet(folder).session_gap == small_log.session_gap
    from offline_data import InputError

    for options in ({"signals": "click:binary"}, {"columns": {"user_id": "u"}},
                    {"time_unit": "ms"}, {"string_ids": True}):
        with pytest.raises(InputError, match=f"{next(iter(options))} cannot be applied"):
            load_parquet(folder, **options)


def test_kuairand_default_log_falls_back_to_random(tmp_path, caplog):
    from offline_data import LogSchemaError

    (tmp_path / "log_random_4_22_to_5_08_pure.csv").write_text(KR_HEADER + KR_ROWS)
    log = load_kuairand(tmp_path)
    assert log.n_interactions == 2 and log.interactions["is_rand"].tolist() == [1, 1]
    assert log.user_ids.tolist() == [7, 8] and log.item_ids.tolist() == [70, 71]
    (tmp_path / "log_standard_4_22_to_5_08_pure.csv").write_text(
        KR_HEADER + KR_ROWS.replace(",1,1\n", ",0,1\n")
    )
    assert load_kuairand(tmp_path).interactions["is_rand"].tolist() == [0, 0]
    assert load_kuairand(tmp_path, log="all").n_interactions == 4
    with pytest.raises(LogSchemaError, match="either log='random' or files"):
        load_kuairand(tmp_path, log="random", files=["log_random_4_22_to_5_08_pure.csv"])


def test_movielens_csv_errors_use_its_column_names(tmp_path):
    from offline_data import LogSchemaError

    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.5,964982703\n1,2.5,3,964982704\n"
    )
    with pytest.raises(LogSchemaError,
                       match=r"column 'movieId' must hold whole-number ids, but line 3 has "
                             r"movieId=2\.5$"):
        load_movielens(tmp_path)
