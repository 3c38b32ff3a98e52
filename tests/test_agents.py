"""Online agents, training runs, resume, evaluation, plots and the demo."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch

import recgym
from agents import AGENT_NAMES, load_agent, make_agent
from agents.training import TrainConfig, train
from offline_data import InputError
from recgym.cli import main
from recgym.evaluate import evaluate
from recgym.runs import read_run

ENV = "RecGym/Synthetic-v0"
WORLD = {"world": {"n_users": 120, "n_items": 40, "n_topics": 5}, "history_len": 5}
SMALL = {
    "ppo": {"algo_kwargs": {"n_steps": 16, "batch_size": 64}, "encoder": "gru4rec"},
    "a2c": {"algo_kwargs": {"n_steps": 8}, "encoder": "caser"},
    "dqn": {"algo_kwargs": {"learning_starts": 64, "buffer_size": 1000}, "encoder": "sasrec"},
    "sac": {"algo_kwargs": {"learning_starts": 64, "buffer_size": 1000}, "encoder": "drr_ave"},
    "td3": {"algo_kwargs": {"learning_starts": 64, "buffer_size": 1000}, "encoder": "drr_u"},
    "deers": {"learning_starts": 64, "buffer_size": 1000},
    "drr": {"learning_starts": 64, "buffer_size": 1000, "encoder": "drr_att"},
}


def vec(n=4, **extra):
    return recgym.make_vec(ENV, n, **WORLD, **extra)


ON_ANY_ENV = [name for name in AGENT_NAMES if name != "sim2rec"]
"""sim2rec trains on a simulator set only (tests/test_sim2rec.py)."""


@pytest.mark.parametrize("name", ON_ANY_ENV)
def test_each_agent_trains_and_round_trips(name, tmp_path):
    env = vec()
    agent = make_agent(name, env, **SMALL.get(name, {}))
    agent.observe(env)
    agent.fit(env, 256)
    assert agent.num_steps >= 256
    obs, _ = env.reset(seed=4)
    actions = agent.predict(obs)
    assert np.shape(actions) == (4,)
    assert np.all((np.asarray(actions) >= 0) & (np.asarray(actions) < 40))
    agent.save(tmp_path / "agent")
    back = load_agent(tmp_path / "agent")
    back.observe(env)
    np.testing.assert_array_equal(back.predict(obs), agent.predict(obs))
    if name not in ("oracle", "planner"):  # they need the environment's whole current batch
        single = agent.predict({k: v[0] for k, v in obs.items()})
        assert np.ndim(single) == 0


@pytest.mark.parametrize("name", ["ppo", "deers", "drr"])
def test_slates_and_candidates(name):
    env = vec(slate_size=3, n_candidates=10)
    if name == "deers":
        with pytest.raises(InputError, match="slate_size=1"):
            make_agent(name, env, **SMALL[name]).fit(env, 64)
        return
    agent = make_agent(name, env, **SMALL[name]).fit(env, 128)
    obs, _ = env.reset(seed=1)
    slates = np.asarray(agent.predict(obs))
    assert slates.shape == (4, 3)
    assert all(len(set(row)) == 3 for row in slates.tolist())
    assert np.all(slates < 10)


@pytest.mark.parametrize("name", ["ppo", "dqn", "deers"])
def test_resume_gives_the_same_result_as_an_uninterrupted_run(name, tmp_path):
    config = TrainConfig(agent=name, env=ENV, env_kwargs=WORLD, steps=384, eval_every=128,
                         eval_users=8, n_envs=4, seed=3, agent_kwargs=SMALL[name])
    straight = train(config, tmp_path / "straight", progress=False)
    train(config, tmp_path / "split", progress=False, stop_after=128)
    resumed = train(config, tmp_path / "split", resume=True, progress=False)
    assert resumed.num_steps == straight.num_steps
    for (key, a), (_, b) in zip(_flat(straight.weights()), _flat(resumed.weights()), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=key)
    one = pd.read_csv(tmp_path / "straight" / "metrics.csv").drop(columns="wall_time")
    two = pd.read_csv(tmp_path / "split" / "metrics.csv").drop(columns="wall_time")
    pd.testing.assert_frame_equal(one, two)
    assert len(one) == 4  # the untrained agent at step 0, then every 128 steps


def _flat(tree, prefix=""):
    if isinstance(tree, dict):
        for key in sorted(tree):
            yield from _flat(tree[key], f"{prefix}.{key}")
    elif isinstance(tree, torch.Tensor):
        yield prefix, tree.numpy()
    elif isinstance(tree, np.ndarray):
        yield prefix, tree


def test_same_seed_same_run(tmp_path):
    config = TrainConfig(agent="drr", env=ENV, env_kwargs=WORLD, steps=256, eval_every=256,
                         eval_users=8, n_envs=4, seed=1, agent_kwargs=SMALL["drr"])
    a = train(config, tmp_path / "a", progress=False)
    b = train(config, tmp_path / "b", progress=False)
    for (_, x), (_, y) in zip(_flat(a.weights()), _flat(b.weights()), strict=True):
        np.testing.assert_array_equal(x, y)


def test_evaluate_reports_every_metric_with_intervals():
    agent = make_agent("random", vec())
    table = evaluate(agent, ENV, n_users=40, seed=0, **WORLD)
    for metric in ("ctr", "like_rate", "watch_time", "reward_per_step", "depth", "sessions",
                   "return_gap", "retention", "churn_rate", "total_return"):
        row = table.loc[metric]
        assert row["ci95_lo"] <= row["mean"] <= row["ci95_hi"], metric
    assert table.loc["ctr", "n"] == 40
    assert len(table.attrs["episodes"]) == 40
    again = evaluate(make_agent("oracle", vec()), ENV, n_users=40, seed=0, **WORLD)
    users = table.attrs["episodes"]["user_id"]
    pd.testing.assert_series_equal(again.attrs["episodes"]["user_id"], users)  # same users
    assert users.nunique() > 20


def test_train_evaluate_plot_cli(tmp_path, capsys):
    runs = []
    for seed in (0, 1):
        out = tmp_path / f"run{seed}"
        with pytest.raises(SystemExit) as info:
            main(["train", "--agent", "deers", "--steps", "128", "--seed", str(seed),
                  "--out", str(out), "--eval-every", "64", "--eval-users", "6", "--n-envs", "4",
                  "--env-kwargs", json.dumps(WORLD), "--agent-kwargs",
                  json.dumps(SMALL["deers"]), "--no-progress"])
        assert info.value.code == 0, capsys.readouterr().err
        runs.append(str(out))
        assert (out / "config.json").is_file() and (out / "agent" / "agent.json").is_file()
        assert list((out / "tb").iterdir())
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["evaluate", runs[0], "--users", "10", "--env-kwargs", json.dumps(WORLD), "--json"])
    assert info.value.code == 0
    report = json.loads(capsys.readouterr().out)["metrics"]
    for key in ("ctr", "reward_per_step", "depth", "retention", "return_gap", "total_return"):
        assert len(report[key]["ci95"]) == 2
    png = tmp_path / "curves.png"
    with pytest.raises(SystemExit) as info:
        main(["plot", *runs, "--metrics", "all", "--out", str(png)])
    assert info.value.code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    with pytest.raises(SystemExit) as info:  # an existing run is not overwritten
        main(["train", "--agent", "deers", "--steps", "128", "--out", runs[0]])
    assert info.value.code == 2


def test_train_cli_suggests_the_agent_meant(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--agent", "ppx", "--out", str(tmp_path / "bad")])
    assert info.value.code == 2
    assert "did you mean 'ppo'" in capsys.readouterr().err


def test_demo_quick(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--quick", "--out", str(tmp_path / "demo"), "--no-progress"])
    assert info.value.code == 0, capsys.readouterr().err
    table = pd.read_csv(tmp_path / "demo" / "table.csv", index_col=0)
    assert len(table) == 8 and "total_return" in table
    assert (tmp_path / "demo" / "curves.png").stat().st_size > 10_000


@pytest.mark.parametrize("name", ["ppo", "dqn", "sac", "deers", "drr", "popular", "linucb"])
def test_agents_do_not_recommend_what_the_user_just_saw(name):
    env = vec(n=8)
    agent = make_agent(name, env, **SMALL.get(name, {})).fit(env, 128)
    obs, _ = env.reset(seed=2)
    for _ in range(12):
        actions = np.asarray(agent.predict(obs))
        history = obs["history_items"]
        assert not any(a in row for a, row in zip(actions, history, strict=True))
        obs, *_ = env.step(actions)


SMALL_EMBED = {"world": {"n_users": 80, "n_items": 30, "embed_dim": 8}, "history_len": 4}
"""Another embedding size than DRR's default (a regression: loading such an agent)."""


@pytest.fixture(scope="module")
def small_drr():
    """A DRR agent trained briefly in a world with 8-dimensional item embeddings."""
    env = recgym.make_vec(ENV, 4, **SMALL_EMBED)
    return env, make_agent("drr", env, **SMALL["drr"]).fit(env, 64)


def test_drr_with_other_embedding_sizes_loads(small_drr, tmp_path):
    env, drr = small_drr
    drr.save(tmp_path / "drr")
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(load_agent(tmp_path / "drr").predict(obs), drr.predict(obs))


def test_fitting_from_an_id_twice_reuses_the_environment():
    ppo = make_agent("ppo", ENV, env_kwargs=SMALL_EMBED, n_envs=4, **SMALL["ppo"])
    ppo.fit(ENV, 64)
    ppo.fit(ENV, 64)  # the environment built from the id is reused: training continues
    assert ppo.num_steps == 128


def test_evaluate_refuses_another_environment(small_drr):
    with pytest.raises(InputError, match="another environment"):
        evaluate(small_drr[1], ENV, n_users=4, **WORLD)


def test_dqn_refuses_slates():
    with pytest.raises(InputError, match="dqn picks one item"):
        make_agent("dqn", vec(slate_size=3), **SMALL["dqn"])


@pytest.mark.parametrize("name", ["ppo", "deers"])  # an SB3 agent and an own off-policy one
def test_training_needs_a_vector_environment(name):
    env = recgym.make_vec(ENV, 4, **SMALL_EMBED)
    with pytest.raises(InputError, match=f"{name} trains on a vector environment"):
        make_agent(name, env, **SMALL[name]).fit(gym.make(ENV, **SMALL_EMBED), 64)


@pytest.mark.parametrize(("text", "message"), [
    ("[1, 2]", r"agent\.json: holds list, not a JSON object"),
    ("{not json", r"agent\.json: unreadable")], ids=["foreign", "corrupt"])
def test_damaged_agent_file_gives_a_clear_error(tmp_path, text, message):
    """A corrupt or foreign `agent.json` names the file, never a traceback from deep
    inside."""
    folder = tmp_path / "agent"
    make_agent("random", vec()).save(folder)
    (folder / "agent.json").write_text(text)
    with pytest.raises(InputError, match=message):
        load_agent(folder)


def test_resume_refuses_a_foreign_config_file(tmp_path):
    (tmp_path / "config.json").write_text('"text"')
    with pytest.raises(InputError, match="not a JSON object; the run cannot be resumed"):
        train(TrainConfig(agent="random", steps=8), tmp_path, resume=True)


@pytest.mark.parametrize(("config", "metrics", "message"), [
    ('"text"', b"step,ctr\n1,0.5\n", r"config\.json: holds str, not a JSON object"),
    ("{}", b"", r"metrics\.csv: unreadable")], ids=["foreign-config", "empty-metrics"])
def test_damaged_run_files_give_clear_errors(tmp_path, config, metrics, message):
    """Reading a run whose `config.json` or `metrics.csv` is damaged names the file."""
    (tmp_path / "config.json").write_text(config)
    (tmp_path / "metrics.csv").write_bytes(metrics)
    with pytest.raises(InputError, match=message):
        read_run(tmp_path)
