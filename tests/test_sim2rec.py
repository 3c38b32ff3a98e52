"""Sim2Rec: member parameters in info, the world seen through a fitted simulator, the
context-aware PPO (identifies members, learns, repeats, saves, resumes) and its errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import recgym
from agents import load_agent, make_agent
from agents.online.sb3_env import sb3_obs
from agents.sim2rec.param_head import r_squared
from agents.training import TrainConfig, train
from offline_data import InputError
from recgym.cli import main
from recgym.envs.vector import RecVectorEnv
from recgym.evaluate import evaluate
from simulators import SimulatorConfig, SimulatorSet, fit, held_out, synthetic_fitting_log
from simulators.persistence import SimulatorFileError
from simulators.pipeline import fitting_world
from simulators.sim_config import Behaviour
from simulators.sim_set import MemberSpec, member_specs
from simulators.world_view import WorldAsLogged

SMALL = {"encoder": "drr_ave", "embed_dim": 16, "hidden_dim": 32, "net_arch": [32, 32],
         "gamma": 0.9, "lstm_units": 16, "context_dim": 16, "context_hidden": [32],
         "algo_kwargs": {"n_steps": 32, "batch_size": 128, "n_epochs": 2}}


BEHAVIOURS = [(0.35, 0.3), (1.0, 1.0), (3.0, 3.0), (0.6, 0.55), (1.8, 1.8)]
"""(click temperature, leave scale) of the test set's members: three training members far
apart, two held out between them."""


@pytest.fixture(scope="module")
def fitted():
    """(log, set of 5 members of one fitted simulator with the behaviours above; the last
    two held out): members a context can tell apart."""
    log, fraction = synthetic_fitting_log(users=600, days=5, fresh_days=1, seed=2)
    sim = fit(held_out(log, fraction).train(log),
              SimulatorConfig(progress=False, epochs=10, aux_epochs=4))
    specs = [MemberSpec(0, False, 32, 128, 0.0, Behaviour(click_temperature=t, leave_scale=s))
             for t, s in BEHAVIOURS]
    members = [sim.with_behaviour(spec.behaviour) for spec in specs]
    return log, SimulatorSet(members, specs, [{} for _ in specs], heldout=(3, 4))


@pytest.fixture(scope="module")
def set_folder(fitted, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sim2rec") / "set"
    fitted[1].save(folder)
    return folder


def simset(sims, n=8, **kwargs):
    return recgym.make_vec("RecGym/SimSet-v0", n, simulator_set=sims, **kwargs)


# ---------------------------------------------------------------------- environments
def test_member_parameters_are_in_info_and_never_in_observations(fitted):
    _, sims = fitted
    env = simset(sims)
    obs, info = env.reset(seed=3)
    np.testing.assert_allclose(info["member_params"], sims.params[info["member"]], rtol=1e-6)
    assert set(info["member"]) <= set(sims.train_indices)
    assert not any("member" in key or "param" in key for key in obs)
    for _ in range(5):
        obs, _, _, _, info = env.step(env.action_space.sample())
        np.testing.assert_allclose(info["member_params"], sims.params[info["member"]],
                                   rtol=1e-6)
    gym_env = gym.make("RecGym/SimSet-v0", simulator_set=sims, members="heldout")
    _, info = gym_env.reset(seed=0)
    assert info["member"] in sims.heldout
    np.testing.assert_allclose(info["member_params"], sims.params[info["member"]], rtol=1e-6)
    _, _, _, _, info = gym_env.step(gym_env.action_space.sample())
    assert info["member_params"].shape == (sims.params.shape[1],)


def test_members_are_drawn_per_episode_in_the_vector_env(fitted):
    env = simset(fitted[1], n=16)
    env.reset(seed=0)
    first = env.core.members().copy()
    seen = {tuple(first)}
    for _ in range(200):
        env.step(env.action_space.sample())
        seen.add(tuple(env.core.members()))
    assert len(set(first)) > 1  # different rows follow different members
    assert len(seen) > 1  # and rows draw a new member when a new episode starts


def test_a_wider_spread_makes_members_differ_more():
    base = SimulatorConfig()
    narrow, wide = member_specs(6, base, seed=4), member_specs(6, base, seed=4, spread=2.0)
    for a, b in zip(narrow[1:], wide[1:], strict=True):
        assert b.behaviour.popularity_bias == pytest.approx(2 * a.behaviour.popularity_bias,
                                                            abs=2e-3)
        assert np.log(b.behaviour.leave_scale) == pytest.approx(
            2 * np.log(a.behaviour.leave_scale), abs=5e-3)
    with pytest.raises(InputError, match="spread"):
        member_specs(3, base, seed=0, spread=-1)


def test_the_world_seen_through_the_fitted_simulator_has_its_spaces(fitted):
    log, sims = fitted
    view = WorldAsLogged(fitting_world(600, seed=2), log, sims[0])
    world_env, sim_env = RecVectorEnv(view, 4), RecVectorEnv(sims[0], 4)
    assert world_env.core.spec == sim_env.core.spec
    obs, _ = world_env.reset(seed=0)
    np.testing.assert_allclose(obs["user_features"], sims[0].user_features(obs["user_id"]))
    for _ in range(3):
        obs, reward, *_ = world_env.step(world_env.action_space.sample())
    assert np.isfinite(reward).all()
    with pytest.raises(InputError, match="not ids of this world"):
        world = fitting_world(600, seed=2)
        WorldAsLogged(type(world)(world.config.replace(n_items=20), seed=2), log, sims[0])


def test_set_members_must_share_the_catalogue(fitted, tmp_path):
    _, sims = fitted
    other_log, _ = synthetic_fitting_log(users=120, days=2, fresh_days=1, seed=5)
    stranger = fit(other_log, SimulatorConfig(progress=False, epochs=1, aux_epochs=1))
    with pytest.raises(InputError, match="member 1 has 120 users"):
        SimulatorSet([sims[0], stranger], sims.specs[:2], sims.fidelity[:2])
    folder = tmp_path / "set"
    sims.subset([0, 1]).save(folder)
    import shutil

    shutil.rmtree(folder / "member_01")
    stranger.save(folder / "member_01")
    with pytest.raises(SimulatorFileError, match="set: simulator set member 1"):
        SimulatorSet.load(folder)


# ---------------------------------------------------------------------- the agent
def test_r_squared_against_a_reference_with_members_weighted_equally():
    target = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    assert r_squared(target, target)["pooled"] == 1.0
    mean = np.broadcast_to(target.mean(axis=0), target.shape)
    assert r_squared(mean, target)["pooled"] == pytest.approx(0.0)
    # a head that ignores the context predicts the reference: R² 0, however many rows
    # each member has
    rows = np.array([[1.0], [1.0], [1.0], [1.0], [-1.0]])
    groups = np.array([0, 0, 0, 0, 1])
    reference = np.array([0.3])
    constant = np.full_like(rows, 0.3)
    assert r_squared(constant, rows, reference, groups)["pooled"] == pytest.approx(0.0)
    halfway = r_squared(rows / 2, rows, np.array([0.0]), groups)
    assert halfway["pooled"] == pytest.approx(0.75) and halfway["0"] == pytest.approx(0.75)
    flat = r_squared(np.zeros((3, 2)), np.array([[1.0, 2.0]] * 3))
    assert np.isnan(flat["0"]) and np.isnan(flat["pooled"])  # nothing to explain


def test_context_is_a_function_of_the_observation(fitted):
    _, sims = fitted
    env = simset(sims)
    agent = make_agent("sim2rec", env, **SMALL)
    obs, _ = env.reset(seed=1)
    batch = agent.predict(obs)
    single = [agent.predict({k: v[i] for k, v in obs.items()}) for i in range(len(batch))]
    np.testing.assert_array_equal(batch, single)
    features = agent.model.policy.features_extractor
    assert features.features_dim == features.encoder.features_dim + 16
    for _ in range(5):
        obs, *_ = env.step(agent.predict(obs))
    params = agent.predict_params(obs)
    assert params.shape == (8, 4) and np.ptp(params, axis=0).max() > 0  # not a constant


def test_the_head_trains_on_each_observation_with_its_own_member(fitted):
    """The members the head learns from are those of the observations PPO stored, across
    episode ends and resets."""
    _, sims = fitted
    env = simset(sims, n=4)
    agent = make_agent("sim2rec", env, **SMALL)  # rollouts of 32 steps
    vec, returned, captured = agent.vec_env, [], []
    reset, step_wait, train_head = vec.reset, vec.step_wait, agent.train_param_head

    def record_reset():
        obs = reset()
        returned.append((obs, vec.core.members().copy()))
        return obs

    def record_step():
        out = step_wait()
        returned.append((out[0], vec.core.members().copy()))
        return out

    def record_training(obs, members):
        captured.append((obs, members))
        return train_head(obs, members)

    vec.reset, vec.step_wait, agent.train_param_head = record_reset, record_step, \
        record_training
    agent.fit(env, 4 * 32 * 4)  # four rollouts of 32 steps of 4 rows
    assert len(captured) == 4
    episodes_ended = 0
    for r, (obs, members) in enumerate(captured):
        rollout = returned[32 * r:32 * (r + 1)]
        np.testing.assert_array_equal(members.reshape(32, 4), [m for _, m in rollout])
        for key in ("user_id", "history_items", "session_step"):
            expected = np.stack([o[key] for o, _ in rollout])
            np.testing.assert_array_equal(obs[key].reshape(expected.shape), expected)
        episodes_ended += int((np.diff(members.reshape(32, 4), axis=0) != 0).sum())
    assert episodes_ended > 0  # rows changed member within the rollouts
    groups = agent.model.policy.optimizer.param_groups
    assert groups[0]["lr"] == pytest.approx(3e-4)
    assert groups[1]["lr"] == pytest.approx(1e-4)  # the extractor's own rate


def test_sim2rec_identifies_members_and_beats_random_on_unseen_ones(fitted, one_thread):
    _, sims = fitted
    env = simset(sims, n=16)
    agent = make_agent("sim2rec", env, seed=0, **SMALL).fit(env, 12000)
    # acting as in training (sampled actions); a head without context scores 0
    train_r2 = agent.param_r2(simset(sims, n=64), steps=150, seed=5, deterministic=False)
    assert train_r2["r2"] > 0.1, train_r2  # the context tells the training members apart
    random = make_agent("random", env, seed=0)
    held = simset(sims, n=64, members="heldout")
    ours = evaluate(agent, held, n_users=128, seed=50).loc["total_return", "mean"]
    floor = evaluate(random, simset(sims, n=64, members="heldout"), n_users=128,
                     seed=50).loc["total_return", "mean"]
    assert ours > 1.2 * floor, (ours, floor)
    held_r2 = agent.param_r2(simset(sims, n=64, members="heldout"), steps=150, seed=5,
                             deterministic=False)
    assert set(held_r2) == {"r2", "r2_click_temperature", "r2_popularity_bias",
                            "r2_leave_scale", "r2_return_scale"}
    assert held_r2["r2"] > 0.05, held_r2  # and places unseen members between them


def test_the_probe_does_not_train_the_extractor(fitted):
    _, sims = fitted
    env = simset(sims)
    agent = make_agent("sim2rec", env, param_loss=False, **SMALL)
    before = {k: v.clone() for k, v in agent.model.policy.features_extractor.context_net
              .state_dict().items()}
    obs, _ = env.reset(seed=0)
    agent.attach(env)
    agent.train_param_head(sb3_obs(obs), env.core.members())
    after = agent.model.policy.features_extractor.context_net.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    trained_head = make_agent("sim2rec", env, **SMALL)
    trained_head.attach(env)
    start = {k: v.clone() for k, v in trained_head.model.policy.features_extractor
             .context_net.state_dict().items()}
    trained_head.train_param_head(sb3_obs(obs), env.core.members())
    moved = trained_head.model.policy.features_extractor.context_net.state_dict()
    assert any(not np.array_equal(start[k], moved[k]) for k in start)


def test_same_seed_same_agent_and_exact_resume(set_folder, tmp_path):
    env_kwargs = {"simulator_set": str(set_folder)}
    config = TrainConfig(agent="sim2rec", env="RecGym/SimSet-v0", env_kwargs=env_kwargs,
                         steps=384, eval_every=128, eval_users=8, n_envs=4, seed=3,
                         agent_kwargs=SMALL)
    straight = train(config, tmp_path / "straight", progress=False)
    again = train(config, tmp_path / "again", progress=False)
    train(config, tmp_path / "split", progress=False, stop_after=128)
    resumed = train(config, tmp_path / "split", resume=True, progress=False)
    for other in (again, resumed):
        assert other.num_steps == straight.num_steps
        for key, value in straight.weights()["params"]["policy"].items():
            np.testing.assert_array_equal(value, other.weights()["params"]["policy"][key],
                                          err_msg=key)
    one = pd.read_csv(tmp_path / "straight" / "metrics.csv").drop(columns="wall_time")
    two = pd.read_csv(tmp_path / "split" / "metrics.csv").drop(columns="wall_time")
    pd.testing.assert_frame_equal(one, two)
    assert one["param_r2_rollout"].iloc[1:].notna().all()  # runs report the head's R²
    back = load_agent(tmp_path / "straight" / "agent")
    obs, _ = simset(str(set_folder)).reset(seed=9)
    np.testing.assert_array_equal(back.predict(obs), straight.predict(obs))
    np.testing.assert_allclose(back.predict_params(obs), straight.predict_params(obs))


# ---------------------------------------------------------------------- errors
def test_bad_settings_and_environments_are_one_line_errors(fitted, set_folder, tmp_path,
                                                           capsys):
    _, sims = fitted
    for bad, match in ((["speed"], "param_names"), (5, "param_names"),
                       (["leave_scale", "leave_scale"], "param_names")):
        with pytest.raises(InputError, match=match):
            make_agent("sim2rec", simset(sims), param_names=bad)
    for settings, match in (({"context_hidden": 5}, "context_hidden"),
                            ({"context_hidden": [-3]}, "context_hidden"),
                            ({"learning_rate": 0}, "learning_rate")):
        with pytest.raises(InputError, match=match):
            make_agent("sim2rec", simset(sims), **settings)
    trained_here = make_agent("sim2rec", simset(sims), **SMALL)
    with pytest.raises(InputError, match="training environment"):
        trained_here.param_r2(trained_here.vec_env.vec)
    with pytest.raises(InputError, match="RecGym/SimSet-v0"):
        make_agent("sim2rec", recgym.make_vec("RecGym/Synthetic-v0", 4)).fit(
            recgym.make_vec("RecGym/Synthetic-v0", 4), 64)
    cases = [
        (["--agent", "sim2rec"], "trains across a simulator set"),
        (["--agent", "sim2rec", "--simulator-set", str(tmp_path / "none")], "no such folder"),
        (["--agent", "sim2rec", "--simulator-set", str(set_folder), "--env-kwargs",
          '{"members": [0]}'], "at least 2 training members"),
        (["--agent", "sim2rec", "--simulator-set", str(set_folder), "--env",
          "RecGym/Synthetic-v0"], "argument of RecGym/SimSet-v0"),
        (["--agent", "sim2rec", "--simulator-set", str(tmp_path)], "no simulator_set.json"),
    ]
    for i, (args, message) in enumerate(cases):
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "--out", str(tmp_path / f"run{i}"), "--steps", "64",
                  "--no-progress", *args])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1, err
