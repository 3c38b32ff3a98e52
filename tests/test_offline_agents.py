"""Offline agents: d3rlpy algorithms over logged episodes with recgym encoders, IQL in
item-embedding space, the behaviour and most-popular baselines; the agent interface (fit in
chunks, predict on the environment's observations, save / load / resume), masking, large
catalogues, bad input, and that they learn."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
import torch
from resume_check import assert_same, check_exact_resume

import recgym
from agents import AGENT_NAMES, load_agent, make_agent
from agents.offline import (
    BCAgent,
    BehaviourAgent,
    BehaviourConfig,
    CQLAgent,
    IQLAgent,
    OfflineAgent,
    popular_from_dataset,
)
from agents.offline import d3rlpy_internals as internals
from agents.online.baselines.popular import PopularAgent
from agents.online.baselines.random_agent import RandomAgent
from agents.registry import ENTRY_POINTS, OFFLINE_AGENT_NAMES, agent_class
from offline_data import InputError
from recgym import EnvConfig
from recgym.encoders import ENCODERS
from recgym.evaluate import evaluate
from recgym.offline import episodes_from_log
from recgym.offline.policy import StochasticPolicy
from simulators import SyntheticWorld, WorldConfig
from simulators.policies import make_policy

ENV = "RecGym/Synthetic-v0"
WEIGHTS = {"click": 1.0, "like": 1.0, "watch_ratio": 1.0, "retention": 5.0}
CONFIG = EnvConfig(history_len=4, max_sessions=3)
LEARNERS = ("bc", "bcq", "cql", "discrete_sac", "double_dqn", "iql")
TINY = {"embed_dim": 8, "hidden_dim": 16, "batch_size": 16}
FAST_TARGETS = {"bcq": 7, "cql": 7, "double_dqn": 7, "discrete_sac": 7}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def small():
    """(world, dataset) of a small softmax-logged synthetic world."""
    world = SyntheticWorld(WorldConfig(n_users=60, n_items=30, n_topics=4), seed=0)
    log = world.generate_log("softmax", max_sessions=3, seed=0)
    return world, episodes_from_log(log, CONFIG, WEIGHTS, simulator=world,
                                    episodes_per_user=1)


def vec(world, n=4, config=CONFIG):
    return recgym.make_vec(ENV, n, world=world, config=config, reward_weights=WEIGHTS)


def build(name, world, data, **settings):
    """A tiny agent of `name` for `data` (IQL gets the world's item embeddings)."""
    settings = {**TINY, **settings}
    if name in FAST_TARGETS:
        settings.setdefault("target_update_interval", FAST_TARGETS[name])
    if name == "iql":
        return IQLAgent.create(data, IQLAgent.config_class(**settings), embeddings=world)
    return make_agent(name, data, **settings)


# ---------------------------------------------------------------------- registry
def test_offline_agents_are_registered_one_class_per_name():
    classes = {name: agent_class(name) for name in OFFLINE_AGENT_NAMES}
    assert len(set(classes.values())) == len(OFFLINE_AGENT_NAMES)
    assert all(cls.name == name for name, cls in classes.items())
    assert all(getattr(cls, "offline", False) for cls in classes.values())
    # `recgym train` lists only agents that learn in an environment
    assert not set(OFFLINE_AGENT_NAMES) & set(AGENT_NAMES)
    assert set(OFFLINE_AGENT_NAMES) | set(AGENT_NAMES) == set(ENTRY_POINTS)
    assert {"sac", "dqn"} <= set(AGENT_NAMES)  # no clash with the online names
    with pytest.raises(InputError, match="did you mean 'cql'"):
        agent_class("cqll")
    with pytest.raises(InputError, match="did you mean 'discrete_sac'"):
        make_agent("discrete_sca", object())


# ---------------------------------------------------------------------- interface
@pytest.mark.parametrize("name", LEARNERS)
def test_each_agent_fits_predicts_and_round_trips(name, small, tmp_path):
    world, data = small
    agent = build(name, world, data).fit(data, 12)
    assert isinstance(agent, OfflineAgent) and agent.num_steps == 12 and agent.losses
    env = vec(world)
    agent.observe(env)
    obs, _ = env.reset(seed=4)
    actions = agent.predict(obs)
    assert np.shape(actions) == (4,) and np.all((actions >= 0) & (actions < 30))
    single = agent.predict({k: v[0] for k, v in obs.items()})
    assert np.ndim(single) == 0 and single == actions[0]
    probs = agent.action_probabilities(obs)
    assert isinstance(agent, StochasticPolicy)
    assert probs.shape == (4, 30)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert np.all(probs[np.arange(4), actions] == probs.max(axis=1))
    agent.save(tmp_path / "agent")
    back = load_agent(tmp_path / "agent")
    assert type(back) is type(agent) and back.num_steps == 12
    np.testing.assert_array_equal(back.predict(obs), actions)
    np.testing.assert_allclose(back.action_probabilities(obs), probs)
    assert not (tmp_path / "agent" / "training.pt").exists()


@pytest.mark.parametrize("name", LEARNERS)
def test_chunks_and_a_resumed_run_equal_one_run_bit_for_bit(name, small, tmp_path):
    world, data = small
    check_exact_resume(lambda: build(name, world, data, seed=3), data, tmp_path)


def test_every_encoder_serves_the_offline_agents(small):
    """Every recgym encoder as the state encoder (CQL) and as the state-action encoder of
    a continuous critic (IQL): the two ways d3rlpy builds networks from it."""
    world, data = small
    obs = {k: v[:8] for k, v in data.observations.items()}
    for encoder in ENCODERS:
        for name in ("cql", "iql"):
            agent = build(name, world, data, encoder=encoder).fit(data, 1)
            assert np.shape(agent.predict(obs)) == (8,), (encoder, name)


def test_same_seed_same_agent_and_seeds_differ(small):
    world, data = small
    a, b = (build("cql", world, data, seed=5).fit(data, 15) for _ in range(2))
    assert_same(a.weights(), b.weights())
    c = build("cql", world, data, seed=6).fit(data, 15)
    assert not torch.equal(a.weights()["networks"]["q_funcs"]["0._fc.weight"],
                           c.weights()["networks"]["q_funcs"]["0._fc.weight"])


def test_scores_follow_d3rlpy_and_the_pin_holds(small):
    """The scores read from d3rlpy's networks (d3rlpy_internals) pick the action d3rlpy's
    own `predict` picks, when nothing is masked; and d3rlpy is the pinned minor version."""
    world, data = small
    flat = data.flat_observations()[:50]
    for name in LEARNERS:
        agent = build(name, world, data, exclude_seen=False).fit(data, 10)
        ours = agent.item_scores(flat)
        theirs = agent.d3rlpy_predict(flat)
        if name == "iql":  # d3rlpy predicts the ranking vector
            np.testing.assert_allclose(agent.vectors(flat), theirs, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(ours, theirs @ agent.embeddings.T, rtol=1e-4,
                                       atol=1e-5)
        else:
            np.testing.assert_array_equal(ours.argmax(axis=1), theirs)
    assert version("d3rlpy").startswith(internals.D3RLPY_SERIES + ".")
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"d3rlpy>=2.8,<2.9"' in pyproject


def test_recently_seen_items_are_masked(small):
    world, data = small
    env = vec(world, n=8)
    for name in ("cql", "bc", "iql"):
        agent = build(name, world, data).fit(data, 20)
        obs, _ = env.reset(seed=2)
        for _ in range(10):
            actions = np.asarray(agent.predict(obs))
            assert not any(a in row for a, row in zip(actions, obs["history_items"],
                                                      strict=True))
            probs = agent.action_probabilities(obs)
            seen = obs["history_items"]
            rows = np.repeat(np.arange(8), seen.shape[1])
            valid = seen.reshape(-1) < 30
            assert np.all(probs[rows[valid], seen.reshape(-1)[valid]] == 0.0)
            obs, *_ = env.step(actions)
        sampled = np.asarray(agent.predict(obs, deterministic=False))
        assert not any(a in row for a, row in zip(sampled, obs["history_items"], strict=True))


def test_bc_samples_from_its_softmax_and_saves_its_generator(small, tmp_path):
    world, data = small
    agent = build("bc", world, data).fit(data, 30)
    batch = {k: np.repeat(v[:1], 400, axis=0) for k, v in data.observations.items()}
    draws = np.asarray(agent.predict(batch, deterministic=False))
    probs = agent.action_probabilities(batch)[0]
    counts = np.bincount(draws, minlength=30) / 400
    assert np.abs(counts - probs).max() < 0.1
    agent.save(tmp_path / "bc", training_state=True)
    back = load_agent(tmp_path / "bc")
    np.testing.assert_array_equal(back.predict(batch, deterministic=False),
                                  agent.predict(batch, deterministic=False))


def test_iql_ranks_slates_in_embedding_space():
    world = SyntheticWorld(WorldConfig(n_users=40, n_items=30, n_topics=4), seed=1)
    log = world.generate_log("softmax", max_sessions=2, seed=1, slate_size=3)
    config = CONFIG.replace(slate_size=3)
    data = episodes_from_log(log, config, WEIGHTS, simulator=world, episodes_per_user=1)
    env = vec(world, config=config)
    agent = make_agent("iql", env, **TINY).fit(data, 10)  # embeddings from the environment
    np.testing.assert_allclose(np.linalg.norm(agent.embeddings, axis=1), 1.0, rtol=1e-5)
    obs, _ = env.reset(seed=0)
    slates = np.asarray(agent.predict(obs))
    assert slates.shape == (4, 3) and all(len(set(row)) == 3 for row in slates.tolist())
    with pytest.raises(InputError, match="slates of 3"):
        agent.action_probabilities(obs)
    with pytest.raises(InputError, match="slate_size 3; build it with"):
        make_agent("cql", data)


# ---------------------------------------------------------------------- large catalogues
def test_a_catalogue_of_thousands_of_items(kuairand_smoke):
    """The KuaiRand smoke log (1,244 items, 8 signals, 199 user features): Q and
    probabilities over every item, seen items masked."""
    from offline_data import load_kuairand

    folder, name = kuairand_smoke
    log = load_kuairand(folder, files=[name])
    data = episodes_from_log(log)
    n = data.spec.n_items
    assert n > 1000
    rng = np.random.default_rng(0)
    batch = {k: v[:64] for k, v in data.observations.items()}
    for algo in ("cql", "bc", "iql"):
        agent = (IQLAgent.create(data, IQLAgent.config_class(**TINY),
                                 embeddings=rng.normal(size=(n, 16)))
                 if algo == "iql" else make_agent(algo, data, **TINY))
        agent.fit(data, 5)
        probs = agent.action_probabilities(batch)
        assert probs.shape == (64, n)
        seen = batch["history_items"]
        rows = np.repeat(np.arange(64), seen.shape[1])
        valid = seen.reshape(-1) < n
        assert np.all(probs[rows[valid], seen.reshape(-1)[valid]] == 0.0)


# ---------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def misuse(small):
    """What the bad-input cases need: world, dataset, a dataset logged with another
    history length and catalogue, and an untrained CQL agent."""
    world, data = small
    other = SyntheticWorld(WorldConfig(n_users=60, n_items=30, n_topics=4), seed=0)
    other_data = episodes_from_log(other.generate_log("softmax", max_sessions=2, seed=0),
                                   CONFIG.replace(history_len=6), WEIGHTS, simulator=other,
                                   episodes_per_user=1)
    return {"world": world, "data": data, "other_data": other_data,
            "agent": build("cql", world, data)}


BAD_INPUTS = {
    "fit-other-dataset": (lambda m: m["agent"].fit(m["other_data"], 5),
                          "does not match the environment .*history_len"),
    "fit-environment": (lambda m: m["agent"].fit(vec(m["world"]), 5),
                        "offline agent: fit it on a TrajectoryDataset"),
    "predict-other-observations": (lambda m: m["agent"].predict(m["other_data"].observations),
                                   r"history_items.*dataset's settings"),
    "evaluate-other-environment": (lambda m: evaluate(m["agent"], ENV, n_users=4,
                                                      world=m["world"], history_len=6),
                                   "another environment"),
    "observe-other-environment": (lambda m: m["agent"].observe(
        vec(m["world"], config=CONFIG.replace(history_len=6))),
        "evaluate it in an environment built with the dataset's"),
    "predict-not-a-dict": (lambda m: m["agent"].predict({"history_items": np.zeros(4)}),
                           "observation dict"),
    "iql-without-embeddings": (lambda m: make_agent("iql", m["data"]), "pass embeddings="),
    "iql-embeddings-shape": (lambda m: IQLAgent.create(m["data"], embeddings=np.zeros((7, 3))),
                             r"shape \(30, d\)"),
    "algo-kwargs-typo": (lambda m: make_agent("cql", m["data"], algo_kwargs={"alhpa": 2.0}),
                         "did you mean 'alpha'"),
    "algo-kwargs-refused": (lambda m: make_agent("cql", m["data"],
                                                 algo_kwargs={"n_critics": 0}),
                            "d3rlpy refused"),
    "gamma": (lambda m: make_agent("cql", m["data"], gamma=2.0),
              r"gamma must be a number in \[0, 1\]"),
    "encoder-typo": (lambda m: make_agent("bc", m["data"], encoder="sasrek"),
                     "did you mean 'sasrec'"),
    "dataset-path": (lambda m: make_agent("cql", "data.parquet"), None),
    "policy-typo": (lambda m: make_agent("behaviour", m["data"], policy="sofmax"),
                    "did you mean 'softmax'"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_gets_one_line_errors_that_name_the_fix(misuse, case):
    call, pattern = BAD_INPUTS[case]
    with pytest.raises(InputError) as info:
        call(misuse)
    message = str(info.value)
    assert "\n" not in message
    if pattern is not None:
        assert re.search(pattern, message), message


def test_damaged_weights_file_is_named(small, tmp_path):
    world, data = small
    spent = build("cql", world, data).fit(data, 3)
    spent.save(tmp_path / "cql")
    (tmp_path / "cql" / "weights.pt").write_bytes(b"garbage")
    with pytest.raises(InputError, match=r"weights\.pt: not a readable recgym state file"):
        load_agent(tmp_path / "cql")


# ---------------------------------------------------------------------- baselines
def test_behaviour_agent_acts_as_the_logging_policy(small, tmp_path):
    world, data = small
    env = vec(world)
    agent = make_agent("behaviour", env, policy="softmax", seed=1)
    obs, _ = env.reset(seed=3)
    policy = make_policy("softmax")
    core = env.core
    expected = np.stack([policy.propensity(world, core.state, np.full((4, 1), i))
                         for i in range(30)], axis=1)
    probs = agent.action_probabilities(obs)
    np.testing.assert_allclose(probs, expected)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    # sampling follows those probabilities (many draws of the same users)
    draws = np.stack([agent.predict(obs) for _ in range(300)])
    assert np.mean(draws == probs.argmax(axis=1)) > 0.5 * probs.max(axis=1).mean()
    agent.save(tmp_path / "behaviour")
    back = load_agent(tmp_path / "behaviour")
    back.observe(env)
    np.testing.assert_array_equal(back.predict(obs), agent.predict(obs))
    with pytest.raises(InputError, match="attach it"):
        make_agent("behaviour", data).predict(obs)
    # the hook for a fitted behaviour model: any StochasticPolicy over observations
    bc = build("bc", world, data).fit(data, 20)
    modelled = BehaviourAgent.from_model(bc, data, BehaviourConfig(seed=0))
    np.testing.assert_allclose(modelled.action_probabilities(obs),
                               bc.action_probabilities(obs))
    assert np.shape(modelled.predict(obs)) == (4,)
    with pytest.raises(InputError, match="save the model"):
        modelled.save(tmp_path / "modelled")


def test_popular_from_the_dataset_counts_as_from_the_log(small):
    world, _ = small
    log = world.generate_log("softmax", max_sessions=3, seed=0)
    data = episodes_from_log(log, CONFIG, WEIGHTS, simulator=world)  # every step kept
    agent = popular_from_dataset(data)
    reference = PopularAgent.from_log(log, data.spec)
    np.testing.assert_array_equal(agent.shows, reference.shows)
    np.testing.assert_allclose(agent.successes, reference.successes)
    obs, _ = vec(world).reset(seed=0)
    np.testing.assert_array_equal(agent.predict(obs), reference.predict(obs))


# ---------------------------------------------------------------------- learning
@pytest.fixture(scope="module")
def softmax_world():
    """A small synthetic world, its softmax log as env episodes, and a function giving an
    agent's true return there (mean and 95% interval over the same 200 users)."""
    world = SyntheticWorld(WorldConfig(n_users=150, n_items=40, n_topics=4), seed=0)
    log = world.generate_log("softmax", max_sessions=6, seed=0)
    config = EnvConfig(history_len=5, max_sessions=3)
    data = episodes_from_log(log, config, WEIGHTS, simulator=world, episodes_per_user=1)

    def true_return(agent):
        table = evaluate(agent, ENV, n_users=200, seed=100, world=world, config=config,
                         reward_weights=WEIGHTS)
        return table.loc["total_return", ["mean", "ci95_lo", "ci95_hi"]].tolist()

    return world, data, true_return


def test_cql_and_bc_beat_random_on_the_true_return(softmax_world):
    """On a softmax-logged synthetic world, CQL and BC trained offline earn a clearly
    higher true return than a random policy in that world (seeded; ~10 s)."""
    _, data, true_return = softmax_world
    random_mean, _, random_hi = true_return(RandomAgent(data.spec))
    for cls in (CQLAgent, BCAgent):
        agent = cls.create(data, cls.config_class(seed=0)).fit(data, 300)
        mean, _, _ = true_return(agent)
        assert mean > random_hi + 3.0, (cls.name, mean, random_mean)
        assert mean > 1.2 * random_mean, (cls.name, mean, random_mean)


@pytest.mark.parametrize("name, steps", [("bcq", 300), ("discrete_sac", 300), ("iql", 1000)])
def test_the_other_learners_beat_random_too(name, steps, softmax_world):
    """BCQ, discrete SAC and IQL learn as well: their 95% interval of the true return lies
    above random's (seeded). Double DQN, the naive baseline, is left out on purpose: with
    nothing to keep it near the logged items it degrades as it trains (above random at 300
    steps, below at 1,000 here), the extrapolation error the others are built against."""
    world, data, true_return = softmax_world
    _, _, random_hi = true_return(RandomAgent(data.spec))
    agent = (IQLAgent.create(data, IQLAgent.config_class(seed=0), embeddings=world)
             if name == "iql" else make_agent(name, data, seed=0))
    mean, low, _ = true_return(agent.fit(data, steps))
    assert low > random_hi, (name, mean, low, random_hi)
