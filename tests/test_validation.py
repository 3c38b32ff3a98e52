"""Every bad-input case: a LogSchemaError naming the file, column and row from the API,
and one line on stderr with exit status 2 from the command line (never a traceback)."""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from offline_data import (
    InputError,
    LogSchemaError,
    load_csv,
    load_kuairand,
    load_log,
    load_movielens,
)
from recgym.cli import main

HEADER = "user_id,item_id,timestamp,click\n"
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
         ["--signals", "click:binary"], ("a.csv", "'timestamp'", "before 1970", "line 3")),
    Case("timestamps out of range", {"a.csv": HEADER + "1,10,1700000000000,1\n"}, "a.csv", csv,
         ["--signals", "click:binary"],
         ("a.csv", "after the year 2100", "line 2", "time_unit='ms'")),
    Case("binary signal outside 0/1", {"a.csv": HEADER + GOOD + "2,10,1700000001,2\n"}, "a.csv",
         csv, ["--signals", "click:binary"],
         ("a.csv", "binary signal 'click' must be 0 or 1", "line 3", "click=2")),
    Case("empty log", {"a.csv": HEADER}, "a.csv", csv, ["--signals", "click:binary"],
         ("a.csv", "empty")),
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
