"""DT4IER and the plain decision transformer: logged episodes as sessions (state, item
list, 2-D rewards and return-to-go), the model's parts and flags, stateful acting in the
environments, offline ranking metrics, save / load / resume, bad input, and that it
learns (beats random in the synthetic world)."""

from __future__ import annotations

import logging
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch
from resume_check import check_exact_resume

import recgym
from agents import load_agent, make_agent
from agents.offline.dt4ier import DT4IERConfig, PlainDTAgent, PlainDTConfig
from agents.offline.dt4ier.model import BucketReturnEncoder, RewardNet, reward_net_loss
from agents.offline.session_ranking import session_ranking
from agents.online.baselines.random_agent import RandomAgent
from offline_data import InputError
from recgym import EnvConfig
from recgym.evaluate import evaluate
from recgym.offline import episodes_from_log, sessions_of
from simulators import SyntheticWorld, WorldConfig

ENV = "RecGym/Synthetic-v0"
WEIGHTS = {"click": 1.0, "like": 1.0, "watch_ratio": 1.0, "retention": 5.0}
CONFIG = EnvConfig(history_len=5, max_sessions=4)
SMOKE = {"embed_dim": 32, "heads": 4, "list_size": 5, "history": 10, "context": 8,
         "reward_net_steps": 50, "batch_size": 16}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def world():
    return SyntheticWorld(WorldConfig(n_users=150, n_items=60, n_topics=4), seed=0)


@pytest.fixture(scope="module")
def data(world):
    """(training, held-out) episodes of a softmax-logged world, one episode per user."""
    log = world.generate_log("softmax", max_sessions=5, seed=0)
    train_log, heldout_log = log.split_by_user(0.2, seed=0)
    return tuple(episodes_from_log(part, CONFIG, WEIGHTS, simulator=world,
                                   episodes_per_user=1) for part in (train_log, heldout_log))


@pytest.fixture(scope="module")
def trained(data):
    """A smoke-sized DT4IER trained on the training episodes."""
    return make_agent("dt4ier", data[0], **SMOKE).fit(data[0], 400)


def env_kwargs(world):
    return {"world": world, "config": CONFIG, "reward_weights": WEIGHTS}


# ---------------------------------------------------------------------- sessions
def test_sessions_hold_state_list_rewards_and_returns_to_go(data):
    train = data[0]
    s = sessions_of(train, history=6, list_size=4)
    click = train.reward_vectors[:, 0]
    retention = train.reward_vectors[:, train.reward_names.index("retention")]
    index = train.observations["session_index"][:, 0]
    for m in range(0, s.n_sessions, 7):
        start, e = s.first_step[m], s.episode[m]
        rows = np.flatnonzero((train.episode == e) & (index == index[start]))
        assert rows[0] == start
        assert s.rewards[m, 0] == pytest.approx(click[rows].mean())
        assert s.rewards[m, 1] == pytest.approx(retention[rows].sum())
        shown = train.actions[rows]
        assert list(s.action[m][:len(shown)]) == list(shown[:4])
        before = np.flatnonzero((train.episode == e) & (np.arange(train.n_steps) < start))
        clicked = [int(train.actions[r]) for r in before if click[r] > 0][::-1][:6]
        assert list(s.state[m][:len(clicked)]) == clicked
        assert np.all(s.state[m][len(clicked):] == train.spec.n_items)
        assert sorted(s.clicked_of(m).tolist()) == sorted(
            int(train.actions[r]) for r in rows if click[r] > 0)
    starts, stops = s.episode_bounds()
    for a, b in zip(starts, stops, strict=True):
        assert np.allclose(s.returns_to_go[a], s.rewards[a:b].sum(axis=0), atol=1e-5)
        assert np.allclose(s.returns_to_go[b - 1], s.rewards[b - 1], atol=1e-6)


def test_slate_sessions_read_each_item_feedback(world):
    log = world.generate_log("softmax", max_sessions=3, seed=1, slate_size=3)
    config = EnvConfig(history_len=6, max_sessions=3, slate_size=3)
    data = episodes_from_log(log, config, WEIGHTS, simulator=world, episodes_per_user=1)
    s = sessions_of(data, history=8, list_size=6)
    assert s.action.shape[1] == 6
    clicks = sum(len(s.clicked_of(m)) for m in range(s.n_sessions))
    assert clicks == pytest.approx(data.reward_vectors[:, 0].sum())


def test_too_few_sessions_names_the_minimum(world):
    log = world.generate_log("softmax", max_sessions=1, seed=0)
    data = episodes_from_log(log, EnvConfig(max_sessions=1), WEIGHTS, simulator=world,
                             episodes_per_user=1)
    with pytest.raises(InputError, match="fewer than 2 sessions"):
        make_agent("dt4ier", data, **SMOKE).fit(data, 1)


# ---------------------------------------------------------------------- parts
def test_reward_net_balances_and_falls_back_to_global_weights():
    net = RewardNet(3)
    features = torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0]])
    weights = net(features)
    assert torch.allclose(weights.sum(-1), torch.ones(2))
    assert torch.allclose(weights[1], torch.softmax(net.global_logits, 0))

    def trained_weight(returns):
        torch.manual_seed(0)
        model = RewardNet(3)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
        target = torch.tensor([returns, returns])
        for _ in range(400):
            loss = reward_net_loss(model(features), target, 0.5)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return model(features).detach()[:, 0]

    # close returns: lambda = 0.5 balances them, w_s R_s = w_l R_l (w_s = 0.8 / 1.8)
    assert trained_weight([1.0, 0.8]).tolist() == pytest.approx([0.8 / 1.8] * 2, abs=0.03)
    # far apart: the larger return takes the weight
    assert trained_weight([1.0, 0.2]).min() > 0.9


def test_bucket_encoder_is_a_smooth_mixture_of_meta_embeddings():
    encoder = BucketReturnEncoder(buckets=10, dim=8)
    rtg = torch.tensor([[0.1, 0.9], [0.11, 0.9], [0.9, 0.1]])
    out = encoder(rtg)
    assert out.shape == (3, 8)
    assert (out[0] - out[1]).norm() < (out[0] - out[2]).norm()


def test_flags_switch_parts_and_all_off_is_the_plain_dt(data):
    train = data[0]
    plain = make_agent("dt", train, **SMOKE)
    assert isinstance(plain, PlainDTAgent) and plain.config.plain
    assert isinstance(plain.model.returns, torch.nn.Linear)
    plain.fit(train, 3)
    assert set(plain.losses) == {"cross_entropy"}
    full = make_agent("dt4ier", train, **SMOKE).fit(train, 3)
    assert {"cross_entropy", "contrastive", "reward_net"} <= set(full.losses)
    assert full.reward_net_done == SMOKE["reward_net_steps"]
    no_contrast = make_agent("dt4ier", train, **SMOKE, contrastive=False).fit(train, 3)
    assert "contrastive" not in no_contrast.losses
    paper_state = make_agent("dt4ier", train, **SMOKE, obs_encoder=None).fit(train, 3)
    assert paper_state.model.obs_encoder is None and full.model.obs_encoder is not None
    assert paper_state.rank_sessions(train, 3).shape[1] == 3
    assert DT4IERConfig(user_weights=False, reward_encoder=False, contrastive=False).plain
    assert PlainDTConfig().plain


def test_user_weights_without_features_fall_back_with_a_warning(data, caplog):
    train = data[0]
    blank = {**train.observations, "user_features": np.zeros_like(
        train.observations["user_features"])}
    no_features = replace(train, observations=blank)
    with caplog.at_level(logging.WARNING):
        agent = make_agent("dt4ier", no_features, **SMOKE).fit(no_features, 2)
    assert "no user features" in caplog.text
    weights = agent.rtg_weights(torch.zeros(3, train.spec.user_feature_dim))
    assert torch.allclose(weights[0], weights[1])


# ---------------------------------------------------------------------- acting
def test_learns_beats_random_in_the_world(world, trained):
    kwargs = env_kwargs(world)
    ours = evaluate(trained, ENV, n_users=120, seed=500, **kwargs)
    random = evaluate(RandomAgent(trained.spec), ENV, n_users=120, seed=500, **kwargs)
    assert ours.loc["ctr", "ci95_lo"] > random.loc["ctr", "ci95_hi"]
    assert ours.loc["total_return", "ci95_lo"] > random.loc["total_return", "ci95_hi"]


def test_single_env_serves_distinct_items_per_session(world, trained):
    env = gym.make(ENV, **env_kwargs(world))
    obs, _ = env.reset(seed=4)
    trained.reset_memory()
    served: dict[int, list[int]] = {}
    while True:
        action = trained.predict(obs)
        session = int(obs["session_index"][0])
        obs, _, terminated, truncated, info = env.step(action)
        trained.record_rewards(info["reward_vector"][None], np.array([terminated or truncated]))
        served.setdefault(session, []).append(int(action))
        if terminated or truncated:
            break
    for items in served.values():
        first = items[:SMOKE["list_size"]]
        assert len(set(first)) == len(first)
    memory = trained._memories.episodes[0]
    assert np.all(memory.target < trained.target())  # rewards lowered the return-to-go


def test_replan_decodes_every_step_and_never_repeats_within_a_session(world, trained):
    original = trained.config
    trained.config = replace(original, replan=True)
    trained.reset_memory()
    try:
        env = gym.make(ENV, **env_kwargs(world))
        obs, _ = env.reset(seed=6)
        served: dict[int, list[int]] = {}
        decoded = 0
        for _ in range(40):
            session = int(obs["session_index"][0])
            action = trained.predict(obs)
            decoded += len(trained._memories.episodes[0].queue) == SMOKE["list_size"] - 1
            served.setdefault(session, []).append(int(action))
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
        assert decoded == sum(len(v) for v in served.values())  # a fresh list each step
        for items in served.values():
            assert len(set(items)) == len(items)
    finally:
        trained.config = original
        trained.reset_memory()


def test_record_rewards_lowers_the_long_term_target(world, trained):
    vec = recgym.make_vec(ENV, 3, **env_kwargs(world))
    obs, _ = vec.reset(seed=1)
    trained.reset_memory()
    trained.predict(obs)
    index = trained.reward_names.index("retention")
    rewards = np.zeros((3, len(trained.reward_names)))
    rewards[:, index] = [0.0, 0.5, 1.0]
    trained.record_rewards(rewards, np.zeros(3, bool))
    longs = [m.long_term for m in trained._memories.episodes]
    assert longs == [0.0, 0.5, 1.0]


def test_offline_ranking_metrics(data, trained):
    metrics = session_ranking(trained, data[1], k=5)
    assert 0 < metrics["hr@5"] <= 1 and 0 < metrics["ndcg@5"] <= 1
    assert 0 < metrics["precision@5"] <= 1
    assert metrics["ranked_sessions"] > 10
    lists = trained.rank_sessions(data[1], 5)
    assert all(len(set(row)) == 5 for row in lists.tolist())


# ---------------------------------------------------------------------- persistence
def test_seeded_runs_repeat_and_resume_exactly(data, tmp_path):
    train, heldout = data
    a = make_agent("dt4ier", train, **SMOKE).fit(train, 6)
    b = make_agent("dt4ier", train, **SMOKE).fit(train, 6)
    assert np.array_equal(a.rank_sessions(heldout, 5), b.rank_sessions(heldout, 5))
    for x, y in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(x, y)
    check_exact_resume(lambda: make_agent("dt4ier", train, **SMOKE), train, tmp_path,
                       steps=(3, 4))
    loaded = load_agent(a.save(tmp_path / "full"))  # weights only
    assert np.array_equal(loaded.rank_sessions(heldout, 5), a.rank_sessions(heldout, 5))
    with pytest.raises(InputError, match="exists"):
        a.save(tmp_path / "full")


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("prompt", [0, -0.5, float("nan")])
def test_rtg_prompt_must_be_positive(prompt):
    with pytest.raises(InputError, match="rtg_prompt"):
        DT4IERConfig(rtg_prompt=prompt)


@pytest.mark.parametrize(("settings", "message"), [
    ({"obs_encoder": "drr_avg"}, "did you mean 'drr_ave'"),
    ({"embed_dim": 30, "heads": 8}, "multiple of heads")], ids=["encoder-typo", "heads"])
def test_bad_settings_are_named(settings, message):
    with pytest.raises(InputError, match=message):
        DT4IERConfig(**settings)


def test_unknown_immediate_signal_is_named(data):
    with pytest.raises(InputError, match="immediate_signal"):
        make_agent("dt4ier", data[0], **SMOKE, immediate_signal="clik").fit(data[0], 1)


def _untrained(data):
    """A plain DT built from the dataset's spaces only."""
    return PlainDTAgent(data[0].spec, PlainDTConfig(**SMOKE))


def test_untrained_agent_refuses_to_predict(data):
    obs = {k: v[:2] for k, v in data[0].observations.items()}
    with pytest.raises(InputError, match="not been trained"):
        _untrained(data).predict(obs)


def test_fit_on_an_environment_asks_for_a_dataset(data):
    with pytest.raises(InputError, match="TrajectoryDataset"):
        _untrained(data).fit("RecGym/Synthetic-v0", 1)
