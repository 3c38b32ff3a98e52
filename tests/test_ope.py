"""Off-policy evaluation: each estimator against values known in closed form, bootstrap
intervals, FQE on a chain whose Q is known, and the errors of bad input."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from offline_data import InputError
from recgym import EnvConfig
from recgym.offline import episodes_from_log
from recgym.offline.dataset import TrajectoryDataset
from recgym.offline.estimators import ESTIMATORS, make_steps
from recgym.offline.fqe import FQEConfig
from recgym.offline.ope import estimate
from recgym.spaces import ObsSpec
from simulators import SyntheticWorld, WorldConfig

ONES = np.ones


class Fixed:
    """The same item probabilities at every observation."""

    def __init__(self, probs) -> None:
        self.probs = np.asarray(probs, dtype=np.float64)

    def action_probabilities(self, observations):
        return np.tile(self.probs, (len(observations["user_id"]), 1))


# ---------------------------------------------------------------- exact maths
def test_one_step_bandit_with_exact_frequencies_gives_the_true_value():
    # behaviour (0.5, 0.3, 0.2) logged in exact proportions; target (0.2, 0.2, 0.6)
    actions = np.repeat([0, 1, 2], [5, 3, 2])
    mu = np.array([0.5, 0.3, 0.2])[actions]
    pi = np.array([0.2, 0.2, 0.6])[actions]
    reward = np.array([1.0, 2.0, 3.0])[actions]
    steps = make_steps(np.arange(10), reward, pi, mu, gamma=1.0)
    truth = 0.2 * 1 + 0.2 * 2 + 0.6 * 3
    for name in ("ips", "snips", "pdis", "wpdis"):
        assert ESTIMATORS[name](steps, ONES(10)) == pytest.approx(truth), name


def two_step_tree(pi_step, q_table=None):
    """Every path of a two-step binary tree once (the exact behaviour distribution of a
    uniform behaviour): r0 = a0, r1 = 2 a1 + a0. The target takes action 1 with
    probability `pi_step` at each step. `q_table` = (Q(s0, a0) (2,), Q(s1 after a0, a1)
    (2, 2)) is the model's Q; by default the true Q of the target."""
    a0 = np.array([0, 0, 1, 1])
    a1 = np.array([0, 1, 0, 1])
    episode = np.repeat(np.arange(4), 2)
    actions = np.stack([a0, a1], axis=1).reshape(-1)
    reward = np.stack([a0, 2 * a1 + a0], axis=1).reshape(-1).astype(float)
    pi = np.where(actions == 1, pi_step, 1 - pi_step)
    mu = np.full(8, 0.5)
    target = np.array([1 - pi_step, pi_step])
    if q_table is None:                 # the true Q of the target (undiscounted)
        q1 = 2 * np.arange(2)[None, :] + np.arange(2)[:, None]
        q_table = (np.arange(2) + q1 @ target, q1)
    first, second = np.asarray(q_table[0], float), np.asarray(q_table[1], float)
    q = np.stack([first[a0], second[a0, a1]], axis=1).reshape(-1)
    v = np.stack([np.full(4, first @ target), (second @ target)[a0]], axis=1).reshape(-1)
    return episode, reward, pi, mu, q, v, 4 * pi_step


@pytest.mark.parametrize("pi_step", [0.75, 1.0])
def test_per_decision_estimators_are_exact_on_the_exact_behaviour_distribution(pi_step):
    episode, reward, pi, mu, *_, truth = two_step_tree(pi_step)
    rng = np.random.default_rng(0)
    # any Q model: the importance-weighted corrections cancel its errors exactly here
    for model in (None, (rng.normal(size=2), rng.normal(size=(2, 2)))):
        *_, q, v, _ = two_step_tree(pi_step, model)
        steps = make_steps(episode, reward, pi, mu, 1.0, q, v)
        for name in ("pdis", "wpdis", "dr", "wdr"):
            assert ESTIMATORS[name](steps, ONES(4)) == pytest.approx(truth), name


def test_doubly_robust_and_fqe_are_exact_with_the_true_q_on_any_data():
    episode, reward, pi, mu, q, v, truth = two_step_tree(0.75)
    # keep a skewed subset of the paths: importance sampling is off, the true Q is not
    keep = np.isin(episode, [0, 3])
    rows = np.flatnonzero(keep)
    renumbered = np.unique(episode[rows], return_inverse=True)[1]
    steps = make_steps(renumbered, reward[rows], pi[rows], mu[rows], 1.0, q[rows], v[rows])
    for name in ("dr", "wdr", "fqe"):
        assert ESTIMATORS[name](steps, ONES(2)) == pytest.approx(truth), name
    assert ESTIMATORS["pdis"](steps, ONES(2)) != pytest.approx(truth)


def test_discounting_and_zero_ratios():
    # one episode of three steps, reward 1 each; the target never takes the second action
    steps = make_steps(np.zeros(3, int), np.ones(3), np.array([1.0, 0.0, 1.0]),
                       np.full(3, 0.5), gamma=0.5)
    np.testing.assert_allclose(steps.rho, [2.0, 0.0, 0.0])
    np.testing.assert_allclose(steps.rho_prev, [1.0, 2.0, 0.0])
    assert ESTIMATORS["pdis"](steps, ONES(1)) == pytest.approx(2.0)
    assert ESTIMATORS["ips"](steps, ONES(1)) == pytest.approx(2.0 + 0.25 * 2.0)


# ---------------------------------------------------------------- datasets
def chain_dataset(n_episodes=300, length=4, n_items=4, seed=0) -> TrajectoryDataset:
    """Episodes of `length` steps of a uniform behaviour over `n_items` items; reward 1
    when item 0 is shown (its click), else 0. Observations are the environment's layout,
    with the history of the episode and the step in `session_step`."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, n_items, (n_episodes, length))
    reward = (actions == 0).astype(np.float32)
    spec = ObsSpec(n_users=n_episodes, n_items=n_items, signal_names=("click",),
                   signal_low=(0.0,), signal_high=(1.0,), history_len=length,
                   user_feature_dim=1, slate_size=1, n_candidates=None, max_steps=length,
                   max_sessions=1)
    items = np.full((n_episodes, length, length), n_items, np.int64)
    feedback = np.zeros((n_episodes, length, length, 1), np.float32)
    for t in range(1, length):
        items[:, t, :t] = actions[:, :t][:, ::-1]
        feedback[:, t, :t, 0] = reward[:, :t][:, ::-1]
    s = n_episodes * length
    ends = np.tile(np.arange(length) == length - 1, n_episodes)
    return TrajectoryDataset(
        observations={
            "user_id": np.repeat(np.arange(n_episodes), length),
            "user_features": np.zeros((s, 1), np.float32),
            "history_items": items.reshape(s, length),
            "history_feedback": feedback.reshape(s, length, 1),
            "history_mask": (items.reshape(s, length) < n_items).astype(np.int8),
            "session_step": np.tile(np.arange(length), n_episodes)[:, None].astype(np.float32),
            "session_index": np.zeros((s, 1), np.float32)},
        actions=actions.reshape(-1), rewards=reward.reshape(-1),
        reward_vectors=np.stack([reward.reshape(-1), np.ones(s), np.zeros(s)], 1),
        reward_names=("click", "depth", "retention"), reward_weights={"click": 1.0},
        terminals=np.zeros(s, bool), timeouts=ends,
        episode=np.repeat(np.arange(n_episodes), length), spec=spec,
        env_config=EnvConfig(history_len=length, max_sessions=1, max_steps=length),
        propensities=np.full(s, 1.0 / n_items), behaviour="recorded")


FAST_FQE = FQEConfig(encoder="drr_ave", embed_dim=8, hidden_dim=32, n_steps=1500,
                     batch_size=128, learning_rate=3e-3, target_update=100)




def test_fqe_and_dr_find_the_chains_values(one_thread):
    data = chain_dataset()
    for probs, truth in (([1.0, 0.0, 0.0, 0.0], 4.0), ([0.5, 0.5, 0.0, 0.0], 2.0)):
        results = estimate(data, Fixed(probs), ("fqe", "dr", "wdr", "wpdis"), fqe=FAST_FQE,
                           n_bootstrap=50)
        assert results["fqe"].value == pytest.approx(truth, rel=0.1)
        for name, result in results.items():
            lo, hi = result.ci95
            # the interval may collapse onto the value (no episode keeps weight, so every
            # replicate is the model's value): allow the sums' rounding
            slack = 1e-9 * max(1.0, abs(result.value))
            assert lo - slack <= result.value <= hi + slack, name
            assert result.value == pytest.approx(truth, rel=0.25), name


def test_on_policy_weights_are_one_and_give_the_logged_return():
    data = chain_dataset(n_episodes=50)
    results = estimate(data, Fixed(np.full(4, 0.25)), ("ips", "snips", "pdis", "wpdis"),
                       n_bootstrap=100, seed=3)
    logged = data.episode_returns().mean()
    for name, result in results.items():
        assert result.value == pytest.approx(logged), name
        assert result.diagnostics["ess"] == pytest.approx(50.0)
        assert result.diagnostics["max_weight"] == pytest.approx(1.0)
    again = estimate(data, Fixed(np.full(4, 0.25)), ("pdis",), n_bootstrap=100, seed=3)
    assert again["pdis"].ci95 == results["pdis"].ci95      # seeded
    spread = data.episode_returns().std(ddof=1) / np.sqrt(50)
    assert results["pdis"].std_error == pytest.approx(spread, rel=0.3)


def test_a_uniform_log_of_the_synthetic_world_evaluates_a_uniform_target_exactly():
    world = SyntheticWorld(WorldConfig(n_users=40, n_items=30, n_topics=3), seed=0)
    log = world.generate_log("random", max_sessions=3, seed=0)
    data = episodes_from_log(log, EnvConfig(max_sessions=2, history_len=4),
                             {"click": 1.0, "retention": 5.0}, simulator=world,
                             episodes_per_user=1)
    results = estimate(data, Fixed(np.full(30, 1 / 30)), ("pdis", "wpdis", "ips"),
                       n_bootstrap=20, gamma=0.9)
    logged = data.episode_returns(0.9).mean()
    for result in results.values():
        assert result.value == pytest.approx(logged)


# ---------------------------------------------------------------- bad input
UNIFORM = Fixed(np.full(4, 0.25))
BAD_INPUTS = {
    "no-propensities": (lambda data: estimate(replace(data, propensities=None), UNIFORM),
                        r"no behaviour propensities.*behaviour model"),
    "wrong-width": (lambda data: estimate(data, Fixed(np.full(3, 1 / 3)), ("pdis",)),
                    r"shape \(\d+, 3\).*must return \(\d+, 4\)"),
    "not-probabilities": (lambda data: estimate(data, Fixed(np.full(4, 0.5)), ("pdis",)),
                          "sum to 1"),
    "gamma-above-1": (lambda data: estimate(data, UNIFORM, ("pdis",), gamma=1.5),
                      r"gamma must be a discount in \[0, 1\]"),
    "gamma-below-0": (lambda data: estimate(data, UNIFORM, ("pdis",), gamma=-0.1),
                      r"gamma must be a discount in \[0, 1\]"),
    "estimator-typo": (lambda data: estimate(data, UNIFORM, ("wpids",)),
                       "did you mean 'wpdis'"),
    "unknown-reward": (lambda data: estimate(data, UNIFORM, ("pdis",), reward="dwell"),
                       "reward 'dwell'"),
    "not-a-policy": (lambda data: estimate(data, object(), ("pdis",)),  # type: ignore[arg-type]
                     "neither gives action probabilities nor predicts"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_inputs_raise_one_line_errors_naming_the_fix(case):
    call, message = BAD_INPUTS[case]
    with pytest.raises(InputError, match=message):
        call(chain_dataset(n_episodes=5))
