"""`recgym offline` runs, `recgym ope`, and `recgym evaluate` / `plot` on offline runs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from agents.offline_runs import OfflineRunConfig, read_offline_config, train_offline
from offline_data.shared.errors import InputError
from recgym.cli import main

TINY = {"users": 120, "steps": 40, "eval_every": 20, "eval_users": 10,
        "env_kwargs": {"max_sessions": 2},
        "agent_kwargs": {"batch_size": 16}}
"""An offline run small enough for a test (seconds)."""


pytestmark = pytest.mark.usefixtures("one_thread")


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `recgym argv`."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cql"
    config = OfflineRunConfig(algo="cql", **TINY)
    train_offline(config, out, progress=False)
    return out


def test_a_synthetic_run_writes_the_run_folder(synthetic_run):
    for name in ("config.json", "metrics.csv", "tb", "agent", "checkpoints", "heldout"):
        assert (synthetic_run / name).exists(), name
    config = json.loads((synthetic_run / "config.json").read_text())
    assert config["kind"] == "offline" and config["algo"] == "cql"
    metrics = pd.read_csv(synthetic_run / "metrics.csv")
    assert list(metrics["step"]) == [0, 20, 40]
    for column in ("total_return", "ctr", "retention", "depth", "ope_snips", "ope_wpdis",
                   "ope_wpdis_lo", "ope_wpdis_hi"):
        assert metrics[column].notna().all(), column
    assert read_offline_config(synthetic_run) == OfflineRunConfig(algo="cql", **TINY)


def test_evaluate_plot_and_ope_work_on_an_offline_run(synthetic_run, tmp_path, capsys):
    code, out, err = run_cli(["evaluate", str(synthetic_run), "--users", "10", "--json"],
                             capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["env"] == "RecGym/Synthetic-v0" and "total_return" in result["metrics"]
    metrics = pd.read_csv(synthetic_run / "metrics.csv")
    # the run's last evaluation used the same world, users and settings
    assert result["metrics"]["total_return"]["mean"] == pytest.approx(
        metrics["total_return"].iloc[-1])
    code, out, err = run_cli(["plot", str(synthetic_run), "--out",
                              str(tmp_path / "curve.png")], capsys)
    assert code == 0, err
    assert (tmp_path / "curve.png").is_file()
    code, out, err = run_cli(["ope", str(synthetic_run), "--json", "--fqe-steps", "200",
                              "--bootstrap", "20", "--truth-users", "10"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert set(report["estimates"]) == {"pdis", "wpdis", "dr", "fqe"}
    for estimate in report["estimates"].values():
        lo, hi = estimate["ci95"]
        assert np.isfinite(estimate["value"]) and lo <= hi
    assert set(report["true_value"]) >= {"value", "ci95"}
    code, out, err = run_cli(["ope", str(synthetic_run), "--json", "--estimators",
                              "d3rlpy_fqe", "--fqe-steps", "100", "--bootstrap", "10",
                              "--truth-users", "10"], capsys)
    assert code == 0, err
    cross = json.loads(out)["estimates"]["d3rlpy_fqe"]
    assert np.isfinite(cross["value"]) and cross["ci95"][0] <= cross["ci95"][1]


def test_a_resumed_run_equals_one_run(tmp_path):
    config = OfflineRunConfig(algo="bc", **TINY)
    train_offline(config, tmp_path / "whole", progress=False)
    train_offline(config, tmp_path / "parts", progress=False, stop_after=20)
    assert pd.read_csv(tmp_path / "parts" / "metrics.csv")["step"].max() == 20
    train_offline(config, tmp_path / "parts", resume=True, progress=False)
    whole = pd.read_csv(tmp_path / "whole" / "metrics.csv").drop(columns="wall_time")
    parts = pd.read_csv(tmp_path / "parts" / "metrics.csv").drop(columns="wall_time")
    pd.testing.assert_frame_equal(whole, parts)
    a = torch.load(tmp_path / "whole" / "agent" / "weights.pt", weights_only=True)
    b = torch.load(tmp_path / "parts" / "agent" / "weights.pt", weights_only=True)
    for key, module in a["networks"].items():
        for name, tensor in module.items():
            assert torch.equal(tensor, b["networks"][key][name]), (key, name)
    with pytest.raises(InputError, match="seed"):
        train_offline(config.replace(seed=1), tmp_path / "parts", resume=True,
                      progress=False)


@pytest.fixture(scope="module")
def csv_log(tmp_path_factory):
    """A CSV log without propensities (as real logs are), from the synthetic world."""
    from simulators import SyntheticWorld, WorldConfig

    world = SyntheticWorld(WorldConfig(n_users=150, n_items=60), seed=0)
    log = world.generate_log("softmax", n_users=150, n_days=3, seed=0)
    frame = log.interactions.rename(columns={"user_id": "uid", "item_id": "iid",
                                             "timestamp": "ts"})
    path = tmp_path_factory.mktemp("logs") / "my_log.csv"
    frame[["uid", "iid", "ts", "click", "like", "watch_ratio"]].to_csv(path, index=False)
    return path


CSV_OPTIONS = ["--columns", "user_id=uid,item_id=iid,timestamp=ts",
               "--signals", "click:binary,like:binary,watch_ratio:continuous"]


def test_a_csv_log_fits_a_simulator_and_a_behaviour_model(csv_log, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(
        ["offline", "--algo", "bc", "--data", str(csv_log), *CSV_OPTIONS, "--steps", "20",
         "--eval-every", "20", "--eval-users", "10", "--out", str(out), "--no-progress",
         "--agent-kwargs", '{"batch_size": 16}'], capsys)
    assert code == 0, err
    for name in ("simulator", "behaviour", "heldout", "agent"):
        assert (out / name).is_dir(), name
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["ope_wpdis"].notna().all() and metrics["total_return"].notna().all()
    code, output, err = run_cli(["evaluate", str(out), "--users", "10", "--json"], capsys)
    assert code == 0, err
    assert json.loads(output)["env"] == "RecGym/Logged-v0"
    code, output, err = run_cli(["ope", str(out), "--json", "--estimators", "pdis,wpdis",
                                 "--bootstrap", "10"], capsys)
    assert code == 0, err
    report = json.loads(output)
    assert set(report["estimates"]) == {"pdis", "wpdis"} and "true_value" not in report
    # another log of the same users, read with the same options: the run's behaviour model
    code, output, err = run_cli(["ope", str(out), "--data", str(csv_log), *CSV_OPTIONS,
                                 "--json", "--estimators", "wpdis", "--bootstrap", "10"],
                                capsys)
    assert code == 0, err


@pytest.mark.parametrize("argv, message", [
    (["--algo", "cqll"], "did you mean 'cql'"),
    (["--algo", "ppo"], "online agent"),
    (["--reward-weights", "clicks=1"], "did you mean 'click'"),
    (["--data", "no/such/log.csv"], "no such log"),
    (["--data", "synthetic", "--sep", ";"], "--sep"),
    (["--ope", "pids"], "unknown estimator"),
    (["--algo", "cql", "--rtg-prompt", "0.8"], "takes no RTG prompt"),
    (["--algo", "dt4ier", "--rtg-prompt", "0"], "rtg_prompt must be a positive number"),
    (["--algo", "dt4ier", "--agent-kwargs", '{"heds": 4}'], "did you mean 'heads'"),
    (["--algo", "dt", "--agent-kwargs", '{"immediate_signal": "clik"}'],
     "not a signal of the log; its signals: click"),
    (["--algo", "dt4ier", "--users", "40", "--env-kwargs", '{"max_sessions": 1}'],
     "fewer than 2 sessions"),
])
def test_bad_input_is_one_line_and_writes_nothing(argv, message, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(["offline", *argv, "--steps", "10", "--out", str(out),
                            "--no-progress"], capsys)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert __import__("re").search(message, err), err
    assert not out.exists()


def test_a_log_without_a_complete_episode_is_refused(tmp_path, capsys):
    path = tmp_path / "one_each.csv"
    pd.DataFrame({"uid": np.arange(30), "iid": np.arange(30) % 7, "ts": 1_700_000_000,
                  "click": 1, "like": 0, "watch_ratio": 0.5}).to_csv(path, index=False)
    out = tmp_path / "run"
    code, _, err = run_cli(["offline", "--data", str(path), *CSV_OPTIONS, "--out", str(out),
                            "--no-progress"], capsys)
    assert code == 2 and "no complete episode" in err and err.count("\n") == 1, err
    assert not out.exists()


def test_nothing_the_user_owns_is_overwritten(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    code, _, err = run_cli(["offline", "--out", str(mine), "--steps", "10"], capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert (mine / "notes.txt").read_text() == "keep me"


def test_ope_without_propensities_or_behaviour_model_is_refused(synthetic_run, csv_log,
                                                               capsys):
    code, _, err = run_cli(["ope", str(synthetic_run), "--data", str(csv_log), *CSV_OPTIONS],
                           capsys)
    assert code == 2 and "propensit" in err and err.count("\n") == 1, err


def test_ope_of_an_online_run_says_what_it_evaluates(tmp_path, capsys):
    from agents.train_config import TrainConfig

    (tmp_path / "config.json").write_text(json.dumps(TrainConfig().to_dict()))
    code, _, err = run_cli(["ope", str(tmp_path)], capsys)
    assert code == 2 and "recgym offline" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("algo", ["iql", "behaviour"])
def test_embedding_agents_and_the_logging_policy_run_too(algo, tmp_path, capsys):
    train_offline(OfflineRunConfig(algo=algo, **{**TINY, "steps": 20, "agent_kwargs": {}}),
                  tmp_path / algo, progress=False)
    metrics = pd.read_csv(tmp_path / algo / "metrics.csv")
    assert metrics["total_return"].notna().all()
    code, _, err = run_cli(["evaluate", str(tmp_path / algo), "--users", "10", "--json"],
                             capsys)
    assert code == 0, err


def test_a_deterministic_behaviour_is_warned_about_and_explore_fixes_it(caplog):
    from agents.offline_runs.data import read_run_log

    config = OfflineRunConfig(behaviour="diversity_aware", users=30,
                              env_kwargs={"max_sessions": 1})
    with caplog.at_level("WARNING"):
        log = read_run_log(config)
    assert (log.interactions["propensity"] == 1).all()
    assert "--explore" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        log = read_run_log(config.replace(explore=0.2))
    assert (log.interactions["propensity"] < 1).any() and "--explore" not in caplog.text


@pytest.mark.parametrize("argv, message", [
    (["--explore", "0.1"], "synthetic log's behaviour policy"),
    (["--behaviour", "diversity_aware"], "synthetic log's behaviour policy"),
])
def test_behaviour_options_of_a_file_log_are_refused(csv_log, argv, message, tmp_path,
                                                     capsys):
    code, _, err = run_cli(["offline", "--data", str(csv_log), *CSV_OPTIONS, *argv,
                            "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_a_decision_transformer_run_reports_online_and_ranking_metrics(tmp_path, capsys):
    out = tmp_path / "dt"
    code, _, err = run_cli([
        "offline", "--algo", "dt4ier", "--behaviour", "mixture", "--explore", "0.1",
        "--users", "100", "--steps", "20", "--eval-every", "20", "--eval-users", "10",
        "--rtg-prompt", "0.6", "--agent-kwargs",
        '{"embed_dim": 16, "heads": 2, "reward_net_steps": 20}',
        "--out", str(out), "--no-progress"], capsys)
    assert code == 0, err
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics["step"]) == [0, 20]
    for column in ("total_return", "long_term_return", "retention", "ctr", "hr@10",
                   "ndcg@10", "precision@10"):
        assert metrics[column].notna().all(), column
    assert not any(c.startswith("ope_") for c in metrics.columns)  # it acts from its episode
    assert read_offline_config(out).agent_kwargs["rtg_prompt"] == 0.6
    code, output, err = run_cli(["evaluate", str(out), "--users", "10"], capsys)
    assert code == 0 and "long_term_return" in output, err
