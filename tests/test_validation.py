"""Every bad-input case: a LogSchemaError naming the file, column and row from the API,
and one line on stderr with exit status 2 from the command line (never a traceback)."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offline_data import (
    InputError,
    LogSchemaError,
    load_csv,
    load_kuairand,
    load_log,
    load_movielens,
    load_parquet,
)
from recgym.cli import main

HEADER = "user_id,item_id,timestamp,click\n"
KUAIRAND_HEADER = (
    "user_id,video_id,date,hourmin,time_ms,is_click,is_like,is_follow,is_comment,is_forward,"
    "is_hate,long_view,play_time_ms,duration_ms,is_rand,tab\n"
)
KUAIRAND_ROW = "7,70,20220422,1000,1650000000000,1,0,0,0,0,0,1,500,1000,1,1\n"
GOOD = "1,10,1700000000,1\n"
SIGNALS = {"click": "binary"}


@dataclass
class Case:
    name: str
    files: dict[str, str]
    target: str
    api: object  # callable(path) -> InteractionLog
    cli: list[str]
    fragments: tuple[str, ...]


def csv(path):
    return load_csv(path, signals=SIGNALS)


CASES = [
    Case("missing file", {}, "none.csv", csv, ["--signals", "click:binary"],
         ("not found", "none.csv", "check the path")),
    Case("missing folder", {}, "nodir", load_kuairand, ["-f", "kuairand"],
         ("KuaiRand folder not found", "nodir")),
    Case("kuairand folder without logs", {"kr/readme.txt": "x"}, "kr", load_kuairand,
         ["-f", "kuairand"], ("no KuaiRand log files", "log_standard_*.csv", "readme.txt")),
    Case("movielens folder without ratings", {"ml/u.item": "x"}, "ml", load_movielens,
         ["-f", "movielens"], ("no MovieLens rating file", "u.data", "ratings.dat")),
    Case("kuairand log missing columns", {"kr/log_standard_4_08_to_4_21_pure.csv": HEADER + GOOD},
         "kr", load_kuairand, ["-f", "kuairand"],
         ("log_standard_4_08_to_4_21_pure.csv", "missing KuaiRand column", "'video_id'")),
    Case("missing required column", {"a.csv": "user_id,item_id,click\n1,2,1\n"}, "a.csv", csv,
         ["--signals", "click:binary"], ("a.csv", "column 'timestamp' is required")),
    Case("mapping names absent column", {"a.csv": HEADER + GOOD}, "a.csv",
         lambda p: load_csv(p, columns={"user_id": "uid"}, signals=SIGNALS),
         ["--signals", "click:binary", "--columns", "user_id=uid"],
         ("a.csv", "mapping names column 'uid' for 'user_id'", "it has: user_id")),
    Case("non-numeric ids", {"a.csv": HEADER + GOOD + "abc,10,1700000001,1\n"}, "a.csv", csv,
         ["--signals", "click:binary"],
         ("a.csv", "column 'user_id' must be numeric", "line 3", "user_id='abc'")),
    Case("non-numeric timestamps", {"a.csv": HEADER + GOOD + "2,10,yesterday,1\n"}, "a.csv", csv,
         ["--signals", "click:binary"],
         ("a.csv", "column 'timestamp' must be numeric", "line 3", "time_unit='datetime'")),
    Case("NaN ids", {"a.csv": HEADER + GOOD + ",10,1700000001,1\n"}, "a.csv", csv,
         ["--signals", "click:binary"], ("a.csv", "column 'user_id' has missing values", "line 3")),
    Case("negative timestamps", {"a.csv": HEADER + GOOD + "2,10,-5,1\n"}, "a.csv", csv,
         ["--signals", "click:binary"],
         ("a.csv", "'timestamp'", "before 1970", "line 3", "timestamp=-5;")),
    Case("timestamps out of range", {"a.csv": HEADER + "1,10,1700000000000,1\n"}, "a.csv", csv,
         ["--signals", "click:binary"],
         ("a.csv", "after the year 2100", "line 2", "time_unit='ms'")),
    Case("binary signal outside 0/1", {"a.csv": HEADER + GOOD + "2,10,1700000001,2\n"}, "a.csv",
         csv, ["--signals", "click:binary"],
         ("a.csv", "binary signal 'click' must be 0 or 1", "line 3", "click=2")),
    Case("empty log", {"a.csv": HEADER}, "a.csv", csv, ["--signals", "click:binary"],
         ("a.csv", "empty")),
    Case("infinite timestamp", {"a.csv": HEADER + GOOD + "2,10,inf,1\n"}, "a.csv", csv,
         ["--signals", "click:binary"],
         ("a.csv", "column 'timestamp' must hold finite times", "line 3", "timestamp=inf")),
    Case("huge timestamp", {"a.csv": HEADER + "2,10,1e30,1\n"}, "a.csv", csv,
         ["--signals", "click:binary"],
         ("a.csv", "after the year 2100", "line 2", "timestamp=1e+30", "too large")),
    Case("timestamp just above int64 in ns", {"a.csv": HEADER + "2,10,9.3e18,1\n"}, "a.csv",
         csv, ["--signals", "click:binary"],
         ("a.csv", "after the year 2100", "line 2", "timestamp=9.3e+18")),
    Case("id too large for int64", {"a.csv": HEADER + GOOD + "1e19,10,1700000001,1\n"},
         "a.csv", csv, ["--signals", "click:binary"],
         ("a.csv", "column 'user_id' must hold finite whole-number ids with |id| < 2**63",
          "line 3", "user_id=1e+19")),
    Case("id above uint64", {"a.csv": HEADER + GOOD + "18446744073709551616,10,1700000001,1\n"},
         "a.csv", csv, ["--signals", "click:binary"],
         ("a.csv", "'user_id'", "|id| < 2**63", "line 3")),
    Case("infinite id", {"a.csv": HEADER + GOOD + "inf,10,1700000001,1\n"}, "a.csv", csv,
         ["--signals", "click:binary"], ("a.csv", "'user_id'", "line 3", "user_id=inf")),
    Case("repeated header name", {"a.csv": "user_id,item_id,timestamp,click,click\n1,2,3,1,0\n"},
         "a.csv", csv, ["--signals", "click:binary"],
         ("a.csv", "column 'click' appears more than once in the header")),
    Case("mapped column named as in the file",
         {"a.csv": "uid,item_id,timestamp,clicked\n1,10,1700000000,1\nabc,10,1700000001,1\n"},
         "a.csv", lambda p: load_csv(p, columns={"user_id": "uid", "click": "clicked"},
                                     signals=SIGNALS),
         ["--signals", "click:binary", "--columns", "user_id=uid,click=clicked"],
         ("a.csv: column 'uid' must be numeric", "--string-ids", "line 3 has uid='abc'")),
    Case("mapped signal named as in the file",
         {"a.csv": "uid,item_id,timestamp,clicked\n1,10,1700000000,1\n2,10,1700000001,3\n"},
         "a.csv", lambda p: load_csv(p, columns={"user_id": "uid", "click": "clicked"},
                                     signals=SIGNALS),
         ["--signals", "click:binary", "--columns", "user_id=uid,click=clicked"],
         ("binary signal 'clicked' must be 0 or 1", "line 3 has clicked=3")),
    Case("header with spaces and a bad value",
         {"a.csv": "user_id, item_id, timestamp, click\n1,10,1700000000,1\n1,x,1700000001,1\n"},
         "a.csv", csv, ["--signals", "click:binary"],
         ("a.csv: column 'item_id' must be numeric", "line 3 has item_id='x'")),
    Case("kuairand names its own columns",
         {"kr/log_random_4_22_to_5_08_pure.csv": KUAIRAND_HEADER + KUAIRAND_ROW
          + KUAIRAND_ROW.replace("1650000000000", "-1000")},
         "kr", load_kuairand, ["-f", "kuairand"],
         ("log_random_4_22_to_5_08_pure.csv: column 'time_ms' has timestamps before 1970",
          "line 3 has time_ms=-1000")),
    Case("movielens csv lists its real header",
         {"ml/ratings.csv": "uid,movieId,rating,timestamp\n1,1,4.5,964982703\n"}, "ml",
         load_movielens, ["-f", "movielens"],
         ("ratings.csv: missing MovieLens column(s) 'userId'",
          "the file has: uid, movieId, rating, timestamp")),
    Case("unknown format", {"a.csv": HEADER + GOOD}, "a.csv",
         lambda p: load_log(p, format="kuairnd"), ["-f", "kuairnd"],
         ("unknown log format 'kuairnd'", "did you mean 'kuairand'")),
]


def _make(tmp_path: Path, case: Case) -> Path:
    for name, text in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / case.target


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_api_raises_log_schema_error_naming_the_problem(tmp_path, case):
    path = _make(tmp_path, case)
    with pytest.raises(LogSchemaError) as info:
        case.api(path)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in message
    for fragment in case.fragments:
        assert fragment in message


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cli_prints_one_line_and_exits_2(tmp_path, case, capsys):
    path = _make(tmp_path, case)
    with pytest.raises(SystemExit) as info:
        main(["data", "inspect", str(path), *case.cli])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert not any("Traceback" in line for line in err)
    for fragment in case.fragments:
        assert fragment in errors[0]


def test_real_entry_point_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "a.csv"
    bad.write_text(HEADER + GOOD + "abc,10,1700000001,1\n")
    result = subprocess.run(
        [sys.executable, "-m", "recgym", "data", "inspect", str(bad), "--signals", "click:binary"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {bad}: column 'user_id' must be numeric (ids; pass string_ids=True "
        f"(--string-ids) if your ids are text), but line 3 has user_id='abc'"
    ]


def test_empty_after_filtering(small_log):
    with pytest.raises(LogSchemaError, match="empty after filtering"):
        small_log.select(np.zeros(small_log.n_interactions, dtype=bool))


def test_duplicates_are_dropped_with_a_counted_warning(tmp_path, caplog):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + GOOD + GOOD + GOOD + "2,10,1700000001,0\n")
    with caplog.at_level(logging.WARNING, logger="offline_data"):
        log = csv(path)
    assert log.n_interactions == 2
    assert "dropped 2 exact duplicate row(s) of 4" in caplog.text
    assert str(path) in caplog.text


def test_bad_signal_declarations(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + GOOD)
    with pytest.raises(InputError, match="kind 'binray'"):
        load_csv(path, signals={"click": "binray"})
    with pytest.raises(InputError, match="has no kind"):
        load_csv(path, signals=["click"])


def test_string_ids_hint_only_where_the_loader_takes_it(tmp_path):
    folder = tmp_path / "kr"
    folder.mkdir()
    (folder / "log_standard_4_22_to_5_08_pure.csv").write_text(
        KUAIRAND_HEADER + KUAIRAND_ROW + KUAIRAND_ROW.replace("7,70", "7,v70")
    )
    with pytest.raises(LogSchemaError) as info:
        load_kuairand(folder)
    assert str(info.value) == (
        f"{folder / 'log_standard_4_22_to_5_08_pure.csv'}: column 'video_id' must be numeric "
        "(ids), but line 3 has video_id='v70'"
    )
    ml = tmp_path / "ml"
    ml.mkdir()
    (ml / "ratings.csv").write_text("userId,movieId,rating,timestamp\nx,1,4.5,964982703\n")
    with pytest.raises(LogSchemaError, match=r"column 'userId' must be numeric \(ids\), but "
                                             r"line 2 has userId='x'$"):
        load_movielens(ml)


def test_feature_file_problems_name_the_feature_file_and_its_lines(tmp_path):
    log = tmp_path / "a.csv"
    log.write_text("uid,item_id,timestamp,click\n1,10,1700000000,1\n2,10,1700000001,0\n")
    users = tmp_path / "users.csv"
    users.write_text("uid,age\n1,30\n2,40\n1,50\n")
    options = {"columns": {"user_id": "uid"}, "signals": SIGNALS, "users": users}
    with pytest.raises(LogSchemaError) as info:
        load_csv(log, **options)
    assert str(info.value) == (
        f"{users}: column 'uid' repeats id 1 (line 2 and line 4); each id may have one row "
        "of features"
    )
    users.write_text("uid,age\n1,30\nq,40\n")
    with pytest.raises(LogSchemaError, match=rf"^{re.escape(str(users))}: column 'uid' must be "
                                             r"numeric .* line 3 has uid='q'$"):
        load_csv(log, **options)
    users.write_text("user,age\n1,30\n")
    with pytest.raises(LogSchemaError, match=r"users\.csv: needs an id column 'uid'"):
        load_csv(log, **options)


def test_nullable_boolean_signal_with_missing_values(tmp_path, capsys):
    path = tmp_path / "log.parquet"
    pd.DataFrame({
        "user_id": [1, 2, 3], "item_id": [1, 1, 2], "timestamp": [1_700_000_000] * 3,
        "click": pd.array([True, None, False], dtype="boolean"),
    }).to_parquet(path)
    expected = f"{path}: column 'click' has missing values (1 rows), e.g. row 1"
    with pytest.raises(LogSchemaError, match=re.escape(expected)):
        load_parquet(path, signals=SIGNALS)
    with pytest.raises(SystemExit) as info:
        main(["data", "inspect", str(path), "--signals", "click:binary"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {expected}")


def test_bad_numeric_arguments_are_clear(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + GOOD)
    for gap in (0.5, float("nan"), 0):
        with pytest.raises(InputError, match="session_gap must be a whole number of seconds"):
            load_csv(path, signals=SIGNALS, session_gap=gap)
    with pytest.raises(InputError, match="session_gap must be a whole number"):
        load_kuairand(tmp_path, session_gap=0.5)
