"""Trajectory datasets from logs: the environment's own observations and rewards, episode
ends, recorded propensities, Parquet and d3rlpy round trips."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from offline_data import InputError
from recgym import EnvConfig
from recgym.envs.base import RecEnv
from recgym.offline import DatasetFileError, TrajectoryDataset, episodes_from_log
from simulators import SyntheticWorld, WorldConfig
from simulators.interface import BatchState
from simulators.policies import make_policy

WORLD = WorldConfig(n_users=120, n_items=60, n_topics=4)
CONFIG = EnvConfig(history_len=6, max_sessions=5)
WEIGHTS = {"click": 1.0, "like": 1.0, "watch_ratio": 1.0, "retention": 5.0}


@dataclass(frozen=True)
class Cursor(BatchState):
    """The next log row of each replayed user."""

    row: np.ndarray


class LogReplay:
    """A user simulator that plays a log back: each user's logged feedback, session ends
    and return gaps, in order. Observations and rewards then come from the environment's
    own engine, to be compared with the dataset's."""

    def __init__(self, world: SyntheticWorld, log) -> None:
        self.world, self.n_items, self.n_users = world, world.n_items, world.n_users
        self.signals, self.primary_signal = world.signals, world.primary_signal
        frame = log.interactions
        self.rows = {int(u): np.flatnonzero(frame["user_id"].to_numpy() == u)
                     for u in np.unique(frame["user_id"])}
        self.items = frame["item_id"].to_numpy()
        self.feedback = {s.name: frame[s.name].to_numpy() for s in world.signals}
        session = frame["session_id"].to_numpy()
        self.last = np.r_[session[1:] != session[:-1], True]
        gaps = log.sessions.set_index("session_id")["return_gap"]
        self.gap = gaps.reindex(session).to_numpy()
        self.slate = 1

    def user_features(self, users):
        return self.world.user_features(users)

    def signal_bounds(self):
        return self.world.signal_bounds()

    def start(self, user_ids, rng):
        return Cursor(np.array([self.rows[int(u)][0] for u in user_ids]))

    def respond(self, state, slates, rng):
        rows = state.row[:, None] + np.arange(slates.shape[1])
        assert np.array_equal(self.items[rows], slates), "replay must follow the log"
        return {name: values[rows] for name, values in self.feedback.items()}

    def step_state(self, state, slates, feedback):
        return Cursor(state.row + slates.shape[1])

    def leave_prob(self, state, feedback):
        return self.last[state.row - 1].astype(float)

    def return_gap(self, state, rng):
        return self.gap[state.row - 1]

    def next_session(self, state, gap_s):
        return state


def synthetic(slate_size=1, policy="epsilon_greedy", users=40, seed=0):
    world = SyntheticWorld(WORLD, seed=seed)
    log = world.generate_log(policy, n_users=users, max_sessions=6, seed=seed,
                             slate_size=slate_size)
    return world, log


@pytest.mark.parametrize("slate_size", [1, 3])
def test_replaying_the_log_through_the_env_gives_the_datasets_observations_and_rewards(
        slate_size):
    world, log = synthetic(slate_size)
    config = CONFIG.replace(slate_size=slate_size)
    data = episodes_from_log(log, config, WEIGHTS, simulator=world, episodes_per_user=1)
    env = RecEnv(LogReplay(world, log), config, reward_weights=WEIGHTS)
    starts, stops = data.episode_bounds()
    assert data.n_episodes == 40
    for start, stop in zip(starts, stops, strict=True):
        obs, _ = env.reset(options={"user_id": int(data.observations["user_id"][start])})
        for s in range(start, stop):
            for key, value in obs.items():
                expected = data.observations[key][s]
                assert np.array_equal(np.asarray(value), expected), (key, s)
                assert np.asarray(value).dtype == expected.dtype or key == "user_id"
            obs, reward, terminated, truncated, info = env.step(data.actions[s])
            assert reward == pytest.approx(float(data.rewards[s]), rel=1e-6, abs=1e-6)
            np.testing.assert_allclose(info["reward_vector"], data.reward_vectors[s],
                                       rtol=1e-6, atol=1e-6)
            assert (terminated, truncated) == (bool(data.terminals[s]),
                                               bool(data.timeouts[s]))
    # both kinds of ending occur, so both were checked
    assert data.terminals.any() and data.timeouts.any()


def test_recorded_propensities_are_the_behaviour_policys():
    world, log = synthetic(policy="softmax", users=10)
    data = episodes_from_log(log, CONFIG, WEIGHTS, simulator=world, episodes_per_user=1)
    assert data.behaviour == "recorded"
    # recompute the first step of each user from a fresh state
    policy = make_policy("softmax")
    first = data.episode_bounds()[0][:5]
    users = data.observations["user_id"][first]
    state = world.start(users, np.random.default_rng(0))
    expected = policy.propensity(world, state, data.actions[first][:, None])
    # a fresh user's first step does not depend on the random start of the world state
    np.testing.assert_allclose(data.propensities[first], expected, rtol=1e-9)
    probs = np.exp(world.click_prob(state, np.arange(world.n_items)) / policy.temperature)
    np.testing.assert_allclose(data.propensities[first],
                               probs[np.arange(5), data.actions[first]] / probs.sum(1))


def test_exploration_gives_a_deterministic_policy_coverage_and_its_propensities():
    world = SyntheticWorld(WorldConfig(n_users=200, n_items=20), seed=0)
    greedy = make_policy("diversity_aware")
    explored = make_policy("diversity_aware", explore=0.3)
    log = world.generate_log(explored, n_users=200, max_sessions=2, seed=0)
    data = episodes_from_log(log, CONFIG, WEIGHTS, simulator=world, episodes_per_user=1)
    first = data.episode_bounds()[0]
    users = data.observations["user_id"][first]
    state = world.start(users, np.random.default_rng(0))
    own = greedy(world, state, 1, np.random.default_rng(0))[:, 0]
    took_own = data.actions[first] == own
    # the recorded propensity is the mixture's: (1 - e) + e / n for the policy's own item,
    # e / n for any other
    expected = np.where(took_own, 0.7 + 0.3 / 20, 0.3 / 20)
    np.testing.assert_allclose(data.propensities[first], expected, rtol=1e-9)
    # and it explores as often as it says (0.7 + 0.3 / 20 = 0.715 own picks; 200 users)
    assert abs(took_own.mean() - 0.715) < 0.1
    with pytest.raises(InputError, match="explore"):
        make_policy("softmax", explore=1.5)
    with pytest.raises(InputError, match="temprature"):
        make_policy("softmax", temprature=0.1)


def test_episodes_split_where_the_env_would_end_them():
    world, log = synthetic(users=30)
    data = episodes_from_log(log, CONFIG.replace(max_sessions=2, max_steps=7), WEIGHTS,
                             simulator=world)
    starts, stops = data.episode_bounds()
    assert (stops - starts).max() <= 7
    assert data.observations["session_index"].max() <= 1
    whole = episodes_from_log(log, CONFIG, WEIGHTS, simulator=world)
    assert data.n_steps == whole.n_steps                  # every step kept, cut finer
    assert data.n_episodes > whole.n_episodes
    np.testing.assert_array_equal(data.actions, whole.actions)


def test_a_censored_last_session_is_a_timeout_and_a_long_silence_is_churn():
    world = SyntheticWorld(WORLD, seed=1)
    log = world.generate_log("epsilon_greedy", n_users=30, n_days=3, seed=1)
    data = episodes_from_log(log, CONFIG.replace(churn_after_h=24.0), WEIGHTS,
                             simulator=world)
    sessions = log.sessions
    last = sessions[sessions["censored"]]
    final = data.episode_bounds()[1] - 1
    # each user's final step ends an episode: churn when the log runs on > 24 h after it
    users = data.observations["user_id"][final]
    by_user = last.set_index("user_id")["observed_gap"] / 3600.0
    for step, user in zip(final, users, strict=True):
        if step == final[users == user].max():
            churned = by_user[user] > 24.0
            assert bool(data.terminals[step]) == churned
            assert bool(data.timeouts[step]) != churned
            retention = data.reward_vectors[step, data.reward_names.index("retention")]
            assert retention == 0.0


def test_parquet_round_trip_and_d3rlpy_export(tmp_path):
    world, log = synthetic(users=20)
    data = episodes_from_log(log, CONFIG, WEIGHTS, simulator=world)
    data.to_parquet(tmp_path / "ds")
    back = TrajectoryDataset.from_parquet(tmp_path / "ds")
    for key, value in data.observations.items():
        assert np.array_equal(back.observations[key], value)
        assert back.observations[key].dtype == value.dtype
    for name in ("actions", "rewards", "reward_vectors", "terminals", "timeouts", "episode",
                 "propensities"):
        assert np.array_equal(getattr(back, name), getattr(data, name)), name
    assert back.spec == data.spec and back.env_config == data.env_config
    with pytest.raises(InputError, match="overwrite"):
        data.to_parquet(tmp_path / "ds")
    mdp = data.to_mdp_dataset()
    # d3rlpy keeps no transition out of the last step of a timed-out episode
    timed_out = int(data.timeouts.sum())
    assert mdp.transition_count == data.n_steps - timed_out
    assert len(mdp.episodes) == data.n_episodes
    flat = data.flat_observations()
    assert np.array_equal(data.spec.unflatten(flat)["history_items"],
                          data.observations["history_items"].astype(np.float32))


def test_bad_inputs_name_the_problem(tmp_path):
    world, log = synthetic(users=10)
    with pytest.raises(InputError, match=r"reward_weights name.*'dwell'"):
        episodes_from_log(log, CONFIG, {"dwell": 1.0}, simulator=world)
    with pytest.raises(InputError, match="n_candidates"):
        episodes_from_log(log, CONFIG.replace(n_candidates=10), WEIGHTS, simulator=world)
    with pytest.raises(InputError, match="slate_size 2 needs every step"):
        episodes_from_log(log, CONFIG.replace(slate_size=2), WEIGHTS, simulator=world)
    (tmp_path / "nope").mkdir()
    with pytest.raises(DatasetFileError, match="not a trajectory dataset"):
        TrajectoryDataset.from_parquet(tmp_path / "nope")


def test_split_by_user_keeps_users_whole():
    world, log = synthetic(users=30)
    data = episodes_from_log(log, CONFIG.replace(max_sessions=2), WEIGHTS, simulator=world)
    train, test = data.split_by_user(0.3, seed=0)
    starts_train, _ = train.episode_bounds()
    starts_test, _ = test.episode_bounds()
    users_train = set(train.observations["user_id"][starts_train].tolist())
    users_test = set(test.observations["user_id"][starts_test].tolist())
    assert not users_train & users_test and len(users_test) == 9
    assert train.n_steps + test.n_steps == data.n_steps
