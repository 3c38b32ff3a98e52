"""Baseline agents: random, most-popular, myopic oracle and LinUCB."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
from scipy.stats import spearmanr

import recgym
from agents import load_agent, make_agent
from agents.online.baselines import LinUCBAgent, OracleAgent, PopularAgent, RandomAgent
from agents.registry import agent_class
from offline_data.shared.errors import InputError
from simulators import synthetic_log
from simulators.world_config import WorldConfig

ENV_ID = "RecGym/Synthetic-v0"
WORLD = {"n_users": 200, "n_items": 60}
N_ITEMS = WORLD["n_items"]
MODES = {"item": {}, "slate": {"slate_size": 3}, "candidates": {"n_candidates": 10},
         "slate_candidates": {"slate_size": 3, "n_candidates": 10}}
NAMES = ("random", "popular", "oracle", "linucb")


def vec(n: int = 8, **kwargs):
    return recgym.make_vec(ENV_ID, n, world=WORLD, **kwargs)


def single(**kwargs):
    return gym.make(ENV_ID, world=WORLD, **kwargs)


def click_rate(agent, env, steps: int = 60, seed: int = 123) -> float:
    """Mean primary signal per shown item over `steps` vector steps."""
    obs, _ = env.reset(seed=seed)
    if isinstance(agent, OracleAgent):
        agent.attach(env)
    clicks = shown = 0.0
    for _ in range(steps):
        obs, _, _, _, info = env.step(agent.predict(obs))
        mask = info.get("_slate", np.zeros(env.num_envs, dtype=bool))
        clicks += info["reward_vector"][mask, 0].sum()
        shown += mask.sum() * env.unwrapped.core.spec.slate_size
    return clicks / shown


def check_vector_actions(actions, n_envs: int, k: int, limit: int) -> None:
    actions = np.asarray(actions)
    assert actions.dtype.kind in "iu"
    assert actions.shape == ((n_envs,) if k == 1 else (n_envs, k))
    assert actions.min() >= 0 and actions.max() < limit
    if k > 1:
        assert all(len(set(row.tolist())) == k for row in actions)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", NAMES)
def test_valid_actions_in_every_mode(name, mode):
    kwargs = MODES[mode]
    k = kwargs.get("slate_size", 1)
    limit = kwargs.get("n_candidates", N_ITEMS)
    env = vec(4, **kwargs)
    agent = make_agent(name, env)
    agent.fit(env, 40)
    obs, _ = env.reset(seed=1)
    if name == "oracle":
        agent.attach(env)
    for _ in range(15):
        actions = agent.predict(obs)
        check_vector_actions(actions, 4, k, limit)
        obs, *_ = env.step(actions)

    env1 = single(**kwargs)
    agent1 = make_agent(name, env1)
    agent1.fit(env1, 10)
    obs1, _ = env1.reset(seed=2)
    for _ in range(15):
        action = agent1.predict(obs1)
        assert env1.action_space.contains(action)  # a Slate rejects repeated items
        obs1, _, terminated, truncated, _ = env1.step(action)
        if terminated or truncated:
            obs1, _ = env1.reset()


def test_random_agent_is_seeded():
    env = vec(4, slate_size=3)
    obs, _ = env.reset(seed=0)
    first = [make_agent("random", env, seed=5).predict(obs) for _ in range(2)]
    np.testing.assert_array_equal(first[0], first[1])
    agent = make_agent("random", env, seed=5)
    a, b = agent.predict(obs), agent.predict(obs)
    assert not np.array_equal(a, b)  # random even when deterministic=True
    other = make_agent("random", env, seed=6).predict(obs)
    assert not np.array_equal(first[0], other)
    # uniform over items
    many = np.concatenate([agent.predict(obs).ravel() for _ in range(500)])
    counts = np.bincount(many, minlength=N_ITEMS)
    assert counts.min() > 0.5 * counts.mean() and counts.max() < 1.5 * counts.mean()


@pytest.mark.parametrize("name", ["popular", "linucb"])
def test_fit_is_seeded(name):
    runs = [make_agent(name, ENV_ID, n_envs=4, env_kwargs={"world": WORLD}, seed=s)
            .fit(ENV_ID, 200) for s in (3, 3, 4)]
    key = "shows" if name == "popular" else "a_inv"
    np.testing.assert_array_equal(runs[0].weights()[key], runs[1].weights()[key])
    assert not np.array_equal(runs[0].weights()[key], runs[2].weights()[key])
    assert runs[0].num_steps == 200


@pytest.mark.parametrize("mode", ["item", "slate_candidates"])
@pytest.mark.parametrize("name", NAMES)
def test_save_and_load_give_identical_predictions(tmp_path, name, mode):
    env = vec(4, **MODES[mode])
    agent = make_agent(name, env, **({} if name == "oracle" else {"seed": 1}))
    agent.fit(env, 120)
    agent.save(tmp_path / "agent")
    loaded = load_agent(tmp_path / "agent")
    assert type(loaded) is type(agent) and loaded.num_steps == agent.num_steps
    assert loaded.config == agent.config
    obs, _ = env.reset(seed=9)
    if name == "oracle":
        loaded.attach(env)
    for _ in range(5):
        expected = agent.predict(obs)
        np.testing.assert_array_equal(loaded.predict(obs), expected)
        obs, *_ = env.step(expected)


@pytest.mark.parametrize("name", ["popular", "linucb"])
def test_training_resumes_exactly(tmp_path, name):
    config = {"seed": 2}
    straight = make_agent(name, vec(4, slate_size=2), **config)
    env = vec(4, slate_size=2)
    straight.fit(env, 160)
    straight.fit(env, 160)

    first = make_agent(name, vec(4, slate_size=2), **config)
    first.fit(vec(4, slate_size=2), 160)
    first.save(tmp_path / "ckpt", training_state=True)
    env2 = vec(4, slate_size=2)
    resumed = load_agent(tmp_path / "ckpt", env=env2)
    resumed.fit(env2, 160)
    assert resumed.num_steps == straight.num_steps == 320
    for key, value in straight.weights().items():
        np.testing.assert_allclose(resumed.weights()[key], value, rtol=0, atol=1e-12)


def _true_click_rates(env) -> np.ndarray:
    world = env.unwrapped.core.sim
    state = world.start(np.arange(world.n_users))
    return world.click_prob(state, np.arange(world.n_items)).mean(axis=0)


def test_popular_fit_ranks_truly_popular_items_high():
    env = vec(8)
    agent = make_agent("popular", env).fit(env, 3000)
    truth = _true_click_rates(env)
    assert spearmanr(agent.scores(), truth)[0] > 0.6
    top = set(agent.order[:10].tolist())
    assert len(top & set(np.argsort(-truth)[:10].tolist())) >= 5
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(agent.predict(obs), np.full(8, agent.order[0]))
    # every shown item was counted (not the rows being reset after an episode ended)
    assert 0.9 * 3000 < agent.shows.sum() <= 3000


@pytest.fixture(scope="module")
def log():
    """A two-day synthetic log of the tests' world."""
    return synthetic_log(n_users=200, n_days=2, seed=0,
                         config=WorldConfig(n_users=200, n_items=N_ITEMS))


def test_popular_from_log_uses_the_primary_signal(log):
    env = vec(4, n_candidates=10)
    agent = PopularAgent.from_log(log, env)
    frame = log.interactions
    np.testing.assert_array_equal(agent.shows, np.bincount(frame.item_id, minlength=N_ITEMS))
    assert agent.successes.sum() == pytest.approx(frame["click"].sum())
    assert spearmanr(agent.scores(), _true_click_rates(env))[0] > 0.5
    obs, _ = env.reset(seed=0)
    chosen = agent.predict(obs)
    best = [int(np.argmin(agent._position[c])) for c in obs["candidates"]]
    np.testing.assert_array_equal(chosen, best)


def test_popular_from_log_refuses_a_smaller_catalogue(log):
    too_small = dataclasses.replace(vec(4).unwrapped.core.spec, n_items=10, n_candidates=None)
    with pytest.raises(InputError, match="item ids"):
        PopularAgent.from_log(log, too_small)


def test_popular_ties_go_to_the_lower_item_id():
    env = vec(2, slate_size=3)
    obs, _ = env.reset(seed=0)
    agent = make_agent("popular", env)  # no counts: every item ties
    np.testing.assert_array_equal(agent.predict(obs), [[0, 1, 2], [0, 1, 2]])


def test_oracle_is_greedy_on_the_simulator():
    env = vec(8)
    oracle = make_agent("oracle", env)
    obs, _ = env.reset(seed=4)
    for _ in range(5):
        action = oracle.predict(obs)
        np.testing.assert_array_equal(action, env.unwrapped.core.primary_scores().argmax(1))
        obs, *_ = env.step(action)


def test_oracle_ranks_candidates_greedily():
    cand = vec(4, n_candidates=10, slate_size=2)
    oracle_c = make_agent("oracle", cand)
    obs, _ = cand.reset(seed=0)
    scores = np.take_along_axis(cand.unwrapped.core.primary_scores(), obs["candidates"], 1)
    np.testing.assert_array_equal(oracle_c.predict(obs), np.argsort(-scores, 1)[:, :2])


def test_oracle_is_greedy_in_a_single_environment():
    one = single()
    oracle_1 = make_agent("oracle", one)
    obs1, _ = one.reset(seed=0)
    assert oracle_1.predict(obs1) == int(one.unwrapped.core.primary_scores()[0].argmax())


def test_oracle_beats_random():
    env = vec(8)
    oracle_ctr = click_rate(make_agent("oracle", env), vec(16))
    random_ctr = click_rate(make_agent("random", env), vec(16))
    assert oracle_ctr > random_ctr + 0.2


@pytest.mark.parametrize("name", ["oracle", "planner"])
def test_unattached_hidden_state_reader_raises_input_error(name, tmp_path):
    env = vec(2)
    obs, _ = env.reset(seed=0)
    with pytest.raises(InputError, match="attach"):
        agent_class(name)(env.unwrapped.core.spec).predict(obs)
    make_agent(name, env).save(tmp_path / name)
    with pytest.raises(InputError, match="attach"):
        load_agent(tmp_path / name).predict(obs)
    with pytest.raises(InputError, match="not the current one"):
        make_agent(name, vec(3)).predict(obs)


def test_linucb_learns_to_beat_random():
    env = vec(8)
    agent = make_agent("linucb", env)
    assert isinstance(agent, LinUCBAgent)
    agent.fit(env, 3000)
    linucb_ctr = click_rate(agent, vec(16))
    random_ctr = click_rate(RandomAgent(env.unwrapped.core.spec), vec(16))
    assert linucb_ctr > random_ctr + 0.1


def test_linucb_update_matches_ridge_regression():
    env = vec(2)
    agent = make_agent("linucb", env, ridge=2.0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, agent.dim))
    items = rng.integers(0, 3, 40)
    rewards = rng.random(40)
    agent.update(x, items, rewards)
    for item in range(3):
        rows = items == item
        a = 2.0 * np.eye(agent.dim) + x[rows].T @ x[rows]
        np.testing.assert_allclose(agent.a_inv[item], np.linalg.inv(a), atol=1e-10)
        np.testing.assert_allclose(agent.theta[item],
                                   np.linalg.solve(a, x[rows].T @ rewards[rows]), atol=1e-10)


@pytest.mark.parametrize("name", ["popular", "linucb", "oracle"])
def test_agents_refuse_an_environment_with_other_spaces(name):
    other = recgym.make_vec(ENV_ID, 4, world={"n_users": 50, "n_items": 30})
    agent = make_agent(name, vec())
    with pytest.raises(InputError, match=f"{name}: the environment's spaces differ"):
        agent.attach(other)
