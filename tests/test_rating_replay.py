"""RecGym/LoggedReplay-v0: the DRR paper's offline protocol over logged ratings."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import recgym
from agents import make_agent
from offline_data import InputError, load_csv, load_movielens
from recgym.replay_eval import replay_ceiling, replay_evaluate, replay_summary
from simulators.replay import RatingReplay, normalise, rating_embeddings

MOVIELENS = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens-100k"


def ratings_log(tmp_path: Path, n_users: int = 6, n_items: int = 12, seed: int = 0,
                unrated: bool = False):
    """A small CSV log of 1-5 ratings: every user rates every item once, in time order
    (with `unrated`, user 0 never rates the last item)."""
    rng = np.random.default_rng(seed)
    rows = [(u, i, 1_700_000_000 + 1000 * u + 10 * t, int(rng.integers(1, 6)))
            for u in range(n_users) for t, i in enumerate(rng.permutation(n_items))
            if not (unrated and u == 0 and i == n_items - 1)]
    path = tmp_path / "ratings.csv"
    pd.DataFrame(rows, columns=["user", "item", "ts", "stars"]).to_csv(path, index=False)
    return load_csv(path, columns={"user_id": "user", "item_id": "item", "timestamp": "ts"},
                    signals={"stars": "continuous"})


def test_normalise_centres_and_scales() -> None:
    assert normalise(np.array([1, 3, 5]), 1, 5, "centered").tolist() == [-1.0, 0.0, 1.0]
    assert normalise(np.array([1, 5]), 1, 5, "unit").tolist() == pytest.approx([0.2, 1.0])


def test_initial_state_is_the_first_positive_ratings(tmp_path: Path) -> None:
    log = ratings_log(tmp_path)
    replay = RatingReplay(log, state_size=2)
    frame = log.interactions.sort_values(["user_id", "timestamp"])
    for user in replay.users:
        rows = frame[(frame["user_id"] == user) & (frame["stars"] >= 4)]
        first = rows["item_id"].tolist()[:2]
        assert replay.initial[user].tolist() == first[::-1]  # most recent first


def test_candidates_are_unshown_rated_items(tmp_path: Path) -> None:
    log = ratings_log(tmp_path, n_items=12)
    replay = RatingReplay(log, state_size=2)
    env = gym.make("RecGym/LoggedReplay-v0", replay=replay)
    obs, _ = env.reset(seed=1)
    user = int(obs["user_id"])
    shown = set(replay.initial[user].tolist())
    for _ in range(10):
        offered = set(obs["candidates"].tolist())
        assert offered and not offered & shown
        obs, reward, terminated, truncated, info = env.step(0)
        item = int(info["slate"][0])
        stars = log.interactions.query("user_id == @user and item_id == @item")["stars"]
        assert reward == pytest.approx((float(stars.iloc[0]) - 3) / 2)
        shown.add(item)
        if terminated or truncated:
            break
    assert terminated  # 12 items, 2 in the state: the ratings ran out after 10 steps


def test_history_holds_the_latest_positive_items(tmp_path: Path) -> None:
    replay = RatingReplay(ratings_log(tmp_path), state_size=3)
    env = gym.make("RecGym/LoggedReplay-v0", replay=replay)
    obs, _ = env.reset(seed=2)
    history = obs["history_items"].tolist()
    for _ in range(6):
        obs, reward, _, _, info = env.step(0)
        if reward >= 0.5:  # a rating of 4 or 5 enters the state, newest first
            history = [int(info["slate"][0]), *history[:-1]]
        assert obs["history_items"].tolist() == history
        assert (obs["history_feedback"][:, 0] >= 0.5).all()


def test_vector_env_agrees_with_single_env(tmp_path: Path) -> None:
    replay = RatingReplay(ratings_log(tmp_path), state_size=2)
    single = gym.make("RecGym/LoggedReplay-v0", replay=replay)
    vector = recgym.make_vec("RecGym/LoggedReplay-v0", 2, replay=replay)
    obs_v, _ = vector.reset(seed=5, options={"user_id": [3, 4]})
    obs_s, _ = single.reset(seed=5, options={"user_id": 3})
    np.testing.assert_array_equal(obs_v["candidates"][0], obs_s["candidates"])
    _, reward_v, *_ = vector.step(np.array([1, 1]))
    _, reward_s, *_ = single.step(1)
    assert reward_v[0] == pytest.approx(reward_s)


def test_ceiling_bounds_every_policy(tmp_path: Path) -> None:
    replay = RatingReplay(ratings_log(tmp_path, n_users=10), state_size=2)
    env = recgym.make_vec("RecGym/LoggedReplay-v0", 4, replay=replay, max_steps=5)
    random = replay_summary(replay_evaluate(make_agent("random", env, seed=0), env, k=5))
    best = replay_summary(replay_ceiling(replay, k=5))
    for metric in ("avg_reward", "precision", "ndcg", "map"):
        assert random.loc[metric, "mean"] <= best.loc[metric, "mean"] + 1e-9
    assert best.loc["ndcg", "mean"] == pytest.approx(1.0)
    assert (best["n"] == len(replay.users)).all()


def test_wrong_inputs_name_what_to_fix(tmp_path: Path) -> None:
    log = ratings_log(tmp_path)
    with pytest.raises(InputError, match="signal 'rating' is not a signal"):
        RatingReplay(log, signal="rating")
    with pytest.raises(InputError, match="no user has 50 positive ratings"):
        RatingReplay(log, state_size=50)
    with pytest.raises(InputError, match="scale must be one of"):
        RatingReplay(log, scale="percent")
    with pytest.raises(InputError, match="needs replay="):
        gym.make("RecGym/LoggedReplay-v0")


def test_an_unrated_item_is_refused(tmp_path: Path) -> None:
    log = ratings_log(tmp_path, unrated=True)
    replay = RatingReplay(log, state_size=2)
    missing = log.n_items - 1  # user 0 never rated it
    state = replay.start(np.array([0]), np.random.default_rng(0))
    with pytest.raises(InputError, match="was not rated"):
        replay.respond(state, np.array([[missing]]), np.random.default_rng(0))


def test_embeddings_come_from_the_given_users_only(tmp_path: Path) -> None:
    log = ratings_log(tmp_path)
    first = rating_embeddings(log, np.array([0, 1, 2]), 4, "stars")
    again = rating_embeddings(log, np.array([0, 1, 2]), 4, "stars")
    other = rating_embeddings(log, np.array([3, 4, 5]), 4, "stars")
    np.testing.assert_allclose(first, again)
    assert np.linalg.norm(first, axis=1) == pytest.approx(1.0, abs=1e-5)
    assert not np.allclose(np.abs(first), np.abs(other))


@pytest.mark.skipif(not (MOVIELENS / "u.data").exists(),
                    reason="MovieLens-100k sample not found at ../shared/data/movielens-100k")
def test_movielens_protocol_builds_and_popular_beats_random() -> None:
    log = load_movielens(MOVIELENS)
    train_log, test_log = log.split_by_user(0.2, seed=0)
    train = np.unique(train_log.interactions["user_id"])
    test = np.unique(test_log.interactions["user_id"])
    embeddings = rating_embeddings(log, train, 16, "rating")
    replays = [RatingReplay(log, users, embeddings=embeddings) for users in (train, test)]
    width = max(r.max_choices for r in replays)
    train_env, test_env = (recgym.make_vec("RecGym/LoggedReplay-v0", 8, replay=r,
                                           n_candidates=width) for r in replays)
    popular = make_agent("popular", train_env, seed=0)
    popular.fit(train_env, 2000)
    scores = {name: replay_summary(replay_evaluate(agent, test_env)).loc["avg_reward"]
              for name, agent in (("popular", popular),
                                  ("random", make_agent("random", test_env, seed=0)))}
    assert scores["popular"]["ci95_lo"] > scores["random"]["mean"]
