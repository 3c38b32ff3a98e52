"""The ground-truth synthetic world: interface, response model, dynamics, logs, and the
conflict between immediate clicks and long-term engagement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from offline_data.shared.errors import InputError
from simulators import (
    SyntheticWorld,
    UserSimulator,
    WorldConfig,
    rollout,
    synthetic_log,
)


@pytest.fixture(scope="module")
def world():
    return SyntheticWorld(WorldConfig(n_users=500, n_items=200), seed=1)


def test_world_implements_the_simulator_interface(world):
    assert isinstance(world, UserSimulator)
    assert [s.name for s in world.signals] == ["click", "like", "watch_ratio"]
    assert world.n_items == 200


def test_respond_shapes_and_consistency(world):
    rng = np.random.default_rng(0)
    state = world.start(np.arange(64), rng)
    slates = rng.integers(0, world.n_items, size=(64, 3))
    fb = world.respond(state, slates, rng)
    for values in fb.values():
        assert values.shape == (64, 3) and values.dtype == np.float32
    assert np.all(fb["like"] <= fb["click"])
    assert np.all(fb["watch_ratio"][fb["click"] == 0] == 0)
    assert np.all((fb["watch_ratio"] >= 0) & (fb["watch_ratio"] <= world.config.watch_cap))


def test_sampled_clicks_follow_the_true_probabilities(world):
    rng = np.random.default_rng(0)
    state = world.start(np.repeat(np.arange(5), 4000), rng)
    slates = np.tile([[7]], (len(state), 1))
    clicks = world.respond(state, slates, rng)["click"][:, 0].reshape(5, 4000).mean(axis=1)
    truth = world.click_prob(state, slates)[::4000, 0]
    np.testing.assert_allclose(clicks, truth, atol=0.025)


def test_predicted_signals_are_the_means_of_the_sampled_ones():
    world = SyntheticWorld(WorldConfig(n_users=50, n_items=40, watch_bias=2.0), seed=1)
    rng = np.random.default_rng(0)
    state = world.start(np.arange(4), rng)
    for _ in range(3):  # a history, so the repeat and boredom terms count
        slates = rng.integers(0, 40, size=(4, 2))
        state = world.step_state(state, slates, world.respond(state, slates, rng))
    items = np.array([[3], [7], [11], [state.recent[3, 0]]])
    predicted = world.predict(state, items)
    many = state.take(np.repeat(np.arange(4), 100_000))
    sampled = world.respond(many, np.repeat(items, 100_000, axis=0), rng)
    for name, values in predicted.items():  # watch_bias=2: the clip at watch_cap matters
        np.testing.assert_allclose(sampled[name][:, 0].reshape(4, -1).mean(axis=1),
                                   values[:, 0], atol=0.006, rtol=0.03)
    # the click probability of an item shown alone, per user or for every user
    np.testing.assert_array_equal(predicted["click"], world.click_prob(state, items))
    np.testing.assert_allclose(world.predict(state, np.arange(40))["click"],
                               world.click_prob(state, np.arange(40)))


def test_position_bias_lowers_later_slots(world):
    state = world.start(np.arange(10))
    item = np.full((10, 1), 3)
    first = world.click_prob(state, np.hstack([item, item + 1]))[:, 0]
    second = world.click_prob(state, np.hstack([item + 1, item]))[:, 1]
    assert np.all(second < first)


def test_click_prob_of_some_items_matches_the_whole_catalogue(world):
    rng = np.random.default_rng(0)
    state = world.start(np.arange(6), rng)
    for _ in range(3):  # a recent history, so the repeat term is not all zero
        slates = rng.integers(0, world.n_items, size=(6, 2))
        state = world.step_state(state, slates, world.respond(state, slates, rng))
    items = np.concatenate([state.recent[0, :2], [5, world.n_items - 1]])
    np.testing.assert_array_equal(world.click_prob(state, items),
                                  world.click_prob(state, np.arange(world.n_items))[:, items])


def test_states_are_values_and_boredom_lowers_clicks(world):
    rng = np.random.default_rng(0)
    state = world.start(np.arange(50), rng)
    before = state.boredom.copy()
    slates = np.full((50, 1), 11)
    p0 = world.click_prob(state, slates)
    for _ in range(5):
        state2 = world.step_state(state, slates, {"click": np.ones((50, 1), np.float32),
                                                  "like": np.zeros((50, 1), np.float32),
                                                  "watch_ratio": np.ones((50, 1), np.float32)})
        np.testing.assert_array_equal(state.boredom, before)
        state, before = state2, state2.boredom.copy()
    assert np.all(world.click_prob(state, slates) < p0)
    # boredom fades between sessions
    later = world.next_session(state, np.full(50, 48 * 3600.0))
    assert np.all(world.click_prob(later, slates) > world.click_prob(state, slates))


def test_interest_drifts_toward_consumed_items(world):
    state = world.start(np.arange(20))
    item = world.item_embedding[42]
    slates = np.full((20, 1), 42)
    fb = {"click": np.ones((20, 1), np.float32), "like": np.zeros((20, 1), np.float32),
          "watch_ratio": np.ones((20, 1), np.float32)}
    after = world.step_state(state, slates, fb)
    assert np.all(after.interest @ item > state.interest @ item)


def test_unsatisfied_users_leave_sooner_and_return_later(world):
    state = world.start(np.arange(100))
    slates = np.full((100, 1), 5)
    miss = {"click": np.zeros((100, 1), np.float32), "like": np.zeros((100, 1), np.float32),
            "watch_ratio": np.zeros((100, 1), np.float32)}
    hit = {"click": np.ones((100, 1), np.float32), "like": np.ones((100, 1), np.float32),
           "watch_ratio": np.ones((100, 1), np.float32)}
    bad = world.step_state(state, slates, miss)
    good = world.step_state(state, slates, hit)
    assert np.all(world.leave_prob(bad, miss) > world.leave_prob(good, hit))
    assert np.all(world.return_gap_mean(bad) > world.return_gap_mean(good))
    gaps = world.return_gap(good, np.random.default_rng(0))
    assert np.all(gaps >= world.config.min_gap_h * 3600)


BAD_INPUTS = {
    "slate-shape": (lambda world: world.respond(world.start(np.arange(3)), np.zeros(3, dtype=int),
                                                np.random.default_rng(0)),
                    "slates must have shape"),
    "unknown-item": (lambda world: world.respond(world.start(np.arange(3)), np.full((3, 1), 200),
                                                 np.random.default_rng(0)),
                     r"outside 0\.\.199"),
    "unknown-user": (lambda world: world.start(np.array([500])), "user_ids"),
    "policy-typo": (lambda world: world.generate_log("click_gredy", n_users=3, n_days=1),
                    "did you mean 'click_greedy'"),
    "config-typo": (lambda world: WorldConfig().replace(n_itmes=3),
                    r"unknown WorldConfig field.*did you mean .n_items."),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_inputs_are_named(world, case):
    call, message = BAD_INPUTS[case]
    with pytest.raises(InputError, match=message):
        call(world)


def test_same_seed_gives_identical_logs_and_another_seed_does_not():
    a = synthetic_log(n_users=60, n_days=2, seed=11)
    b = synthetic_log(n_users=60, n_days=2, seed=11)
    c = synthetic_log(n_users=60, n_days=2, seed=12)
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    pd.testing.assert_frame_equal(a.users, b.users)
    assert not a.interactions.equals(c.interactions)


def test_generated_log_is_a_complete_interaction_log(small_log):
    log = small_log
    assert log.signal_names == ["click", "like", "watch_ratio"]
    assert log.n_users == 200 and log.n_items == WorldConfig().n_items
    ts = log.interactions["timestamp"]
    assert ts.min() >= log.start_time and ts.max() < log.end_time
    assert log.end_time - log.start_time == 3 * 86_400
    assert set(log.users.columns) == {"activity_level", "segment"}
    assert set(log.items.columns) == {"topic", "duration_s"}
    assert log.context_columns == ("position", "propensity")
    s = log.sessions
    assert 5 < s["length"].mean() < 30
    assert (s.loc[~s["censored"], "return_gap"] >= 3600).all()


def test_slates_are_logged_per_position():
    log = synthetic_log(n_users=20, n_days=1, seed=0, slate_size=3, policy="random")
    positions = log.interactions["position"].value_counts()
    assert set(positions.index) == {0, 1, 2} and positions.nunique() == 1


def _long_term(world, policy, n_users=400, seed=0):
    run = rollout(world, policy, np.arange(n_users), rng=np.random.default_rng(seed),
                  max_sessions=4)
    return {
        "ctr": float(run.feedback["click"].mean()),
        "session_length": float(run.session_length.mean()),
        "return_gap_h": float(run.session_gap_s.mean() / 3600),
        "clicks_per_user": float(run.feedback["click"].sum() / n_users),
    }


def test_click_greedy_loses_users_that_a_diversity_aware_policy_keeps():
    """The long-term conflict, with numbers: the myopic click oracle wins on CTR but its
    users leave sooner and come back later than under a diversity-aware policy."""
    world = SyntheticWorld(WorldConfig(n_users=400), seed=0)
    greedy = _long_term(world, "click_greedy")
    diverse = _long_term(world, "diversity_aware")
    report = f"click_greedy={greedy} diversity_aware={diverse}"
    assert greedy["ctr"] > diverse["ctr"] + 0.1, report
    assert greedy["session_length"] < 0.85 * diverse["session_length"], report
    assert greedy["return_gap_h"] > 1.3 * diverse["return_gap_h"], report


def test_a_larger_population_keeps_every_existing_user_and_item():
    small = SyntheticWorld(WorldConfig(n_users=2000, n_items=500), seed=3)
    large = SyntheticWorld(WorldConfig(n_users=2500, n_items=1500), seed=3)
    np.testing.assert_array_equal(small.user_interest, large.user_interest[:2000])
    np.testing.assert_array_equal(small.user_activity, large.user_activity[:2000])
    np.testing.assert_array_equal(small.item_embedding, large.item_embedding[:500])
    np.testing.assert_array_equal(small.item_quality, large.item_quality[:500])


def test_truth_is_recorded_on_request():
    world = SyntheticWorld(WorldConfig(n_users=30), seed=0)
    log = world.generate_log("random", n_users=30, n_days=1, seed=0, truth=True)
    p = log.interactions["true_click_prob"].to_numpy()
    assert np.all((p > 0) & (p < 1))
    assert abs(p.mean() - log.interactions["click"].mean()) < 0.05


def test_mixture_policy_serves_each_user_by_one_recommender(world):
    """An A/B-test log: each user is served by one member policy throughout, and its
    propensities are that member's."""
    from simulators.policies import make_policy

    mixture = make_policy("mixture", shares=[1, 3])
    group = mixture.group(np.arange(4000))
    assert abs(np.mean(group == 0) - 0.25) < 0.03
    assert np.array_equal(mixture.group(np.arange(4000)), group)  # fixed per user
    log = world.generate_log(mixture, n_users=60, n_days=2, seed=0)
    frame = log.interactions
    assert np.all(frame["propensity"] == 1.0)  # both members are deterministic
    users = np.arange(60)
    greedy_rows = np.isin(frame["user_id"], users[mixture.group(log.user_ids[users]) == 0])
    assert 0 < greedy_rows.sum() < len(frame)
    with pytest.raises(InputError, match="2 or more"):
        make_policy("mixture", policies="click_greedy")
    with pytest.raises(InputError, match="2 or more"):
        make_policy("mixture", policies="click_greedy,nope")
    with pytest.raises(InputError, match="positive"):
        make_policy("mixture", shares=[1, 0])
