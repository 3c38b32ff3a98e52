"""Sweep configs and trials without Ray: planning, checks with 'did you mean', and a trial's
run folder (reports, finishing, resuming)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from agents.sweep.config import SweepConfig, plan_trials, read_sweep_config
from agents.sweep.trial import TrialJob, final_metrics
from agents.training import train
from offline_data import InputError
from recgym.runs import read_run

TINY = {"steps": 256, "eval_every": 128, "eval_users": 8, "n_envs": 4}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return path


def test_grid_random_and_seeds_plan_every_trial(tmp_path: Path) -> None:
    config = read_sweep_config(write(tmp_path, """
kind: online
samples: 3
seed: 7
fixed: {steps: 1000}
grid:
  agent: [ppo, a2c]
  seed: [0, 1]
random:
  agent_kwargs.learning_rate: {loguniform: [1.0e-4, 1.0e-2]}
  agent_kwargs.gamma: {choice: [0.9, 0.99]}
"""))
    trials = plan_trials(config, tmp_path)
    assert len(trials) == 2 * 3 * 2  # grid points x draws x seeds
    assert len({t.name for t in trials}) == len(trials)
    by_configuration: dict[str, list] = {}
    for trial in trials:
        by_configuration.setdefault(trial.configuration, []).append(trial)
    assert len(by_configuration) == 6
    for group in by_configuration.values():  # the seeds of a configuration share its draw
        assert [t.seed for t in group] == [0, 1]
        assert group[0].settings == group[1].settings
    rates = [t.settings["agent_kwargs.learning_rate"] for t in trials]
    assert all(1e-4 <= r <= 1e-2 for r in rates)
    assert len(set(rates)) == 6
    run = trials[0].run_config("online")
    assert run.agent_kwargs["learning_rate"] == rates[0] and run.steps == 1000
    assert run.name == trials[0].configuration and run.seed == 0
    again = plan_trials(config, tmp_path)
    assert [t.to_dict() for t in again] == [t.to_dict() for t in trials]  # seeded
    other = plan_trials(config.replace(seed=8), tmp_path)
    assert [t.settings for t in other] != [t.settings for t in trials]


def test_member_shorthand_and_paths_are_resolved(tmp_path: Path) -> None:
    config = SweepConfig(fixed={"env": "RecGym/SimSet-v0",
                                "env_kwargs.simulator_set": "sims/set"},
                         grid={"member": [0, 2], "agent": ["dqn"]})
    trials = plan_trials(config, tmp_path)
    assert [t.run_config("online").env_kwargs["members"] for t in trials] == [[0], [2]]
    assert trials[0].run_config("online").env_kwargs["simulator_set"] == str(
        (tmp_path / "sims" / "set").resolve())


@pytest.mark.parametrize(("text", "message"), [
    ("grid: {agent: [ppo, dqm]}", "unknown agent 'dqm'; did you mean 'dqn'?"),
    ("grid: {agent: [ppo]}\nfixed: {stepz: 10}", "'stepz' (did you mean 'steps'?)"),
    ("grid: {agent_kwargs.learning_rat: [0.1]}",
     "'learning_rat' (did you mean 'learning_rate'?)"),
    ("random: {agent_kwargs.gamma: {loguniforn: [0.9, 0.99]}}",
     "unknown distribution 'loguniforn' (did you mean 'loguniform'?)"),
    ("random: {agent_kwargs.gamma: {uniform: [0.99, 0.9]}}", "low < high"),
    ("metric: total_retrun", "(did you mean 'total_return'?)"),
    ("grid: {agent: ppo}", "grid.agent: give a non-empty list"),
    ("kind: offlin", "kind must be one of online, offline"),
    ("grids: {agent: [ppo]}", "'grids' (did you mean 'grid'?)"),
    ("grid: {agent: [ppo\n", "not valid YAML (line"),
    ("kind: offline\ngrid: {algo: [cql, bq]}", "unknown offline agent 'bq' (did you mean"),
])
def test_bad_sweep_configs_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as error:
        plan_trials(read_sweep_config(path), tmp_path)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_sweep_config(tmp_path / "nope.yaml")


def trial_of(tmp_path: Path, **settings: object):
    config = SweepConfig(fixed={**TINY, **settings}, grid={"agent": ["a2c"], "seed": [3]})
    return plan_trials(config, tmp_path)[0]


def test_a_trial_is_an_ordinary_run_folder_reported_as_it_trains(tmp_path: Path) -> None:
    trial = trial_of(tmp_path)
    reports: list[dict] = []
    TrialJob("online", tmp_path / "trials")(trial, reports.append)
    folder = tmp_path / "trials" / trial.name
    config, metrics = read_run(folder)
    assert config["seed"] == 3 and config["name"] == trial.configuration
    assert [r["step"] for r in reports] == metrics["step"].tolist()[1:]  # every evaluation
    assert reports[-1]["trial"] == trial.name and reports[-1]["seed"] == 3
    assert reports[-1]["total_return"] == pytest.approx(metrics["total_return"].iloc[-1])
    again: list[dict] = []  # a finished trial is not trained again: it reports its end
    TrialJob("online", tmp_path / "trials")(trial, again.append)
    assert len(again) == 1 and again[0]["step"] == reports[-1]["step"]
    assert len(read_run(folder)[1]) == len(metrics)


def test_a_stopped_trial_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    trial = trial_of(tmp_path)
    whole = tmp_path / "whole" / trial.name
    TrialJob("online", tmp_path / "whole")(trial, lambda _: None)
    stopped = tmp_path / "stopped"
    train(trial.run_config("online"), stopped / trial.name, progress=False, stop_after=128)
    assert final_metrics(stopped / trial.name)["step"] < final_metrics(whole)["step"]
    TrialJob("online", stopped)(trial, lambda _: None)
    a, b = read_run(whole)[1], read_run(stopped / trial.name)[1]
    pd.testing.assert_frame_equal(a.drop(columns="wall_time"), b.drop(columns="wall_time"))


@pytest.mark.parametrize("example", sorted((Path(__file__).resolve().parents[1] / "docs" /
                                            "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_the_example_sweeps_plan(example: Path, tmp_path: Path) -> None:
    trials = plan_trials(read_sweep_config(example), tmp_path)
    assert len(trials) >= 8 and len({t.name for t in trials}) == len(trials)


def test_an_offline_trial_is_an_offline_run_folder(tmp_path: Path) -> None:
    config = SweepConfig(kind="offline", fixed={"data": "synthetic", "users": 120,
                                                "steps": 40, "eval_every": 20,
                                                "eval_users": 10, "ope": ["snips"]},
                         grid={"algo": ["bc"], "seed": [1]})
    trial, = plan_trials(config, tmp_path)
    reports: list[dict] = []
    TrialJob("offline", tmp_path)(trial, reports.append)
    run_config, metrics = read_run(tmp_path / trial.name)
    assert run_config["kind"] == "offline" and run_config["seed"] == 1
    assert [r["step"] for r in reports] == metrics["step"].tolist()[1:] == [20, 40]
    assert reports[-1]["ope_snips"] == pytest.approx(metrics["ope_snips"].iloc[-1])
    assert "total_return" in reports[-1]


def test_configurations_are_distinct_and_so_are_their_names(tmp_path: Path) -> None:
    close = SweepConfig(samples=40, grid={"agent": ["ppo"]},
                        random={"agent_kwargs.learning_rate": {"uniform": [1e-3, 1.001e-3]}})
    trials = plan_trials(close, tmp_path)  # rates that read alike to 4 digits
    assert len({t.configuration for t in trials}) == 40
    repeated = SweepConfig(samples=5, random={"agent": {"choice": ["ppo", "dqn"]}})
    assert sorted(t.configuration for t in plan_trials(repeated, tmp_path)) == [
        "agent=dqn", "agent=ppo"]  # a repeated draw is one configuration, not a seed


def test_the_table_leaves_out_trials_that_did_not_finish(tmp_path: Path) -> None:
    from agents.sweep.summary import sweep_table

    config = SweepConfig(fixed=TINY, grid={"agent": ["a2c"], "seed": [0, 1]})
    done, stopped = plan_trials(config, tmp_path)
    TrialJob("online", tmp_path)(done, lambda _: None)
    train(stopped.run_config("online"), tmp_path / stopped.name, progress=False,
          stop_after=128)  # failed or interrupted: evaluations but no trained agent
    table = sweep_table([done, stopped], tmp_path, "total_return", "max")
    assert table.loc["agent=a2c", "seeds"] == 1
    assert table.loc["agent=a2c", "total_return"] == pytest.approx(
        final_metrics(tmp_path / done.name)["total_return"])


def test_resuming_uses_the_trials_as_planned_where_the_sweep_started(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.sweep.runner import start_folder, stored_trials, sweep_record

    config = SweepConfig(fixed={"env": "RecGym/SimSet-v0",
                                "env_kwargs.simulator_set": "sims/set"},
                         grid={"agent": ["dqn"], "member": [0, 1]})
    planned = plan_trials(config, tmp_path / "here")
    start_folder(tmp_path / "out", sweep_record(config, planned), overwrite=False)
    monkeypatch.chdir(tmp_path)  # resumed from another working folder
    assert stored_trials(tmp_path / "out", config) == planned
    with pytest.raises(InputError, match="holds another sweep"):
        stored_trials(tmp_path / "out", config.replace(samples=2))
