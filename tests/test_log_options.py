"""Every command that reads a log takes the same log options; compressed and tab- or
semicolon-separated files; times read with the wrong unit; figures never overwrite files
that recgym did not write."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma

import numpy as np
import pandas as pd
import pytest
import typer
import zstandard

from offline_data import LogSchemaError, detect_format, load_csv, load_log
from recgym.cli import main
from recgym.cli.app import app
from recgym.cli.log_options import _OPTIONS

COLUMNS = "user_id=uid,item_id=iid,timestamp=ts"
SIGNALS = "clicked:binary,dwell:continuous"
COMPRESS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress,
            ".zst": zstandard.ZstdCompressor().compress}


def frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"uid": rng.integers(0, 30, n), "iid": rng.integers(0, 40, n),
                         "ts": np.sort(1_700_000_000 + rng.integers(0, 5 * 86_400, n)),
                         "clicked": rng.integers(0, 2, n), "dwell": rng.random(n).round(3)})


def run(capsys, *argv):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return info.value.code or 0, captured.out, captured.err


@pytest.fixture
def plain_csv(tmp_path):
    path = tmp_path / "my.csv"
    frame().to_csv(path, index=False)
    return path


@pytest.mark.parametrize("suffix", list(COMPRESS))
@pytest.mark.parametrize("kind", [".csv", ".tsv"])
def test_compressed_logs_load_like_the_plain_file(tmp_path, plain_csv, kind, suffix):
    text = frame().to_csv(index=False, sep="\t" if kind == ".tsv" else ",")
    path = tmp_path / f"log{kind}{suffix}"
    path.write_bytes(COMPRESS[suffix](text.encode()))
    assert detect_format(path) == "csv"
    options = {"columns": {"user_id": "uid", "item_id": "iid", "timestamp": "ts"},
               "signals": {"clicked": "binary", "dwell": "continuous"}}
    packed = load_log(path, **options)
    plain = load_csv(plain_csv, **options)
    pd.testing.assert_frame_equal(packed.interactions, plain.interactions)


def test_damaged_compressed_file_is_named(tmp_path):
    path = tmp_path / "log.csv.gz"
    path.write_bytes(b"user_id,item_id,timestamp,click\n1,2,3,1\n")   # not gzip at all
    with pytest.raises(LogSchemaError, match=r"log\.csv\.gz: cannot be read \(not a valid "
                                             r"gzip file"):
        load_csv(path, signals={"click": "binary"})


def test_load_csv_infers_the_tab_of_a_tsv(tmp_path):
    path = tmp_path / "log.tsv"
    frame().to_csv(path, index=False, sep="\t")
    log = load_csv(path, columns={"user_id": "uid", "item_id": "iid", "timestamp": "ts"},
                   signals={"clicked": "binary"})
    assert log.n_interactions == 400


@pytest.mark.parametrize(("sep", "hint"), [(";", "--sep ';'"), ("\t", "--sep tab")])
def test_one_column_header_suggests_the_separator(tmp_path, sep, hint):
    path = tmp_path / "log.csv"
    frame().to_csv(path, index=False, sep=sep)
    with pytest.raises(LogSchemaError, match="reads as one column") as info:
        load_csv(path, columns={"user_id": "uid", "item_id": "iid", "timestamp": "ts"},
                 signals={"clicked": "binary"})
    assert f"sep={sep!r}" in str(info.value) and hint in str(info.value)
    assert "columns=" not in str(info.value)


def test_wrong_time_unit_names_the_likely_one(plain_csv, capsys):
    code, _, err = run(capsys, "data", "inspect", plain_csv, "--columns", COLUMNS,
                       "--signals", SIGNALS, "--time-unit", "ms")
    assert code == 2
    assert "before 1990" in err and "time_unit='s'" in err and "--allow-early-times" in err
    code, out, _ = run(capsys, "data", "inspect", plain_csv, "--columns", COLUMNS,
                       "--signals", SIGNALS, "--time-unit", "ms", "--allow-early-times", "--json")
    assert code == 0 and json.loads(out)["interactions"] == 400


def test_fit_sim_reads_a_csv_log_with_the_shared_options(tmp_path, capsys):
    log = tmp_path / "my.csv.gz"
    log.write_bytes(gzip.compress(frame(n=1500).to_csv(index=False).encode()))
    code, _, err = run(capsys, "fit-sim", "--data", log, "--out", tmp_path / "sim")
    assert code == 2 and "needs --signals" in err and "Traceback" not in err
    code, _, err = run(capsys, "fit-sim", "--data", log, "--out", tmp_path / "sim",
                         "--columns", COLUMNS, "--signals", SIGNALS, "--epochs", "1",
                         "--no-baselines", "--no-progress")
    assert code == 0, err
    fidelity = json.loads((tmp_path / "sim" / "fidelity.json").read_text())
    assert set(fidelity["signals"]) == {"clicked", "dwell"}


def test_log_options_that_do_not_apply_are_refused(plain_csv, capsys, tmp_path):
    code, _, err = run(capsys, "fit-sim", "--data", "synthetic", "--out", tmp_path / "s",
                       "--signals", "click:binary")
    assert code == 2 and "--signals does not apply to --data synthetic" in err
    code, _, err = run(capsys, "data", "inspect", plain_csv, "--signals", SIGNALS,
                       "--columns", COLUMNS, "--kuairand-log", "all")
    assert code == 2 and "--kuairand-log only applies to KuaiRand folders" in err


@pytest.mark.parametrize("command", [["data", "inspect"], ["fit-sim"]])
def test_every_log_command_takes_the_same_options(command):
    group = typer.main.get_command(app)
    for name in command:
        group = group.commands[name]
    flags = {flag for param in group.params for flag in param.opts}
    assert {"--" + name.replace("_", "-") for name in _OPTIONS} <= flags


def test_plot_refuses_to_overwrite_what_recgym_did_not_write(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"agent": "ppo"}))
    (run_dir / "metrics.csv").write_text("step,wall_time,total_return\n0,0,1.0\n100,1,2.0\n")
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    code, _, err = run(capsys, "plot", run_dir, "--out", notes)
    assert code == 2 and "not an image format" in err and notes.read_text() == "my notes"
    picture = tmp_path / "mine.png"
    picture.write_bytes(b"\x89PNG not recgym's")
    code, _, err = run(capsys, "plot", run_dir, "--out", picture)
    assert code == 2 and "--overwrite" in err
    assert picture.read_bytes() == b"\x89PNG not recgym's"
    for out in (tmp_path / "curves.png", tmp_path / "curves.png", tmp_path / "curves.pdf"):
        code, _, err = run(capsys, "plot", run_dir, "--out", out)   # recgym's own: replaced
        assert code == 0, err
    assert (tmp_path / "curves.pdf").read_bytes().startswith(b"%PDF")
    code, _, err = run(capsys, "plot", run_dir, "--out", picture, "--overwrite")
    assert code == 0 and picture.read_bytes().startswith(b"\x89PNG\r\n")
