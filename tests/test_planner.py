"""The planning oracle (`planner`): lookahead on the true state for the combined reward,
and the engine helpers it simulates with."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from scipy import stats
from simulator_stubs import BareSimulator

import recgym
from agents import load_agent, make_agent
from agents.online.baselines.planner import PlannerAgent, PlannerConfig
from offline_data.shared.errors import InputError
from recgym.envs.vector import RecVectorEnv
from recgym.evaluate import evaluate
from recgym.masking import seen_mask
from simulators import SyntheticWorld, WorldConfig

ENV_ID = "RecGym/Synthetic-v0"
WORLD = {"n_users": 300, "n_items": 60}
SMALL = {"candidates": 2, "rollouts": 4, "horizon": 6}
"""A cheap planner for tests (the defaults plan deeper)."""
MODES = {"slate": {"slate_size": 3}, "candidates": {"n_candidates": 10},
         "slate_candidates": {"slate_size": 2, "n_candidates": 8}}


def vec(n: int = 4, **kwargs):
    return recgym.make_vec(ENV_ID, n, world=WORLD, **kwargs)


def paired_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """95% t-interval of the mean of b - a."""
    d = np.asarray(b) - np.asarray(a)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return d.mean() - half, d.mean() + half


def test_planner_beats_the_click_greedy_oracle_on_episode_return():
    kwargs = {"world": WORLD, "max_sessions": 2}
    env = recgym.make_vec(ENV_ID, 4, **kwargs)
    returns = {name: evaluate(make_agent(name, env, **config), ENV_ID, n_users=64, seed=7,
                              **kwargs).attrs["episodes"]["total_return"].to_numpy()
               for name, config in (("oracle", {}), ("planner", SMALL))}
    low, _ = paired_interval(returns["oracle"], returns["planner"])
    assert low > 0  # the same users (seeded), the gain is outside the noise
    assert returns["planner"].mean() > 1.1 * returns["oracle"].mean()


def test_the_environment_random_streams_are_untouched():
    env, replay = vec(3), vec(3)
    planner = make_agent("planner", env, **SMALL)
    obs, _ = env.reset(seed=5)
    replay.reset(seed=5)
    core = env.unwrapped.core
    for _ in range(12):
        before = core.get_state()
        action = planner.predict(obs)
        after = core.get_state()
        assert before.keys() == after.keys()
        for key, value in before.items():
            np.testing.assert_array_equal(after[key], value)
        obs, reward, *_ = env.step(action)
        obs2, reward2, *_ = replay.step(action)  # the same actions without the planner
        np.testing.assert_array_equal(reward2, reward)
        for key, value in obs.items():
            np.testing.assert_array_equal(obs2[key], value)


def test_evaluating_twice_gives_identical_results():
    env = vec(2)
    planner = make_agent("planner", env, **SMALL)
    first = evaluate(planner, ENV_ID, n_users=6, seed=3, world=WORLD)
    second = evaluate(planner, ENV_ID, n_users=6, seed=3, world=WORLD)
    np.testing.assert_array_equal(first.to_numpy(), second.to_numpy())
    other = evaluate(make_agent("planner", env, **SMALL, seed=1), ENV_ID, n_users=6, seed=3,
                     world=WORLD)
    assert not np.array_equal(other.to_numpy(), first.to_numpy())  # the seed matters


def test_a_user_gets_the_same_plan_in_a_single_and_a_vector_environment():
    n = 3
    env = vec(n)
    planner = make_agent("planner", env, **SMALL)
    singles = [gym.make(ENV_ID, world=WORLD) for _ in range(n)]
    agents = [make_agent("planner", single, **SMALL) for single in singles]
    obs, _ = env.reset(seed=20)
    single_obs = [single.reset(seed=20 + i)[0] for i, single in enumerate(singles)]
    for _ in range(8):
        actions = planner.predict(obs)
        assert actions.shape == (n,) and actions.dtype == np.int64
        for i in range(n):
            action = agents[i].predict(single_obs[i])
            assert isinstance(action, int) and action == actions[i]
            single_obs[i], _, terminated, truncated, _ = singles[i].step(action)
            assert not (terminated or truncated)
        obs, *_ = env.step(actions)


def test_one_candidate_is_the_greedy_policy_of_its_ranking():
    env = vec(4)
    obs, _ = env.reset(seed=2)
    core = env.unwrapped.core
    by_reward = make_agent("planner", env, candidates=1)
    by_click = make_agent("planner", env, candidates=1, rank_by="click")
    oracle = make_agent("oracle", env)
    for _ in range(5):
        every = np.broadcast_to(np.arange(WORLD["n_items"]), (4, WORLD["n_items"]))
        expected = core.expected_rewards(core.state, every)
        np.testing.assert_array_equal(by_reward.predict(obs), expected.argmax(axis=1))
        np.testing.assert_array_equal(by_click.predict(obs), oracle.predict(obs))
        obs, *_ = env.step(by_reward.predict(obs))


def test_planning_departs_from_the_greedy_choice_where_the_future_says_so():
    env = vec(16)
    obs, _ = env.reset(seed=0)
    greedy = make_agent("planner", env, candidates=1)
    planner = make_agent("planner", env, **SMALL)
    differ = 0
    for _ in range(10):
        plan, first = planner.predict(obs), greedy.predict(obs)
        differ += int((plan != first).sum())
        obs, *_ = env.step(plan)
    assert 0 < differ < 160


@pytest.mark.parametrize("mode", list(MODES))
def test_slates_and_candidates_give_valid_actions(mode):
    extra = MODES[mode]
    env = vec(3, **extra)
    planner = make_agent("planner", env, **SMALL, exclude_seen=True)
    k, limit = extra.get("slate_size", 1), extra.get("n_candidates", WORLD["n_items"])
    obs, _ = env.reset(seed=1)
    for _ in range(10):
        actions = np.asarray(planner.predict(obs)).reshape(3, k)
        assert actions.min() >= 0 and actions.max() < limit
        assert all(len(set(row)) == k for row in actions.tolist())
        seen = seen_mask(obs, WORLD["n_items"])
        assert not np.take_along_axis(seen, actions, 1).any()  # exclude_seen
        obs, *_ = env.step(actions if k > 1 else actions[:, 0])
    single = gym.make(ENV_ID, world=WORLD, **extra)
    agent = make_agent("planner", single, **SMALL)
    obs1, _ = single.reset(seed=4)
    for _ in range(5):
        action = agent.predict(obs1)
        assert single.action_space.contains(action)
        obs1, *_ = single.step(action)


def test_the_sampled_estimator_and_the_click_ranking_plan_too():
    env = vec(4, slate_size=2)
    planner = make_agent("planner", env, **SMALL, rank_by="click", estimator="sampled",
                         session_value=0.0, gamma=0.9, confidence=1.0)
    obs, _ = env.reset(seed=3)
    for _ in range(6):
        actions = planner.predict(obs)
        assert actions.shape == (4, 2) and (actions[:, 0] != actions[:, 1]).all()
        obs, *_ = env.step(actions)


class ClickOnlyWorld(BareSimulator):
    """A synthetic world that does not predict responses (only click probabilities)."""

    def __init__(self, world: SyntheticWorld) -> None:
        super().__init__(world)
        self.primary_signal = world.primary_signal

    def click_prob(self, state, items):
        return self.world.click_prob(state, items)


def test_a_simulator_without_predictions_needs_the_click_ranking_and_sampled_rollouts():
    env = RecVectorEnv(ClickOnlyWorld(SyntheticWorld(WorldConfig(**WORLD))), 3)
    with pytest.raises(InputError, match=r"rank_by='reward' and estimator='expected'.*"
                                         r"ClickOnlyWorld"):
        make_agent("planner", env)
    planner = make_agent("planner", env, **SMALL, rank_by="click", estimator="sampled")
    obs, _ = env.reset(seed=0)
    for _ in range(4):
        obs, *_ = env.step(planner.predict(obs))


def test_attaching_an_environment_with_other_spaces_is_refused():
    # not attached / attached elsewhere: tests/test_baselines.py, with the oracle's
    env = vec(2)
    with pytest.raises(InputError, match="planner: the environment's spaces differ"):
        make_agent("planner", env).attach(vec(2, slate_size=2))


@pytest.mark.parametrize(("field", "value"), [
    ("candidates", 0), ("rollouts", 1.5), ("horizon", -1), ("pool", 0), ("seed", -1),
    ("gamma", 0.0), ("gamma", 1.5), ("session_value", -1.0), ("session_value", np.inf),
    ("confidence", float("nan")), ("rank_by", "likes"), ("estimator", "exact"),
    ("exclude_seen", "yes"),
])
def test_bad_settings_are_named(field, value):
    with pytest.raises(InputError, match=field):
        PlannerConfig(**{field: value})


def test_an_unknown_setting_gets_a_did_you_mean():
    with pytest.raises(InputError, match="did you mean 'horizon'"):
        make_agent("planner", vec(2), horizn=3)


def test_save_and_load_give_identical_plans(tmp_path):
    env = vec(3, slate_size=2)
    agent = make_agent("planner", env, **SMALL, seed=4)
    agent.fit(env, 30)
    agent.save(tmp_path / "agent")
    loaded = load_agent(tmp_path / "agent")
    assert type(loaded) is PlannerAgent and loaded.config == agent.config
    assert loaded.num_steps == 30
    loaded.attach(env)
    obs, _ = env.reset(seed=9)
    for _ in range(4):
        expected = agent.predict(obs)
        np.testing.assert_array_equal(loaded.predict(obs), expected)
        obs, *_ = env.step(expected)


# ---------------------------------------------------------------------- engine helpers
def test_expected_rewards_weigh_the_world_predictions():
    env = vec(3)
    env.reset(seed=1)
    for _ in range(3):
        env.step(np.array([1, 2, 3]))
    core = env.unwrapped.core
    items = np.array([[0, 5], [7, 1], [2, 59]])
    predicted = core.sim.predict(core.state, items)
    weights = dict(zip(core.reward_names, core.weights, strict=True))
    expected = sum(weights[name] * predicted[name] for name in core.signal_names)
    np.testing.assert_allclose(core.expected_rewards(core.state, items), expected)
    # primary scores of some items per row: those of the whole catalogue
    np.testing.assert_allclose(core.item_scores(core.state, items),
                               np.take_along_axis(core.primary_scores(), items, 1), rtol=1e-12)


def test_candidate_lists_are_distinct_items_drawn_from_the_given_source():
    env = vec(2, n_candidates=7)
    core = env.unwrapped.core
    lists = core.candidate_lists(np.random.default_rng(0), 50)
    assert lists.shape == (50, 7) and lists.max() < WORLD["n_items"]
    assert all(len(set(row)) == 7 for row in lists.tolist())
