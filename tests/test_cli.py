"""The `recgym data` commands end to end."""

from __future__ import annotations

import json

import pytest

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
