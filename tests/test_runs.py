"""Training runs: resume checks its checkpoint against the run's settings, evaluate on a
run without a trained agent, configs read from files, integer settings."""

from __future__ import annotations

import json
import re
from dataclasses import fields

import numpy as np
import pytest

import recgym
from agents import load_agent, make_agent
from agents.online.baselines import OracleConfig
from agents.training import TrainConfig, latest_checkpoint, read_config, train
from offline_data import InputError
from recgym.cli import main

ENV = "RecGym/Synthetic-v0"
WORLD = {"world": {"n_users": 60, "n_items": 20, "n_topics": 3}, "history_len": 3}


def quick(agent: str = "random", **changes) -> TrainConfig:
    """A run of a baseline that trains in no time (two chunks of 16 steps)."""
    settings = {"agent": agent, "env": ENV, "env_kwargs": WORLD, "steps": 32,
                "eval_every": 16, "eval_users": 2, "n_envs": 2, "seed": 1}
    return TrainConfig(**{**settings, **changes})


def interrupted(tmp_path, config: TrainConfig):
    """A run stopped after its first checkpoint."""
    out = tmp_path / "run"
    train(config, out, progress=False, stop_after=16)
    assert latest_checkpoint(out) is not None and not (out / "agent").exists()
    return out


def edit_config(out, **changes) -> None:
    path = out / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def cli(capsys, *args) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return info.value.code, captured.out + captured.err


def test_resume_refuses_a_checkpoint_of_another_agent(tmp_path, capsys):
    out = interrupted(tmp_path, quick("popular"))
    edit_config(out, agent="linucb")
    code, text = cli(capsys, "train", "--out", out, "--resume", "--no-progress")
    assert code == 2
    assert "agent is 'linucb' in the run's config but 'popular' in checkpoint" in text
    assert "set it back to 'popular'" in text and "trained linucb" not in text
    # checkpoints written before they kept their config: agent.json tells the agent
    out = interrupted(tmp_path / "old", quick("popular", seed=2))
    (latest_checkpoint(out) / "config.json").unlink()
    for changes, wrong in (({"agent": "linucb"}, "agent is 'linucb'"),
                           ({"seed": 3}, "seed is 3 in the run's config but 2"),
                           ({"agent_kwargs": {"smoothing": 1.0}},
                            "agent_kwargs['smoothing'] is 1 in the run's config but 5")):
        with pytest.raises(InputError, match=re.escape(wrong)):
            train(quick("popular", seed=2).replace(**changes), out, resume=True,
                  progress=False)
    # a setting the old agent.json lacks takes its default, as when the agent is loaded
    agent_json = latest_checkpoint(out) / "agent" / "agent.json"
    meta = json.loads(agent_json.read_text())
    del meta["config"]["smoothing"]
    agent_json.write_text(json.dumps(meta))
    config = quick("popular", seed=2, agent_kwargs={"smoothing": 5.0})
    assert train(config, out, resume=True, progress=False).num_steps == 32


def test_resume_names_the_first_mismatched_setting(tmp_path):
    config = quick("popular", agent_kwargs={"smoothing": 2.0})
    out = interrupted(tmp_path, config)
    for changes, wrong in (
            ({"seed": 7}, "seed is 7 in the run's config but 1 in checkpoint"),
            ({"n_envs": 3}, "n_envs is 3"),
            ({"env_kwargs": {**WORLD, "history_len": 4}}, "env_kwargs['history_len'] is 4"),
            ({"agent_kwargs": {}}, "agent_kwargs['smoothing'] is absent in the run's config "
                                   "but 2 in checkpoint"),
            ({"eval_users": 3}, "eval_users is 3")):
        with pytest.raises(InputError, match=re.escape(wrong)):
            train(config.replace(**changes), out, resume=True, progress=False)
    # the budget may change: the run continues to the new one and records it
    agent = train(config.replace(steps=48), out, resume=True, progress=False)
    assert agent.num_steps == 48 and read_config(out).steps == 48


def test_evaluate_a_run_without_a_trained_agent_says_how_to_get_one(tmp_path, capsys):
    out = interrupted(tmp_path, quick("popular"))
    code, text = cli(capsys, "evaluate", out, "--users", "2")
    assert code == 2
    checkpoint = latest_checkpoint(out)
    assert "has no trained agent yet" in text and f"recgym train --out {out} --resume" in text
    assert f"recgym evaluate {checkpoint}" in text
    code, text = cli(capsys, "evaluate", checkpoint, "--users", "2", "--json")
    assert code == 0, text
    assert json.loads(text)["metrics"]["ctr"]["mean"] >= 0


def test_config_files_refuse_unknown_keys_with_a_hint(tmp_path):
    out = interrupted(tmp_path, quick())
    edit_config(out, stepz=10)
    with pytest.raises(InputError, match=r"config\.json: unknown TrainConfig field\(s\): "
                                         r"'stepz' \(did you mean 'steps'\?\)"):
        read_config(out)
    folder = tmp_path / "agent"
    make_agent("popular", recgym.make_vec(ENV, 2, **WORLD)).save(folder)
    meta = json.loads((folder / "agent.json").read_text())
    meta["config"]["smoothng"] = 1.0
    (folder / "agent.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"agent\.json: unknown PopularConfig field\(s\): "
                                         r"'smoothng' \(did you mean 'smoothing'\?\)"):
        load_agent(folder)


def test_the_oracle_has_no_seed_and_loads_when_saved_with_one(tmp_path):
    """OracleConfig.seed had no effect and was removed; oracles saved with it load."""
    assert "seed" not in {f.name for f in fields(OracleConfig)}
    env = recgym.make_vec(ENV, 2, **WORLD)
    make_agent("oracle", env).save(tmp_path / "oracle")
    meta = json.loads((tmp_path / "oracle" / "agent.json").read_text())
    (tmp_path / "oracle" / "agent.json").write_text(json.dumps({**meta, "config": {"seed": 0}}))
    oracle = load_agent(tmp_path / "oracle")
    oracle.observe(env)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(oracle.predict(obs), make_agent("oracle", env).predict(obs))


def test_integer_settings_accept_numpy_integers_and_hold_plain_ints(tmp_path):
    config = quick(steps=np.int64(32), n_envs=np.int32(2), seed=np.int64(1),
                   eval_every=np.uint16(16), agent_kwargs={"seed": np.int64(4)})
    for name in ("steps", "n_envs", "seed", "eval_every"):
        assert type(getattr(config, name)) is int, name
    assert type(config.agent_kwargs["seed"]) is int
    env = recgym.make_vec(ENV, 2, **WORLD)
    deers = make_agent("deers", env, buffer_size=np.int64(64), learning_starts=np.int64(8),
                       batch_size=np.int32(4), n_envs=np.int64(2), seed=np.int64(0))
    assert type(deers.config.buffer_size) is int and type(deers.config.seed) is int
    sb3 = make_agent("a2c", env, n_envs=np.int64(2), seed=np.int64(3), embed_dim=np.int64(8),
                     net_arch=[np.int64(8)], algo_kwargs={"n_steps": np.int64(2)})
    assert sb3.config.net_arch == (8,) and type(sb3.config.net_arch[0]) is int
    assert type(sb3.config.algo_kwargs["n_steps"]) is int
    sb3.fit(env, np.int64(4))
    assert sb3.num_steps == 4
    with pytest.raises(InputError, match="seed must be an integer >= 0, got -1"):
        quick(seed=-1)
    with pytest.raises(InputError, match=r"steps must be an integer, got 2\.5"):
        quick(steps=2.5)
