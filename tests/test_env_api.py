"""Environment API: reset-needed errors, render modes, integral arguments, the vector env's
public row reset, optional simulator features, and the single-row fast paths (the same
numbers as the batched code)."""

from __future__ import annotations

import hashlib

import gymnasium as gym
import numpy as np
import pytest
from simulator_stubs import BareSimulator

import recgym
from offline_data import InputError
from recgym.envs.base import RecEnv, ResetNeededError
from recgym.envs.vector import RecVectorEnv
from recgym.rng import RowRNG
from simulators import SyntheticWorld, WorldConfig
from simulators.interface import MissingFeatureError

TINY_WORLD = {"n_users": 60, "n_items": 40, "n_topics": 5}


# ---------------------------------------------------------------------- reset needed
def test_stepping_after_the_end_or_before_reset_raises():
    env = gym.make("RecGym/Synthetic-v0", world=TINY_WORLD, max_steps=3).unwrapped
    with pytest.raises(ResetNeededError, match=r"call reset\(\)"):
        env.step(0)
    env.reset(seed=0)
    term = trunc = False
    while not (term or trunc):  # at most max_steps steps
        *_, term, trunc, _ = env.step(1)
    with pytest.raises(ResetNeededError, match=r"call reset\(\)"):
        env.step(1)
    assert isinstance(ResetNeededError("x"), (InputError, gym.error.ResetNeeded))
    env.reset()
    env.step(1)  # a reset makes stepping legal again
    wrapped = gym.make("RecGym/Synthetic-v0", world=TINY_WORLD, max_steps=1)
    wrapped.reset(seed=0)
    wrapped.step(0)
    with pytest.raises(ResetNeededError):
        wrapped.step(0)


def test_a_restored_state_remembers_that_the_episode_ended():
    env = gym.make("RecGym/Synthetic-v0", world=TINY_WORLD, max_steps=1).unwrapped
    env.reset(seed=0)
    env.step(0)
    saved = env.get_state()
    other = gym.make("RecGym/Synthetic-v0", world=TINY_WORLD, max_steps=1).unwrapped
    other.reset(seed=5)
    other.set_state(saved)
    with pytest.raises(ResetNeededError):
        other.step(0)


def test_the_vector_env_still_autoresets_and_needs_a_first_reset():
    vec = recgym.make_vec("RecGym/Synthetic-v0", 2, world=TINY_WORLD, max_steps=2)
    with pytest.raises(ResetNeededError):
        vec.step(np.zeros(2, dtype=np.int64))
    vec.reset(seed=0)
    for _ in range(5):  # episodes end every 2 steps; the next step resets them
        vec.step(np.zeros(2, dtype=np.int64))


# ---------------------------------------------------------------------- rendering
def test_every_render_mode_returns_the_documented_type(capsys):
    assert RecEnv.metadata["render_modes"] == ["ansi", "human", "rgb_array"]
    assert RecEnv.metadata["render_fps"] > 0
    kwargs = {"world": TINY_WORLD, "slate_size": 3, "history_len": 4}
    env = gym.make("RecGym/Synthetic-v0", render_mode="ansi", **kwargs)
    env.reset(seed=0)
    first = env.render()
    assert isinstance(first, str) and "no step yet" in first
    *_, info = env.step(np.array([3, 5, 7]))
    text = env.render()
    assert text.splitlines()[0].startswith(f"user {info['user_id']} ")
    for item in (3, 5, 7):
        assert f"item {item}" in text
    assert "like" in text and "retention" in text and "reward" in text
    short = gym.make("RecGym/Synthetic-v0", render_mode="ansi", max_steps=2, **kwargs)
    short.reset(seed=0)
    short.step(np.array([3, 5, 7]))
    short.step(np.array([4, 6, 8]))
    assert "episode ended after 2 steps" in short.render().splitlines()[0]

    picture = gym.make("RecGym/Synthetic-v0", render_mode="rgb_array", **kwargs)
    picture.reset(seed=0)
    before = picture.render()
    picture.step(np.array([3, 5, 7]))
    frame = picture.render()
    assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.shape[:2] == before.shape[:2]
    assert not np.array_equal(frame, before)  # the slate and history appear

    human = gym.make("RecGym/Synthetic-v0", render_mode="human", **kwargs)
    human.reset(seed=0)
    assert human.render() is None
    human.step(np.array([3, 5, 7]))
    printed = capsys.readouterr().out
    assert "item 3" in printed and printed.count("user ") >= 2  # reset and step print

    silent = gym.make("RecGym/Synthetic-v0", **kwargs)
    silent.reset(seed=0)
    assert silent.unwrapped.render_mode is None and silent.render() is None
    with pytest.warns(UserWarning, match="not in the possible render_modes"), \
            pytest.raises(InputError, match="render_mode must be one of"):
        gym.make("RecGym/Synthetic-v0", render_mode="video", **kwargs)  # gym warns, we refuse


def test_rendering_does_not_change_the_episode():
    plain = gym.make("RecGym/Synthetic-v0", world=TINY_WORLD)
    drawn = gym.make("RecGym/Synthetic-v0", world=TINY_WORLD, render_mode="rgb_array")
    a, _ = plain.reset(seed=4)
    b, _ = drawn.reset(seed=4)
    for t in range(30):
        drawn.render()
        a, ra, *_ = plain.step(t % 40)
        b, rb, *_ = drawn.step(t % 40)
        assert ra == rb
        np.testing.assert_array_equal(a["history_feedback"], b["history_feedback"])


def test_the_vector_env_renders_each_sub_environment():
    vec = recgym.make_vec("RecGym/Synthetic-v0", 3, world=TINY_WORLD, render_mode="ansi")
    vec.reset(seed=0)
    vec.step(np.array([1, 2, 3]))
    frames = vec.render()
    assert len(frames) == 3 and all(isinstance(f, str) for f in frames)
    assert "item 2" in frames[1]
    pictures = recgym.make_vec("RecGym/Synthetic-v0", 2, world=TINY_WORLD,
                               render_mode="rgb_array")
    pictures.reset(seed=0)
    assert all(f.dtype == np.uint8 and f.shape[2] == 3 for f in pictures.render())
    with pytest.raises(InputError, match="render_mode must be one of 'ansi', 'rgb_array'"):
        recgym.make_vec("RecGym/Synthetic-v0", 2, world=TINY_WORLD, render_mode="human")


@pytest.fixture
def one_torch_thread():
    """Tiny networks run much faster on one thread (no OpenMP spinning on busy cores)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_torch_thread")
def test_sb3_make_vec_env_trains_ppo_on_a_small_world():
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    small = {"n_users": 20, "n_items": 12, "n_topics": 3}
    venv = make_vec_env("RecGym/Synthetic-v0", n_envs=4, seed=0,
                        env_kwargs={"world": small, "history_len": 3, "max_steps": 40})
    assert venv.render_mode == "rgb_array"  # SB3 asks for it; the env takes it
    model = PPO("MultiInputPolicy", venv, n_steps=256, batch_size=256, n_epochs=1, seed=0,
                device="cpu")
    model.learn(2048)
    assert model.num_timesteps >= 2048
    action, _ = model.predict(venv.reset(), deterministic=True)
    assert action.shape == (4,)


# ---------------------------------------------------------------------- integral types
def test_numpy_integers_are_accepted_and_stored_as_ints():
    env = gym.make("RecGym/Synthetic-v0", world={"n_users": np.int64(50), "n_items": np.int32(30),
                                                 "n_topics": np.int64(5)},
                   slate_size=np.int64(5), history_len=np.int16(4), max_steps=np.uint8(9),
                   n_candidates=np.int64(8), users=np.arange(10), world_seed=np.int64(2))
    base = env.unwrapped
    config = base.config
    assert (config.slate_size, config.history_len, config.max_steps) == (5, 4, 9)
    assert type(config.slate_size) is int and type(config.n_candidates) is int
    assert config.users == tuple(range(10)) and type(config.users[0]) is int
    assert type(base.simulator.config.n_users) is int
    obs, info = env.reset(seed=np.int64(3), options={"user_id": np.int64(7)})
    assert info["user_id"] == 7 and obs["user_id"] == 7
    same, _ = env.reset(seed=3, options={"user_id": 7})
    np.testing.assert_array_equal(obs["candidates"], same["candidates"])
    vec = recgym.make_vec("RecGym/Synthetic-v0", np.int64(2), world=TINY_WORLD)
    assert vec.num_envs == 2 and type(vec.num_envs) is int
    vec_obs, _ = vec.reset(seed=np.int32(5), options={"user_id": np.array([4, 9])})
    assert vec_obs["user_id"].tolist() == [4, 9]
    vec.reset(seed=[np.int64(1), None])
    for bad, message in (({"slate_size": 2.0}, "slate_size must be an integer"),
                         ({"users": [1.5]}, "users"), ({"max_steps": True}, "max_steps")):
        with pytest.raises(InputError, match=message):
            gym.make("RecGym/Synthetic-v0", world=TINY_WORLD, **bad)
    with pytest.raises(InputError, match="user_id must be integer"):
        env.reset(options={"user_id": 2.5})
    with pytest.raises(InputError, match="num_envs must be an integer"):
        recgym.make_vec("RecGym/Synthetic-v0", 2.0, world=TINY_WORLD)
    with pytest.raises(InputError, match=r"WorldConfig\.n_items must be an integer"):
        WorldConfig(n_items=30.5)


# ---------------------------------------------------------------------- public row reset
def test_reset_rows_starts_chosen_rows_as_reset_would():
    kwargs = {"world": TINY_WORLD, "max_steps": 50}
    vec = recgym.make_vec("RecGym/Synthetic-v0", 3, **kwargs)
    ref = recgym.make_vec("RecGym/Synthetic-v0", 3, **kwargs)
    vec.reset_rows([0, 1, 2], seeds=[10, 11, 12])
    ref_obs, _ = ref.reset(seed=10)
    for key, value in vec.core.observation().items():
        np.testing.assert_array_equal(value, ref_obs[key])
    vec.step(np.array([1, 2, 3]))
    vec.reset_rows([1], seeds=[21])  # row 1 restarts; rows 0 and 2 go on
    single = gym.make("RecGym/Synthetic-v0", **kwargs)
    s_obs, _ = single.reset(seed=21)
    v_obs, reward, *_ = vec.step(np.array([1, 2, 3]))
    s_obs, s_reward, *_ = single.step(2)
    assert reward[1] == s_reward
    for key, value in s_obs.items():
        np.testing.assert_array_equal(v_obs[key][1], value)
    assert vec.core.steps[1] == 1
    vec.reset_rows([2], user_ids=[np.int64(5)])
    assert vec.core.user[2] == 5 and vec.core.steps[2] == 0
    with pytest.raises(InputError, match="one seed"):
        vec.reset_rows([0, 1], seeds=[1])
    fresh = recgym.make_vec("RecGym/Synthetic-v0", 3, **kwargs)
    with pytest.raises(InputError, match="first reset must start every row"):
        fresh.reset_rows([0])


def test_the_sb3_adapter_resets_through_the_public_method():
    from agents.online.sb3_env import RecSB3VecEnv

    vec = recgym.make_vec("RecGym/Synthetic-v0", 2, world=TINY_WORLD, max_steps=1)
    sb3 = RecSB3VecEnv(vec)
    sb3.seed(7)
    obs = sb3.reset()
    ref, _ = recgym.make_vec("RecGym/Synthetic-v0", 2, world=TINY_WORLD).reset(seed=7)
    np.testing.assert_array_equal(obs["user_id"][:, 0], ref["user_id"])
    _, _, done, infos = sb3.step(np.array([0, 1]))
    assert done.all() and "terminal_observation" in infos[0]
    assert vec.core.steps.tolist() == [0, 0]  # reset in the same step, as SB3 expects


# ---------------------------------------------------------------------- optional features
def test_missing_optional_features_raise_one_clear_error_in_both_envs():
    bare = BareSimulator(SyntheticWorld(WorldConfig(**TINY_WORLD)))
    single, vec = RecEnv(bare), RecVectorEnv(bare, 2)
    for env in (single, vec):
        with pytest.raises(MissingFeatureError,
                           match=r"BareSimulator does not provide HasItemEmbeddings "
                                 r"\(item_embeddings\)"):
            env.item_embeddings()
    assert issubclass(MissingFeatureError, InputError)
    single.reset(seed=0)
    with pytest.raises(MissingFeatureError, match="PredictsResponses"):
        single.core.primary_scores()
    obs, _ = single.reset(seed=0)  # defaults stand in for the optional features
    assert obs["user_features"].shape == (1,)
    assert single.core.signal_names[0] == "click"


def test_a_simulator_without_n_users_is_refused_when_the_env_is_built():
    bare = BareSimulator(SyntheticWorld(WorldConfig(**TINY_WORLD)), with_users=False)
    for build in (lambda: RecEnv(bare), lambda: RecVectorEnv(bare, 2)):
        with pytest.raises(MissingFeatureError, match=r"BareSimulator .*UserSimulator.*n_users"):
            build()


# ---------------------------------------------------------------------- fast paths
def test_one_row_random_draws_equal_the_batched_ones():
    keys = np.random.default_rng(1).integers(0, 2**63, size=3).astype(np.uint64)
    batched, single = RowRNG(keys), RowRNG(keys[1:2])
    batched.counters[:] = single.counters[:] = 2**40 + 3
    for size in ((1,), (1, 1), (1, 3), (1, 2, 2), (1, 5)):
        rows = (3, *size[1:])
        np.testing.assert_array_equal(single.random(size), batched.random(rows)[1:2])
        np.testing.assert_array_equal(single.standard_normal(size),
                                      batched.standard_normal(rows)[1:2])
        view = batched.rows(np.array([2]))
        assert view.random(size).shape == size
    assert single.counters[0] == batched.counters[1]


def test_one_user_world_paths_equal_the_batched_ones():
    world = SyntheticWorld(WorldConfig(**TINY_WORLD), seed=3)
    keys = np.array([11, 22], dtype=np.uint64)
    pair, alone = RowRNG(keys), RowRNG(keys[:1])
    both = world.start(np.array([5, 9]), pair)
    one = world.start(np.array([5]), alone)
    items = np.random.default_rng(0).integers(0, 40, size=(300, 2))
    for t, shown in enumerate(items):
        shown[0] = shown[0] if t % 5 else 7  # item 7 again and again: repeat penalties
        fb2 = world.respond(both, shown[:, None], pair)
        fb1 = world.respond(one, shown[:1, None], alone)
        for name in fb1:
            assert fb1[name].dtype == fb2[name].dtype == np.float32
            np.testing.assert_array_equal(fb1[name], fb2[name][:1])
        both, one = (world.step_state(both, shown[:, None], fb2),
                     world.step_state(one, shown[:1, None], fb1))
        np.testing.assert_array_equal(world.leave_prob(one, fb1), world.leave_prob(both, fb2)[:1])
        np.testing.assert_array_equal(one.interest, both.interest[:1])
        np.testing.assert_array_equal(one.boredom, both.boredom[:1])


def test_seeded_episodes_keep_their_numbers():
    """Fixed from the code before the single-row fast paths: the same users, clicks,
    likes, leaves and episode ends, and the same total reward."""
    env = gym.make("RecGym/Synthetic-v0", world=TINY_WORLD, slate_size=2, max_sessions=3)
    _, info = env.reset(seed=123)
    events, total = [info["user_id"]], 0.0
    for t in range(600):
        _, reward, term, trunc, info = env.step(np.array([(7 * t) % 40, (7 * t + 1) % 40]))
        total += reward
        events += [int(info["slate_feedback"][:, 0].sum()),
                   int(info["slate_feedback"][:, 1].sum()),
                   int(info["left_session"]), int(term), int(trunc)]
        if term or trunc:
            _, info = env.reset()
            events.append(info["user_id"])
    digest = hashlib.sha256(np.array(events, np.int64).tobytes()).hexdigest()[:16]
    assert (digest, len(events)) == ("0ffc84bdb850dffd", 3022)
    assert total == pytest.approx(686.582794, abs=1e-5)
