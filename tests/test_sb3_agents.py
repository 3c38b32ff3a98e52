"""stable-baselines3 agents: one registered class per algorithm, the pinned SB3 version
behind their private state, and exact training in chunks and across a save / load."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import stable_baselines3
import torch
from packaging.specifiers import SpecifierSet

import recgym
from agents import AGENT_NAMES, load_agent, make_agent
from agents.checkpoint import capture_rng, restore_rng
from agents.online import sb3_internals
from agents.online.sb3_agents import A2CAgent, DQNAgent, PPOAgent, SACAgent, TD3Agent
from agents.registry import ENTRY_POINTS, agent_class
from offline_data import InputError

ENV = "RecGym/Synthetic-v0"
WORLD = {"world": {"n_users": 80, "n_items": 30, "n_topics": 4}, "history_len": 4}
OFF = {"learning_starts": 24, "buffer_size": 500, "batch_size": 16}
SETTINGS = {
    "a2c": {"algo_kwargs": {"n_steps": 4}, "encoder": "drr_ave", "embed_dim": 8,
            "hidden_dim": 8, "net_arch": (16,)},
    "dqn": {"algo_kwargs": {**OFF, "target_update_interval": 16}, "encoder": "drr_ave",
            "embed_dim": 8, "hidden_dim": 8, "net_arch": (16,)},
    "sac": {"algo_kwargs": OFF, "encoder": "drr_u", "embed_dim": 8, "hidden_dim": 8,
            "net_arch": (16,)},
    "td3": {"algo_kwargs": OFF, "encoder": "drr_u", "embed_dim": 8, "hidden_dim": 8,
            "net_arch": (16,)},
}


def vec(n: int = 4):
    return recgym.make_vec(ENV, n, **WORLD)


def test_every_agent_is_one_class_registered_by_its_name():
    classes = {name: agent_class(name) for name in AGENT_NAMES}
    assert len(set(classes.values())) == len(AGENT_NAMES)  # no class serves two names
    assert all(cls.name == name for name, cls in classes.items())
    assert [classes[n] for n in ("ppo", "a2c", "dqn", "sac", "td3")] == [
        PPOAgent, A2CAgent, DQNAgent, SACAgent, TD3Agent]
    assert all(re.fullmatch(r"[\w.]+:\w+", entry) for entry in ENTRY_POINTS.values())
    agent = make_agent("a2c", vec(), **SETTINGS["a2c"])
    assert type(agent) is A2CAgent and agent.name == "a2c"


def test_sb3_private_state_is_pinned_to_the_installed_minor_version():
    """sb3_internals touches SB3's private attributes: the installed SB3 must be the minor
    version they were written for, and pyproject must pin it."""
    series = sb3_internals.SB3_SERIES
    assert stable_baselines3.__version__.startswith(series + ".")
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    pins = re.findall(r'"stable-baselines3([^"]*)"', pyproject)
    assert len(pins) == 1
    allowed = SpecifierSet(pins[0])
    major, minor = map(int, series.split("."))
    assert f"{series}.0" in allowed and stable_baselines3.__version__ in allowed
    assert f"{major}.{minor + 1}.0" not in allowed and f"{major}.{minor - 1}.99" not in allowed


def test_weights_of_another_algorithm_are_refused(tmp_path):
    env = vec()
    make_agent("a2c", env, **SETTINGS["a2c"]).save(tmp_path / "a2c")
    meta = (tmp_path / "a2c" / "agent.json").read_text()
    (tmp_path / "a2c" / "agent.json").write_text(meta.replace('"a2c"', '"ppo"'))
    with pytest.raises(InputError, match=r"weights\.pt: does not match .*a2c agent, not ppo"):
        load_agent(tmp_path / "a2c")


def test_chunks_with_a_budget_train_exactly_as_one_fit():
    """DQN's exploration follows the budget, so two chunks equal one uninterrupted fit."""
    settings = {**SETTINGS["dqn"], "algo_kwargs": {**SETTINGS["dqn"]["algo_kwargs"],
                                                   "exploration_fraction": 1.0}}
    one_env, two_env = vec(), vec()
    one = make_agent("dqn", one_env, seed=2, **settings).fit(one_env, 96)
    two = make_agent("dqn", two_env, seed=2, **settings).fit(two_env, 48, budget=96)
    # epsilon decays from 1 to 0.05 over the whole budget: halfway it is 0.525
    assert two.model.exploration_rate == pytest.approx(1 - 0.95 * 48 / 96)
    two.fit(two_env, 48, budget=96)
    assert two.model.exploration_rate == one.model.exploration_rate
    _assert_same(one.weights(), two.weights())


@pytest.mark.parametrize("name", ["dqn", "a2c"])
def test_fit_on_an_env_id_repeats_with_the_seed(name):
    """`make_agent(name, id)` then `fit(id)` trains in an environment `fit` builds (not the
    one the model was built with); it starts from the agent's seed, so the run repeats."""
    settings = {**SETTINGS[name], "env_kwargs": WORLD, "n_envs": 4}
    first, second = (make_agent(name, ENV, seed=3, **settings).fit(ENV, 48) for _ in "12")
    _assert_same(first.weights(), second.weights())
    _assert_same(first.training_state(), second.training_state())


@pytest.mark.parametrize("name", ["a2c", "sac", "td3"])
def test_training_resumes_exactly_after_save_and_load(name, tmp_path):
    """PPO and DQN are checked through whole runs (test_agents); here the other SB3
    agents: fit, save with the training state, load into a new environment, fit on."""
    env = vec()
    straight = make_agent(name, env, seed=4, **SETTINGS[name])
    straight.fit(env, 48, budget=96)
    rng = capture_rng()
    straight.fit(env, 48, budget=96)

    env1, env2 = vec(), vec()
    first = make_agent(name, env1, seed=4, **SETTINGS[name]).fit(env1, 48, budget=96)
    first.save(tmp_path / "ckpt", training_state=True)
    resumed = load_agent(tmp_path / "ckpt", env=env2)
    restore_rng(rng)
    resumed.fit(env2, 48, budget=96)
    assert resumed.num_steps == straight.num_steps == 96
    _assert_same(straight.weights(), resumed.weights())
    _assert_same(straight.training_state(), resumed.training_state())


def _assert_same(a, b, where=""):
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for key in a:
            _assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, where
