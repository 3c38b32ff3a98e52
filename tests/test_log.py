"""InteractionLog: id remapping, ordering, sessions, return gaps, splits, Parquet."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offline_data import InteractionLog, LogSchemaError, Signal, build_log
from offline_data.sessions import assign_sessions
from offline_data.shared.errors import InputError

SIGNALS = {"click": "binary", "dwell": "continuous"}


def frame(rows):
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "click", "dwell"])


def test_ids_are_remapped_and_rows_sorted_by_user_then_time():
    raw = frame([
        (30, 500, 1_000, 1, 2.0),
        (10, 700, 2_000, 0, 0.0),
        (30, 600, 500, 0, 1.5),
        (10, 500, 1_500, 1, 3.0),
    ])
    log = build_log(raw, SIGNALS)
    f = log.interactions
    assert list(log.user_ids) == [10, 30]
    assert list(log.item_ids) == [500, 600, 700]
    assert f["user_id"].tolist() == [0, 0, 1, 1]
    assert f["timestamp"].tolist() == [1_500, 2_000, 500, 1_000]
    assert f["item_id"].tolist() == [0, 2, 1, 0]
    assert f["click"].dtype == np.float32 and f["user_id"].dtype == np.int64
    assert log.signals == (Signal("click", "binary"), Signal("dwell", "continuous"))


def test_sessions_split_on_gaps_and_return_gaps_are_censored_at_the_end():
    hour = 3600
    raw = frame([
        (1, 1, 0, 1, 1.0),
        (1, 2, 600, 0, 0.0),            # same session (10 min)
        (1, 3, 600 + 2 * hour, 1, 1.0),  # new session after 2 h
        (2, 1, 100, 1, 1.0),
    ])
    log = build_log(raw, SIGNALS, window=(0, 10 * hour))
    s = log.sessions
    assert s["session_id"].tolist() == [0, 1, 2]
    assert s["user_id"].tolist() == [0, 0, 1]
    assert s["length"].tolist() == [2, 1, 1]
    assert s["session_index"].tolist() == [0, 1, 0]
    assert s["return_gap"].iloc[0] == 2 * hour
    assert s["censored"].tolist() == [False, True, True]
    assert np.isnan(s["return_gap"].iloc[1])
    # the censored gap is the time from the session's end to the end of the window
    assert s["observed_gap"].iloc[1] == 10 * hour - (600 + 2 * hour)
    assert log.interactions["session_id"].tolist() == [0, 0, 1, 2]


def test_session_gap_is_configurable():
    raw = frame([(1, 1, 0, 1, 1.0), (1, 2, 1200, 1, 1.0)])
    assert len(build_log(raw, SIGNALS).sessions) == 1
    assert len(build_log(raw, SIGNALS, session_gap=600).sessions) == 2
    assert len(build_log(raw, SIGNALS).with_session_gap(600).sessions) == 2


def test_subsecond_order_survives_time_unit_conversion():
    raw = frame([(1, 2, 1_000_900, 1, 1.0), (1, 1, 1_000_100, 1, 1.0)])
    log = build_log(raw, SIGNALS, time_unit="ms")
    assert log.interactions["timestamp"].tolist() == [1000, 1000]
    assert log.item_ids[log.interactions["item_id"]].tolist() == [1, 2]


def test_universes_extend_the_id_space():
    raw = frame([(1, 1, 0, 1, 1.0)])
    log = build_log(raw, SIGNALS, item_universe=np.arange(5))
    assert log.n_items == 5 and log.item_ids[log.interactions["item_id"][0]] == 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 20_000)), min_size=1, max_size=60))
def test_sessions_are_contiguous_and_respect_the_gap(pairs):
    pairs.sort()
    user = np.array([p[0] for p in pairs])
    ts = np.array([p[1] for p in pairs])
    session = assign_sessions(user, ts, 1800)
    assert session[0] == 0 and np.all(np.diff(session) >= 0) and np.all(np.diff(session) <= 1)
    same = (np.diff(session) == 0)
    assert np.all(user[1:][same] == user[:-1][same])
    assert np.all(np.diff(ts)[same] <= 1800)
    assert np.all((np.diff(ts)[~same] > 1800) | (user[1:][~same] != user[:-1][~same]))


def test_split_by_time_keeps_sessions_whole_and_censors_train_at_the_cutoff(small_log):
    train, test = small_log.split_by_time(test_days=1)
    cutoff = small_log.end_time - 86_400
    assert train.n_interactions + test.n_interactions == small_log.n_interactions
    assert train.end_time == cutoff and test.start_time == cutoff
    assert (train.sessions["start"] < cutoff).all()
    assert (test.sessions["start"] >= cutoff).all()
    assert len(train.sessions) + len(test.sessions) == len(small_log.sessions)
    assert train.n_items == small_log.n_items and train.n_users == small_log.n_users
    last = train.sessions[train.sessions["censored"]]
    # sessions that started before the cutoff but ran past it were observed for 0 s more
    assert np.allclose(last["observed_gap"], np.maximum(cutoff - last["end"], 0))


def test_split_by_user_is_disjoint_and_seeded(small_log):
    train, test = small_log.split_by_user(test_fraction=0.25, seed=3)
    train_users = set(train.interactions["user_id"])
    test_users = set(test.interactions["user_id"])
    assert not train_users & test_users
    assert len(test_users) == 50
    again = small_log.split_by_user(test_fraction=0.25, seed=3)[1]
    assert set(again.interactions["user_id"]) == test_users


def test_bad_split_arguments_raise(small_log):
    with pytest.raises(InputError, match="exactly one"):
        small_log.split_by_time()
    with pytest.raises(InputError, match="empty"):
        small_log.split_by_time(test_days=100)
    with pytest.raises(InputError, match="test_fraction"):
        small_log.split_by_user(test_fraction=1.5)


def test_parquet_round_trip(tmp_path, small_log):
    out = small_log.to_parquet(tmp_path / "log")
    back = InteractionLog.from_parquet(out)
    pd.testing.assert_frame_equal(back.interactions, small_log.interactions)
    pd.testing.assert_frame_equal(back.users, small_log.users)
    pd.testing.assert_frame_equal(back.items, small_log.items)
    assert back.signals == small_log.signals
    assert (back.start_time, back.end_time) == (small_log.start_time, small_log.end_time)
    np.testing.assert_array_equal(back.user_ids, small_log.user_ids)
    pd.testing.assert_frame_equal(back.sessions, small_log.sessions)


def test_parquet_never_overwrites_without_asking(tmp_path, small_log):
    target = tmp_path / "log"
    small_log.to_parquet(target)
    before = (target / "interactions.parquet").read_bytes()
    with pytest.raises(InputError, match="already exists"):
        small_log.to_parquet(target)
    assert (target / "interactions.parquet").read_bytes() == before
    small_log.to_parquet(target, overwrite=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_corrupt_parquet_folder_gives_clear_errors(tmp_path, small_log):
    target = small_log.to_parquet(tmp_path / "log")
    (target / "interactions.parquet").write_bytes(b"not parquet")
    with pytest.raises(LogSchemaError, match=r"interactions\.parquet"):
        InteractionLog.from_parquet(target)
    (target / "meta.json").write_text("{")
    with pytest.raises(LogSchemaError, match=r"meta\.json"):
        InteractionLog.from_parquet(target)
    (target / "meta.json").unlink()
    with pytest.raises(LogSchemaError, match=r"no meta\.json"):
        InteractionLog.from_parquet(target)


def test_unknown_signal_name_lists_the_known_ones(small_log):
    with pytest.raises(InputError, match=r"no signal 'clik'.*click"):
        small_log.signal("clik")


# ----------------------------------------------------------------- review regressions
def test_overwrite_replaces_only_folders_recgym_wrote(tmp_path, small_log):
    from offline_data import atomic_directory

    foreign = tmp_path / "runs"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match=r"has no meta\.json.*will not replace"):
        small_log.to_parquet(foreign, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # no temporary left over
    # an empty folder is fine, and a folder recgym wrote is replaced
    empty = tmp_path / "empty"
    empty.mkdir()
    assert InteractionLog.from_parquet(small_log.to_parquet(empty)).n_interactions == len(small_log)
    small_log.to_parquet(empty, overwrite=True)
    assert (empty / "meta.json").is_file()
    # with no marker, the safe default refuses every non-empty folder
    with pytest.raises(InputError, match="will not replace"), \
            atomic_directory(foreign, overwrite=True):
        pass
    with atomic_directory(tmp_path / "fresh", overwrite=True) as tmp:
        (tmp / "a.txt").write_text("x")
    assert (tmp_path / "fresh" / "a.txt").read_text() == "x"
    with atomic_directory(tmp_path / "marked", marker="simulator.json") as tmp:
        (tmp / "simulator.json").write_text("{}")
    with atomic_directory(tmp_path / "marked", overwrite=True, marker="simulator.json") as tmp:
        (tmp / "simulator.json").write_text("{\"v\": 2}")
    assert (tmp_path / "marked" / "simulator.json").read_text() == "{\"v\": 2}"


@pytest.mark.parametrize("gap", [0.5, float("nan"), float("inf"), 0, -60, True, "60"])
def test_session_gap_must_be_whole_seconds_of_at_least_one(gap):
    raw = frame([(1, 1, 0, 1, 1.0), (1, 2, 1200, 1, 1.0)])
    with pytest.raises(InputError, match="session_gap must be a whole number of seconds >= 1"):
        build_log(raw, SIGNALS, session_gap=gap)
    with pytest.raises(InputError, match="session_gap must be a whole number"):
        build_log(raw, SIGNALS).with_session_gap(gap)


def test_session_gap_accepts_whole_floats_as_ints():
    raw = frame([(1, 1, 0, 1, 1.0), (1, 2, 1200, 1, 1.0)])
    log = build_log(raw, SIGNALS, session_gap=600.0)
    assert log.session_gap == 600 and isinstance(log.session_gap, int)
    assert len(log.sessions) == 2
    assert log.with_session_gap(np.int64(1200)).session_gap == 1200


def test_split_by_time_rejects_non_finite_arguments(small_log):
    for days in (float("nan"), float("inf"), np.float64("nan")):
        with pytest.raises(InputError, match="test_days must be a positive finite"):
            small_log.split_by_time(test_days=days)
    with pytest.raises(InputError, match=r"cutoff must be a finite Unix time.*got nan$"):
        small_log.split_by_time(cutoff=np.float64("nan"))


@pytest.mark.parametrize(
    ("fraction", "n_test"),
    # ceil, never banker's rounding: 2.5 -> 3 and 3.5 -> 4 alike; float noise is ignored
    [(0.25, 3), (0.35, 4), (0.15, 2), (0.7, 7), (0.3, 3), (0.01, 1)],
)
def test_split_by_user_gives_the_test_part_the_ceiling(fraction, n_test):
    raw = frame([(u, 1, 100 * u, 1, 1.0) for u in range(10)])
    train, test = build_log(raw, SIGNALS).split_by_user(test_fraction=fraction, seed=1)
    assert test.interactions["user_id"].nunique() == n_test
    assert train.interactions["user_id"].nunique() == 10 - n_test


def test_parse_signals_reads_text_as_declarations_not_characters():
    from offline_data.schema import parse_signals

    assert parse_signals("click:binary") == (Signal("click", "binary"),)
    assert parse_signals("click:binary, dwell:continuous") == (
        Signal("click", "binary"), Signal("dwell", "continuous"),
    )
    assert parse_signals(Signal("like", "binary")) == (Signal("like", "binary"),)
    with pytest.raises(InputError, match="'click' has no kind"):
        parse_signals("click")


def test_datetime_columns_convert_whatever_the_time_unit():
    raw = pd.DataFrame({
        "user_id": [1, 1, 1],
        "item_id": [3, 2, 1],
        "timestamp": pd.to_datetime(
            ["2024-01-01 00:00:01.750", "2024-01-01 00:00:01.250", "2024-01-01 00:00:00"],
            format="ISO8601",
        ).astype("datetime64[us]"),
        "click": [1, 0, 1],
        "dwell": [1.0, 2.0, 3.0],
    })
    for unit in ("s", "ms", "datetime"):
        log = build_log(raw, SIGNALS, time_unit=unit)
        assert log.interactions["timestamp"].tolist() == [1_704_067_200, 1_704_067_201,
                                                          1_704_067_201]
        # sub-second order survives: item 2 (.250) comes before item 3 (.750)
        assert log.item_ids[log.interactions["item_id"]].tolist() == [1, 2, 3]
    aware = raw.assign(timestamp=raw["timestamp"].dt.tz_localize("Europe/Berlin"))
    assert build_log(aware, SIGNALS).interactions["timestamp"].iloc[0] == 1_704_067_200 - 3600
    with pytest.raises(LogSchemaError, match=r"holds numbers, not dates .*time_unit='s'"):
        build_log(raw.assign(timestamp=[1, 2, 3]), SIGNALS, time_unit="datetime")
    old = raw.assign(timestamp=["1500-01-01", "2024-01-01", "2024-01-01"])
    with pytest.raises(LogSchemaError, match=r"before 1970, e\.g\. row 0 has "
                                             r"timestamp='1500-01-01'"):
        build_log(old, SIGNALS, time_unit="datetime")


def test_huge_ids_and_times_never_wrap_around():
    raw = frame([(1, 1, 1_700_000_000, 1, 1.0)])
    big_user = raw.assign(user_id=np.array([2**63], dtype=np.uint64))
    with pytest.raises(LogSchemaError,
                       match=r"'user_id' must hold finite whole-number ids with \|id\| < 2\*\*63, "
                             r"but row 0 has user_id=9223372036854775808$"):
        build_log(big_user, SIGNALS)
    ok = raw.assign(user_id=np.array([2**63 - 1], dtype=np.uint64))
    assert build_log(ok, SIGNALS).user_ids.tolist() == [2**63 - 1]
    for bad, shown in ((np.inf, "inf"), (1e30, "1e+30"), (9.3e18, "9.3e+18")):
        with pytest.raises(LogSchemaError, match=rf"row 0 has timestamp={re.escape(shown)}\b"):
            build_log(raw.assign(timestamp=[bad]), SIGNALS)
    with pytest.raises(LogSchemaError, match=r"row 0 has user_id=-inf"):
        build_log(raw.assign(user_id=[-np.inf]), SIGNALS)
    with pytest.raises(LogSchemaError, match=r"row 0 has item_id=1e\+19"):
        build_log(raw.assign(item_id=[1e19]), SIGNALS)


def test_replace_output_dir_starts_afresh_only_in_its_own_folders(tmp_path):
    from offline_data.shared.atomic import replace_output_dir

    out = replace_output_dir(tmp_path / "job", "job.json", {"complete": False})
    (out / "result.txt").write_text("old")
    again = replace_output_dir(out, "job.json", {"complete": False})
    assert sorted(p.name for p in again.iterdir()) == ["job.json"]
    assert json.loads((again / "job.json").read_text()) == {"complete": False}
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(InputError, match=r"has no job\.json"):
        replace_output_dir(foreign, "job.json", {})
    assert (foreign / "notes.txt").read_text() == "keep"
