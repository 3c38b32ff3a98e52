"""Gymnasium environments: registry checks, determinism, vector/single equivalence,
actions, rewards, episode mechanics and wrappers."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import recgym
from offline_data import InputError, load_movielens
from recgym.wrappers import (
    ContinuousAction,
    FlattenHistory,
    IdsAsBox,
    RecordRecMetrics,
    RewardWeights,
)
from simulators import SimulatorConfig, SimulatorSet, fit, held_out, synthetic_log

TINY_WORLD = {"n_users": 60, "n_items": 40, "n_topics": 5}
TINY_FIT = SimulatorConfig(progress=False, epochs=2, aux_epochs=2)


@pytest.fixture(scope="module")
def logged_sim():
    return fit(synthetic_log(n_users=80, n_days=2, seed=0), TINY_FIT)


@pytest.fixture(scope="module")
def sim_set():
    log = synthetic_log(n_users=80, n_days=3, seed=1)
    return SimulatorSet.fit(log, k=3, config=TINY_FIT, n_heldout=1, split=held_out(log, 0.3),
                            max_auc_gap=1.0)  # a tiny set for environment tests only


def registry_kwargs(env_id, logged_sim, sim_set, tmp_path_factory, request):
    base = {"history_len": 4, "max_steps": 60}
    if env_id == "RecGym/Synthetic-v0":
        return {**base, "world": TINY_WORLD}
    if env_id == "RecGym/Logged-v0":
        return {**base, "simulator": logged_sim}
    if env_id == "RecGym/SimSet-v0":
        return {**base, "simulator_set": sim_set, "members": "all"}
    if env_id == "RecGym/LoggedReplay-v0":
        log = load_movielens(request.getfixturevalue("movielens_dir"))
        return {**base, "log": log, "replay_kwargs": {"state_size": 2, "positive": 3}}
    cache = tmp_path_factory.mktemp("cache")
    if env_id == "RecGym/KuaiRand-v0":
        folder, name = request.getfixturevalue("kuairand_smoke")
        return {**base, "data_path": folder, "cache_dir": cache, "fit_config": TINY_FIT,
                "loader_kwargs": {"files": [name]}}
    folder = request.getfixturevalue("movielens_dir")
    return {**base, "data_path": folder, "cache_dir": cache, "fit_config": TINY_FIT}


@pytest.mark.parametrize("env_id", list(recgym.ENVIRONMENTS))
def test_every_registered_env_passes_both_checkers(env_id, logged_sim, sim_set,
                                                   tmp_path_factory, request):
    kwargs = registry_kwargs(env_id, logged_sim, sim_set, tmp_path_factory, request)
    for extra in ({"render_mode": "rgb_array"}, {"slate_size": 3},
                  {"slate_size": 2, "n_candidates": 8}):
        env = gym.make(env_id, **kwargs, **extra)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unbounded user-feature Box warnings
            # the first case also checks every declared render mode (each one made anew)
            check_env(env.unwrapped, skip_render_check="render_mode" not in extra)
            sb3_check_env(env.unwrapped, warn=False)
        vec = recgym.make_vec(env_id, 3, **kwargs, **extra)
        obs, _ = vec.reset(seed=0)
        assert obs["history_items"].shape == (3, 4)
        vec.step(np.stack([vec.single_action_space.sample() for _ in range(3)]))


def test_dataset_envs_name_what_is_missing(tmp_path):
    with pytest.raises(InputError, match="needs data_path"):
        gym.make("RecGym/KuaiRand-v0")
    with pytest.raises(InputError, match=r"log_standard_\*\.csv"):
        gym.make("RecGym/KuaiRand-v0", data_path=tmp_path)
    with pytest.raises(InputError, match=r"u\.data"):
        gym.make("RecGym/MovieLens-v0", data_path=tmp_path)
    with pytest.raises(InputError, match="needs simulator="):
        gym.make("RecGym/Logged-v0")


def rollout(env, seed, steps=120, actions_seed=0):
    rng = np.random.default_rng(actions_seed)
    obs, _ = env.reset(seed=seed)
    trace = [obs["history_items"].copy()]
    for _ in range(steps):
        obs, reward, term, trunc, _ = env.step(rng.integers(env.action_space.n))
        trace.append((obs["history_items"].copy(), reward, term, trunc))
        if term or trunc:
            obs, _ = env.reset()
    return trace


def test_reset_seed_makes_episodes_repeatable():
    env = gym.make("RecGym/Synthetic-v0", world=TINY_WORLD)
    a, b = rollout(env, 3), rollout(env, 3)
    c = rollout(env, 4)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_equal(x, y)
    first = [step[0] for step in a[1:]]
    other = [step[0] for step in c[1:]]
    assert any(not np.array_equal(x, y) for x, y in zip(first, other, strict=True))


@pytest.mark.parametrize("extra", [{}, {"slate_size": 3}, {"slate_size": 2, "n_candidates": 6}])
@pytest.mark.parametrize("kind", ["synthetic", "logged"])
def test_vector_env_equals_single_envs(kind, extra, logged_sim):
    kwargs = {"world": TINY_WORLD} if kind == "synthetic" else {"simulator": logged_sim}
    env_id = "RecGym/Synthetic-v0" if kind == "synthetic" else "RecGym/Logged-v0"
    kwargs = {**kwargs, "max_steps": 25, "history_len": 4, **extra}
    n, steps = 4, 80
    vec = recgym.make_vec(env_id, n, **kwargs)
    singles = [gym.make(env_id, **kwargs) for _ in range(n)]
    rng = np.random.default_rng(0)
    k = extra.get("slate_size", 1)
    choices = extra.get("n_candidates", vec.single_action_space.n if k == 1 else None)
    choices = choices or vec.single_action_space.nvec[0]
    actions = np.stack([np.stack([rng.choice(choices, k, replace=False) for _ in range(n)])
                        for _ in range(steps)])
    if k == 1:
        actions = actions[..., 0]
    v_obs, _ = vec.reset(seed=10)
    s_obs = [e.reset(seed=10 + i)[0] for i, e in enumerate(singles)]
    done = np.zeros(n, dtype=bool)
    ends = 0
    for t in range(steps):
        for i in range(n):
            for key in v_obs:
                # the synthetic world is exact; a neural simulator's matrix products round
                # differently by batch size (about 1e-7), so floats are compared closely
                np.testing.assert_allclose(v_obs[key][i], s_obs[i][key], rtol=1e-5, atol=1e-6,
                                           err_msg=f"step {t} {key}")
                if kind == "synthetic" or v_obs[key].dtype.kind in "iu":
                    np.testing.assert_array_equal(v_obs[key][i], s_obs[i][key])
        v_obs, v_rew, v_term, v_trunc, _ = vec.step(actions[t])
        for i, env in enumerate(singles):
            if done[i]:  # next-step autoreset: the vector env reset this one
                s_obs[i], _ = env.reset()
                assert v_rew[i] == 0 and not v_term[i] and not v_trunc[i]
                done[i] = False
                continue
            s_obs[i], reward, term, trunc, _ = env.step(actions[t][i])
            assert v_rew[i] == pytest.approx(reward, abs=1e-5)
            assert (v_term[i], v_trunc[i]) == (term, trunc)
            done[i] = term or trunc
            ends += done[i]
    assert ends >= 2  # autoreset was exercised


def test_invalid_actions_raise_value_errors():
    env = gym.make("RecGym/Synthetic-v0", world=TINY_WORLD, slate_size=3)
    env.reset(seed=0)
    for bad, message in (([0, 1, 40], r"0\.\.39"), ([0, 1], "slate of 3"),
                         ([2, 2, 5], "repeats an item"), ([0.5, 1, 2], "integer")):
        with pytest.raises(ValueError, match=message):
            env.step(np.array(bad))
    single = gym.make("RecGym/Synthetic-v0", world=TINY_WORLD)
    single.reset(seed=0)
    with pytest.raises(ValueError, match=r"item ids in 0\.\.39"):
        single.step(-1)


def test_reward_is_the_weighted_reward_vector():
    weights = {"click": 2.0, "like": 1.0, "watch_ratio": 0.5, "depth": 0.1, "retention": 3.0}
    env = gym.make("RecGym/Synthetic-v0", world=TINY_WORLD, reward_weights=weights)
    env.reset(seed=1)
    names = env.unwrapped.reward_names
    assert names == ["click", "like", "watch_ratio", "depth", "retention"]
    w = np.array([weights[n] for n in names])
    for t in range(150):
        _, reward, term, trunc, info = env.step(t % 40)
        assert info["reward_names"] == names
        assert reward == pytest.approx(float(info["reward_vector"] @ w))
        assert info["reward_vector"][3] == 1.0
        if info["left_session"]:
            expected = max(0.0, 1 - info["return_gap_h"] / env.unwrapped.config.churn_after_h)
            assert info["reward_vector"][4] == pytest.approx(expected)
        else:
            assert info["reward_vector"][4] == 0.0
        if term or trunc:
            env.reset()
    rewired = RewardWeights(env, {"retention": 1.0})
    rewired.reset(seed=0)
    _, r, *_, info = rewired.step(0)
    assert r == pytest.approx(info["reward_vector"][4])
    with pytest.raises(InputError, match="did you mean 'retention'"):
        gym.make("RecGym/Synthetic-v0", world=TINY_WORLD, reward_weights={"retension": 1})


def test_leaving_returning_and_churn_happen_and_are_counted():
    env = RecordRecMetrics(gym.make("RecGym/Synthetic-v0", world=TINY_WORLD, churn_after_h=40,
                                    max_sessions=4))
    env.reset(seed=5)
    left = returned = churned = episodes = 0
    sessions_seen = 0
    for t in range(3000):
        _, _, term, trunc, info = env.step(t % 40)
        if info["left_session"]:
            left += 1
            sessions_seen += 1
            returned += not info["churned"]
        if term or trunc:
            churned += info["churned"]
            # sessions started: the ended ones, plus one cut short by max_steps
            assert info["episode_rec"]["sessions"] == sessions_seen + (not info["left_session"])
            assert info["episode_rec"]["churn"] == float(info["churned"])
            assert term == info["churned"]
            episodes += 1
            sessions_seen = 0
            env.reset()
    assert left > 50 and returned > 20 and churned > 3 and episodes > 10
    rec = env.episodes[0]
    for key in ("ctr", "depth", "sessions", "return_gap", "retention", "churn",
                "total_return", "signal/like"):
        assert key in rec


def test_simset_env_draws_members_from_the_chosen_split(sim_set):
    env = gym.make("RecGym/SimSet-v0", simulator_set=sim_set, members="heldout")
    seen = {env.reset(seed=s)[1]["member"] for s in range(10)}
    assert seen == set(sim_set.heldout)
    env = gym.make("RecGym/SimSet-v0", simulator_set=sim_set, members="train")
    seen = {env.reset(seed=s)[1]["member"] for s in range(30)}
    assert seen == set(sim_set.train_indices)
    with pytest.raises(InputError, match="members must be"):
        gym.make("RecGym/SimSet-v0", simulator_set=sim_set, members="test")


def test_continuous_action_picks_the_best_scored_items():
    env = ContinuousAction(gym.make("RecGym/Synthetic-v0", world=TINY_WORLD, slate_size=3))
    env.reset(seed=0)
    table = env.embeddings
    vector = table[7] + 0.01
    _, _, _, _, info = env.step(vector)
    expected = np.argsort(-(table @ vector))[:3]
    np.testing.assert_array_equal(info["slate"], expected)
    assert env.action_space.shape == (table.shape[1],)


def test_observation_wrappers():
    flat = FlattenHistory(gym.make("RecGym/Synthetic-v0", world=TINY_WORLD, history_len=4))
    obs, _ = flat.reset(seed=0)
    assert flat.observation_space.contains(obs)
    ids = FlattenHistory(gym.make("RecGym/Synthetic-v0", world=TINY_WORLD, history_len=4),
                         items="id")
    obs, _ = ids.reset(seed=0)
    spec = ids.unwrapped.core.spec
    assert obs.shape == (spec.flat_dim,)
    back = spec.unflatten(obs[None])
    assert back["history_items"][0].tolist() == [40] * 4
    boxed = IdsAsBox(gym.make("RecGym/Synthetic-v0", world=TINY_WORLD))
    obs, _ = boxed.reset(seed=0)
    assert boxed.observation_space.contains(obs)
    sb3_check_env(boxed, warn=False)


def test_make_vec_hints_unknown_ids():
    with pytest.raises(InputError, match="did you mean 'RecGym/Synthetic-v0'"):
        recgym.make_vec("RecGym/Synthetic-v1", 2)
    vec = gym.make_vec("RecGym/Synthetic-v0", num_envs=2, vectorization_mode="vector_entry_point",
                       world=TINY_WORLD)
    assert vec.num_envs == 2
