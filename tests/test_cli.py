"""The `recgym data` commands end to end."""

from __future__ import annotations

import json

import pytest
from cli_check import fail

from offline_data import InteractionLog
from recgym.cli import main


def run(capsys, *argv):
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    captured = capsys.readouterr()
    assert info.value.code in (0, None), captured.err
    return captured.out


def test_synth_then_inspect_round_trip(tmp_path, capsys):
    out = tmp_path / "log"
    text = run(capsys, "data", "synth", "--out", str(out), "--users", "50", "--days", "2",
               "--seed", "3")
    assert "interactions of 50 users" in text
    log = InteractionLog.from_parquet(out)
    assert log.interactions["user_id"].nunique() == 50
    summary = json.loads(run(capsys, "data", "inspect", str(out), "--format", "parquet", "--json"))
    assert summary["interactions"] == log.n_interactions
    assert summary["sessions"] == len(log.sessions)
    assert set(summary["signals"]) == {"click", "like", "watch_ratio"}
    table = run(capsys, "data", "inspect", str(out))
    assert "return gap (hours)" in table and "click" in table


def test_synth_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "log"
    run(capsys, "data", "synth", "--out", str(out), "--users", "5", "--days", "1")
    with pytest.raises(SystemExit) as info:
        main(["data", "synth", "--out", str(out), "--users", "5", "--days", "1"])
    assert info.value.code == 2
    assert "--overwrite" in capsys.readouterr().err
    run(capsys, "data", "synth", "--out", str(out), "--users", "6", "--days", "1", "--overwrite")
    assert InteractionLog.from_parquet(out).interactions["user_id"].nunique() == 6


def test_inspect_real_kuairand(kuairand_dir, capsys):
    summary = json.loads(run(capsys, "data", "inspect", str(kuairand_dir), "--json"))
    assert summary["interactions"] == 222_869
    assert summary["signals"]["is_click"]["rate"] == pytest.approx(0.449, abs=0.001)


@pytest.mark.parametrize("command", [[], ["data"], ["data", "inspect"], ["data", "synth"]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    assert "Usage" in capsys.readouterr().out


def test_overwrite_never_wipes_a_folder_recgym_did_not_write(tmp_path, capsys):
    out = tmp_path / "runs"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    error = fail(capsys, "data", "synth", "--out", str(out), "--users", "5", "--days", "1",
                 "--overwrite")
    assert f"{out} has no meta.json" in error and "will not replace" in error
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_inspect_log_folder_honours_session_gap_and_rejects_file_options(tmp_path, capsys):
    out = tmp_path / "log"
    run(capsys, "data", "synth", "--out", str(out), "--users", "20", "--days", "1")
    default = json.loads(run(capsys, "data", "inspect", str(out), "--json"))
    regapped = json.loads(run(capsys, "data", "inspect", str(out), "--json",
                              "--session-gap", "172800"))
    assert default["session_gap_s"] == 1800 and regapped["session_gap_s"] == 172_800
    assert default["sessions"] > 20
    assert regapped["sessions"] == 20  # one session per user: the log spans a single day
    error = fail(capsys, "data", "inspect", str(out), "--signals", "click:binary")
    assert error == (f"error: --signals only applies to CSV / Parquet log files, but {out} is "
                     "read as a recgym log folder; leave it out")
    assert "--kuairand-log" in fail(capsys, "data", "inspect", str(out), "--kuairand-log", "all")


KR_HEADER = (
    "user_id,video_id,date,hourmin,time_ms,is_click,is_like,is_follow,is_comment,is_forward,"
    "is_hate,long_view,play_time_ms,duration_ms,is_rand,tab\n"
)


def test_inspect_kuairand_random_only_folder_and_file_choice(tmp_path, capsys):
    rows = [f"{u},{70 + u},20220422,1000,{1650000000000 + 1000 * u},1,0,0,0,0,0,1,500,1000,1,1\n"
            for u in range(3)]
    (tmp_path / "log_random_4_22_to_5_08_pure.csv").write_text(KR_HEADER + "".join(rows))
    (tmp_path / "log_random_copy.csv").write_text(KR_HEADER + "".join(rows[:2]))
    summary = json.loads(run(capsys, "data", "inspect", str(tmp_path), "--json"))
    assert summary["interactions"] == 3 and summary["signals"]["is_click"]["rate"] == 1.0
    summary = json.loads(run(capsys, "data", "inspect", str(tmp_path), "--json",
                             "--kuairand-log", "random"))
    assert summary["interactions"] == 3
    summary = json.loads(run(capsys, "data", "inspect", str(tmp_path), "--json",
                             "--files", "log_random_copy.csv", "--session-gap", "60"))
    assert summary["interactions"] == 2 and summary["session_gap_s"] == 60
    error = fail(capsys, "data", "inspect", str(tmp_path), "--kuairand-log", "standard")
    assert "log_standard_*.csv" in error
    error = fail(capsys, "data", "inspect", str(tmp_path), "--kuairand-log", "randm")
    assert "unknown KuaiRand log 'randm'" in error


def test_inspect_tsv_and_misplaced_options(tmp_path, capsys):
    path = tmp_path / "log.tsv"
    path.write_text("uid\titem_id\ttimestamp\tclick\n1\t10\t1700000000\t1\n2\t10\t1700000100\t0\n")
    summary = json.loads(run(capsys, "data", "inspect", str(path), "--json", "--signals",
                             "click:binary", "--columns", "user_id=uid,"))
    assert summary["interactions"] == 2 and summary["signals"]["click"]["rate"] == 0.5
    assert "--files only applies to KuaiRand folders" in fail(
        capsys, "data", "inspect", str(path), "--signals", "click:binary", "--files", "a.csv")
    assert "'click' is given more than once" in fail(
        capsys, "data", "inspect", str(path), "--signals", "click:binary,click:binary")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["data", "inspect", "x.csv", "--session-gap", "0.5"], "Invalid value for '--session-gap'"),
        (["data", "inspect", "x.csv", "--bogus"], "No such option: --bogus"),
        (["data", "inspect"], "Missing argument 'path'; see 'recgym data inspect --help'"),
        (["bogus"], "No such command 'bogus'; see 'recgym --help'"),
    ],
)
def test_usage_errors_are_one_line_with_status_2(argv, fragment, capsys):
    assert fragment in fail(capsys, *argv)
