"""Sweeps on a local Ray: the command end to end, resuming, refusals, a cluster that does
not answer, and Ray as an optional extra nothing else imports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from offline_data import InputError
from recgym.cli import main
from recgym.runs import read_run

pytest.importorskip("ray", reason="the sweep tests need the recgym[ray] extra")

ROOT = Path(__file__).resolve().parents[1]
SWEEP = """
kind: online
fixed: {steps: 256, eval_every: 128, eval_users: 8, n_envs: 4}
grid:
  agent: [a2c, random]
  seed: [0, 1]
"""


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(args)
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small sweep (2 configurations x 2 seeds), run once for the tests that read it."""
    folder = tmp_path_factory.mktemp("sweep")
    (folder / "sweep.yaml").write_text(SWEEP)
    result = subprocess.run(
        [sys.executable, "-m", "recgym", "sweep", "--config", "sweep.yaml", "--out", "out",
         "--max-concurrent", "2"], cwd=folder, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "agent=a2c" in result.stdout and "agent=random" in result.stdout
    return folder / "out"


def test_a_sweep_writes_run_folders_a_table_and_a_plot(finished_sweep: Path) -> None:
    trials = sorted(p.name for p in (finished_sweep / "trials").iterdir())
    assert trials == ["000-a2c-seed0", "000-a2c-seed1", "001-random-seed0",
                      "001-random-seed1"]
    table = pd.read_csv(finished_sweep / "summary.csv", index_col="configuration")
    assert set(table.index) == {"agent=a2c", "agent=random"}
    assert (table["seeds"] == 2).all()
    for name in table.index:  # the table's numbers are those of the run folders
        finals = [read_run(finished_sweep / "trials" / t)[1]["total_return"].iloc[-1]
                  for t in trials if t.split("-")[1] == name.split("=")[1]]
        assert table.loc[name, "total_return"] == pytest.approx(sum(finals) / 2)
        assert table.loc[name, "total_return_lo"] <= table.loc[name, "total_return"]
    assert (finished_sweep / "curves.png").stat().st_size > 10_000


def test_trials_work_with_evaluate_and_plot(finished_sweep: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    trial = finished_sweep / "trials" / "000-a2c-seed0"
    code, out, _ = run_cli(["evaluate", str(trial), "--users", "5", "--json"], capsys)
    assert code == 0 and '"total_return"' in out
    trials = [str(p) for p in sorted((finished_sweep / "trials").iterdir())]
    code, _, err = run_cli(["plot", *trials, "--out", str(tmp_path / "c.png")], capsys)
    assert code == 0, err
    assert (tmp_path / "c.png").is_file()


def test_resuming_a_finished_sweep_trains_nothing_again(finished_sweep: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    before = {p: p.stat().st_mtime_ns for p in finished_sweep.glob("trials/*/metrics.csv")}
    code, out, err = run_cli(["sweep", "--out", str(finished_sweep), "--resume"], capsys)
    assert code == 0, err
    assert "agent=a2c" in out
    assert before == {p: p.stat().st_mtime_ns
                      for p in finished_sweep.glob("trials/*/metrics.csv")}


def test_a_sweep_folder_is_not_replaced_or_resumed_with_another_sweep(
        finished_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(SWEEP.replace("[0, 1]", "[0, 1, 2]"))
    code, _, err = run_cli(["sweep", "--config", str(other), "--out", str(finished_sweep)],
                           capsys)
    assert code == 2 and "already exists and is not empty" in err
    code, _, err = run_cli(["sweep", "--config", str(other), "--out", str(finished_sweep),
                            "--resume"], capsys)
    assert code == 2 and "holds another sweep" in err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    code, _, err = run_cli(["sweep", "--config", str(other), "--out", str(mine),
                            "--overwrite"], capsys)
    assert code == 2 and "recgym did not write it" in err
    assert (mine / "notes.txt").read_text() == "keep"


def test_an_interrupted_sweep_resumes_where_it_stopped(tmp_path: Path) -> None:
    (tmp_path / "sweep.yaml").write_text("""
fixed: {steps: 1000, eval_every: 200, eval_users: 8, n_envs: 4}
grid: {agent: [a2c], seed: [0, 1]}
""")
    command = [sys.executable, "-m", "recgym", "sweep", "--config", "sweep.yaml", "--out",
               "out", "--max-concurrent", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    checkpoints = tmp_path / "out" / "trials" / "000-a2c-seed0" / "checkpoints"
    deadline = time.monotonic() + 120
    while not (checkpoints.is_dir() and any(checkpoints.iterdir())):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)  # Ctrl-C while the first trial trains
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2, err[-2000:]
    assert "interrupted: 0 of 2 jobs finished" in err and "--resume" in err
    resumed = subprocess.run([*command[:4], "--out", "out", "--resume"], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    for seed in (0, 1):
        _, metrics = read_run(tmp_path / "out" / "trials" / f"000-a2c-seed{seed}")
        assert metrics["step"].is_unique and metrics["step"].iloc[-1] >= 1000


def test_a_cluster_that_does_not_answer_fails_in_seconds(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    started = time.monotonic()
    code, _, err = run_cli(["sweep", "--config", str(tmp_path / "sweep.yaml"), "--out",
                            str(tmp_path / "out"), "--address", f"ray://127.0.0.1:{port}"],
                           capsys)
    assert time.monotonic() - started < 15
    assert code == 2
    assert err.strip().count("\n") == 0
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in err


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    code, _, err = run_cli(["sweep", "--config", str(tmp_path / "sweep.yaml"), "--out",
                            str(tmp_path / "out")], capsys)
    assert code == 2 and "pip install 'recgym[ray]'" in err


def test_nothing_but_the_sweep_engine_imports_ray() -> None:
    script = ("import sys, recgym, agents, simulators, offline_data, recgym.cli, agents.sweep,"
              " agents.training, agents.offline_runs.training\n"
              "assert 'ray' not in sys.modules, 'ray was imported'")
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    importers = [str(p.relative_to(ROOT)) for folder in ("recgym", "agents", "simulators",
                                                          "offline_data")
                 for p in (ROOT / folder).rglob("*.py")
                 if any(line.strip().startswith(("import ray", "from ray"))
                        for line in p.read_text().splitlines())]
    assert importers == ["agents/sweep/engine.py"]


def test_map_jobs_gives_the_same_results_here_and_on_ray(tmp_path: Path) -> None:
    from agents.sweep.engine import EngineOptions
    from agents.sweep.jobs import map_jobs

    def job(item: int, report) -> None:
        if item == 3:
            raise ValueError("item 3 is bad")
        report({"square": item * item})
        report({"square": item * item, "item": item})

    local = map_jobs(job, [1, 2], engine="local", storage=tmp_path, name="local")
    on_ray = map_jobs(job, [1, 2, 3], engine="ray", storage=tmp_path, name="ray",
                      options=EngineOptions(max_concurrent=2))
    assert local == [{"square": 1, "item": 1}, {"square": 4, "item": 2}]
    assert [{k: r[k] for k in ("square", "item")} for r in on_ray[:2]] == local
    assert "item 3 is bad" in on_ray[2]["error"]
    with pytest.raises(InputError, match="--engine must be one of local, ray"):
        map_jobs(job, [1], engine="dask", storage=tmp_path, name="x")


def test_each_trial_repeats_the_same_run_done_alone(finished_sweep: Path, tmp_path: Path
                                                    ) -> None:
    """Workers run several trials one after another: none leaks into the next."""
    from agents.sweep.config import SweepConfig, plan_trials
    from agents.sweep.trial import TrialJob

    config = SweepConfig(**{k: v for k, v in json.loads(
        (finished_sweep / "sweep.json").read_text())["sweep"].items()})
    for trial in plan_trials(config, tmp_path):
        if not trial.name.startswith("000-a2c"):
            continue
        TrialJob("online", tmp_path)(trial, lambda _: None)
        alone = read_run(tmp_path / trial.name)[1].drop(columns="wall_time")
        swept = read_run(finished_sweep / "trials" / trial.name)[1].drop(columns="wall_time")
        pd.testing.assert_frame_equal(alone, swept)

