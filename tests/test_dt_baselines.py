"""The baselines of DT4IER: d3rlpy's discrete decision transformer ('d3rlpy_dt', one
scalar return-to-go) and the click-only sequential recommender ('seqrec', SASRec /
GRU4Rec). They learn (beat random in the synthetic world), act per sub-environment of a
vector environment, are repeatable, save / load / resume, and refuse bad input clearly."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
from resume_check import assert_same, check_exact_resume

import recgym
from agents import load_agent, make_agent
from agents.offline import DecisionTransformerAgent, SequentialRecommenderAgent
from agents.offline.seqrec import ClickExamples
from agents.offline_runs.training import ope_applicable
from agents.online.baselines.random_agent import RandomAgent
from agents.registry import AGENT_NAMES, OFFLINE_AGENT_NAMES, agent_class
from offline_data import InputError
from recgym import EnvConfig
from recgym.evaluate import RewardListener, evaluate
from recgym.offline import episodes_from_log
from simulators import SyntheticWorld, WorldConfig

ENV = "RecGym/Synthetic-v0"
WEIGHTS = {"click": 1.0, "like": 1.0, "watch_ratio": 1.0, "retention": 5.0}
CONFIG = EnvConfig(history_len=5, max_sessions=3)
TINY = {"embed_dim": 8, "hidden_dim": 16, "batch_size": 16}
DT_SMALL = {"embed_dim": 16, "hidden_dim": 32, "batch_size": 32, "context_size": 5}
"""The decision transformer the learning test trains (~3 s for 300 steps on one thread)."""

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def softmax_world():
    """A small synthetic world, its softmax log as env episodes (one per user), and a
    function giving an agent's metric in that world over the same 200 users (mean and
    95% interval)."""
    world = SyntheticWorld(WorldConfig(n_users=150, n_items=40, n_topics=4), seed=0)
    log = world.generate_log("softmax", max_sessions=6, seed=0)
    data = episodes_from_log(log, CONFIG, WEIGHTS, simulator=world, episodes_per_user=1)

    def measured(agent, metric):
        table = evaluate(agent, ENV, n_users=200, seed=100, world=world, config=CONFIG,
                         reward_weights=WEIGHTS)
        return table.loc[metric, ["mean", "ci95_lo", "ci95_hi"]].tolist()

    return world, data, measured


def vec(world, n=4, config=CONFIG):
    return recgym.make_vec(ENV, n, world=world, config=config, reward_weights=WEIGHTS)


def rollout(agent, world, steps=12, n=4, seed=3):
    """The actions of `agent` over `steps` steps of a seeded vector environment, handing
    it the rewards as evaluation does."""
    env = vec(world, n)
    agent.observe(env)
    obs, _ = env.reset(seed=seed)
    actions = []
    for _ in range(steps):
        action = np.asarray(agent.predict(obs))
        actions.append(action)
        obs, _, terminated, truncated, info = env.step(action)
        if isinstance(agent, RewardListener):
            agent.record_rewards(info["reward_vector"], terminated | truncated)
    return np.stack(actions)


# ---------------------------------------------------------------------- registry
def test_both_are_registered_offline_agents():
    assert agent_class("d3rlpy_dt") is DecisionTransformerAgent
    assert agent_class("seqrec") is SequentialRecommenderAgent
    assert {"d3rlpy_dt", "seqrec"} <= set(OFFLINE_AGENT_NAMES)
    assert not {"d3rlpy_dt", "seqrec"} & set(AGENT_NAMES)
    assert issubclass(DecisionTransformerAgent, RewardListener)  # evaluate hands it rewards


def test_offline_runs_estimate_off_policy_only_the_context_free_one(softmax_world):
    """`recgym offline` runs skip off-policy estimates for the decision transformer (no
    item probabilities of single observations) and keep them for seqrec."""
    _, data, _ = softmax_world
    assert not ope_applicable(make_agent("d3rlpy_dt", data, **TINY), data)
    seqrec = make_agent("seqrec", data, **TINY)
    assert ope_applicable(seqrec, data)
    probs = seqrec.action_probabilities({k: v[:5] for k, v in data.observations.items()})
    np.testing.assert_array_equal(probs.sum(axis=1), 1.0)


# ---------------------------------------------------------------------- learning
def test_decision_transformer_beats_random_on_the_true_return(softmax_world):
    """Prompted with 0.8 x the best logged return, the decision transformer trained
    offline earns a clearly higher true episode return than random (seeded; measured:
    24.1 [22.8, 25.3] against random's 18.5 [17.4, 19.7])."""
    _, data, measured = softmax_world
    random_mean, _, random_hi = measured(RandomAgent(data.spec), "total_return")
    agent = make_agent("d3rlpy_dt", data, seed=0, **DT_SMALL).fit(data, 300)
    mean, low, _ = measured(agent, "total_return")
    assert low > random_hi + 2.0, (mean, low, random_mean, random_hi)
    assert mean > 1.2 * random_mean, (mean, random_mean)


@pytest.mark.parametrize("encoder", ["sasrec", "gru4rec"])
def test_sequential_recommender_beats_random_on_ctr(encoder, softmax_world):
    """Trained on the next click, SASRec and GRU4Rec nearly double random's click rate
    (seeded; measured: 0.52 and 0.53 against random's 0.28 [0.27, 0.30])."""
    _, data, measured = softmax_world
    random_mean, _, random_hi = measured(RandomAgent(data.spec), "ctr")
    agent = make_agent("seqrec", data, seed=0, encoder=encoder).fit(data, 300)
    mean, low, _ = measured(agent, "ctr")
    assert low > random_hi + 0.1, (encoder, mean, low, random_mean, random_hi)
    assert mean > 1.5 * random_mean, (encoder, mean, random_mean)


# ---------------------------------------------------------------------- acting
def test_decision_transformer_keeps_one_context_per_sub_environment(softmax_world):
    """Each row's context is its own episode: the return-to-go falls by each step's
    reward (the dataset's weights on the reward vector), a row that starts a new episode
    starts afresh, and the batched logits are d3rlpy's own `predict` of each context."""
    world, data, _ = softmax_world
    agent = make_agent("d3rlpy_dt", data, seed=1, **TINY, context_size=4).fit(data, 20)
    assert agent.best_return == pytest.approx(data.episode_returns().max())
    weights = np.array([WEIGHTS.get(n, 0.0) for n in data.reward_names])
    np.testing.assert_allclose(data.reward_vectors @ weights, data.rewards, rtol=1e-5,
                               atol=1e-5)
    logits = []
    original = agent.item_scores
    agent.item_scores = lambda flat: logits.append(original(flat)) or logits[-1]
    env = vec(world, n=6)
    agent.observe(env)
    obs, _ = env.reset(seed=0)
    remaining = np.full(6, agent.target_return)
    restarted = False
    for step in range(100):
        actions = agent.predict(obs)
        contexts = agent.contexts
        assert contexts is not None
        fresh = (obs["session_index"][:, 0] == 0) & (obs["session_step"][:, 0] == 0) & (
            obs["history_mask"].sum(axis=1) == 0)
        remaining[fresh] = agent.target_return
        np.testing.assert_allclose(contexts.returns_to_go[:, -1, 0].numpy(),
                                   remaining / agent.return_scale, rtol=1e-5)
        if step > 0 and fresh.any():
            restarted = True
            assert np.all(contexts.masks[fresh].sum(axis=1).numpy() == 1)
            assert np.all(contexts.timesteps[fresh, -1].numpy() == 1)
            assert np.all(contexts.masks[~fresh].sum(axis=1).numpy() > 1)
        for row in range(6):
            np.testing.assert_allclose(agent.d3rlpy_context_logits(row), logits[-1][row],
                                       rtol=1e-4, atol=1e-5)
        assert not any(a in h for a, h in zip(actions, obs["history_items"], strict=True))
        obs, _, terminated, truncated, info = env.step(actions)
        agent.record_rewards(info["reward_vector"], terminated | truncated)
        remaining -= info["reward_vector"] @ weights
        if restarted:
            break
    assert restarted  # some sub-environment went on to a second episode
    assert contexts.masks.sum(axis=1).max() == 4  # windows of context_size steps


def test_sequential_recommender_reads_clicks_and_fills_slates():
    """With slates, each clicked slate item is an example (read from the next
    observation); `predict` ranks distinct unseen items."""
    world = SyntheticWorld(WorldConfig(n_users=40, n_items=30, n_topics=4), seed=1)
    log = world.generate_log("softmax", max_sessions=2, seed=1, slate_size=3)
    config = CONFIG.replace(slate_size=3)
    data = episodes_from_log(log, config, WEIGHTS, simulator=world, episodes_per_user=1)
    examples = ClickExamples.of(data)
    clicks = data.reward_vectors[:, data.reward_names.index("click")]
    last = np.r_[data.episode[1:] != data.episode[:-1], True]
    assert len(examples.targets) == clicks[~last].sum()  # binary clicks, last steps aside
    flat = data.flat_observations()
    row_of = {o.tobytes(): r for r, o in enumerate(flat)}
    rows = [row_of[o.tobytes()] for o in examples.observations]
    assert all(t in data.actions[r] for r, t in zip(rows, examples.targets, strict=True))
    agent = make_agent("seqrec", data, **TINY).fit(data, 10)
    env = vec(world, config=config)
    obs, _ = env.reset(seed=0)
    for _ in range(5):
        slates = np.asarray(agent.predict(obs))
        assert slates.shape == (4, 3) and all(len(set(s)) == 3 for s in slates.tolist())
        assert not any(set(s) & set(h) for s, h in zip(slates.tolist(),
                                                        obs["history_items"].tolist(),
                                                        strict=True))
        obs, *_ = env.step(slates)


# ---------------------------------------------------------------------- repeatability
@pytest.mark.parametrize("name", ["d3rlpy_dt", "seqrec"])
def test_same_seed_same_predictions_and_saved_agents_act_the_same(name, softmax_world,
                                                                  tmp_path):
    world, data, _ = softmax_world
    a, b = (make_agent(name, data, seed=5, **TINY).fit(data, 15) for _ in range(2))
    assert_same(a.weights(), b.weights())
    actions = rollout(a, world)
    np.testing.assert_array_equal(actions, rollout(b, world))
    other = make_agent(name, data, seed=6, **TINY).fit(data, 15)
    assert not np.array_equal(actions, rollout(other, world))
    a.save(tmp_path / name)
    back = load_agent(tmp_path / name)
    assert type(back) is type(a) and back.num_steps == 15
    np.testing.assert_array_equal(rollout(back, world), actions)


@pytest.mark.parametrize("name", ["d3rlpy_dt", "seqrec"])
def test_a_second_fit_and_a_resumed_run_continue_bit_for_bit(name, softmax_world, tmp_path):
    world, data, _ = softmax_world
    straight, resumed = check_exact_resume(
        lambda: make_agent(name, data, seed=3, **TINY), data, tmp_path)
    np.testing.assert_array_equal(rollout(straight, world), rollout(resumed, world))


# ---------------------------------------------------------------------- bad input
def test_bad_input_gets_one_line_errors_that_name_the_fix(softmax_world):
    world, data, _ = softmax_world
    slate_world = SyntheticWorld(WorldConfig(n_users=20, n_items=30, n_topics=4), seed=1)
    slate_data = episodes_from_log(
        slate_world.generate_log("softmax", max_sessions=2, seed=1, slate_size=3),
        CONFIG.replace(slate_size=3), WEIGHTS, simulator=slate_world, episodes_per_user=1)
    no_clicks = replace(data, reward_vectors=np.zeros_like(data.reward_vectors))
    dt = make_agent("d3rlpy_dt", data, **TINY)
    checks = [
        (lambda: make_agent("d3rlpy_dt", data, rtg_prompt=0.0),
         "rtg_prompt must be a number > 0"),
        (lambda: make_agent("d3rlpy_dt", data, rtg_prompt=-0.5),
         "rtg_prompt must be a number > 0"),
        (lambda: make_agent("d3rlpy_dt", data, rtg_prompt="high"),
         "rtg_prompt"),
        (lambda: make_agent("d3rlpy_dt", slate_data), "slate_size 3; build it with"),
        (lambda: make_agent("d3rlpy_dt", data, hidden_dim=30, num_heads=4),
         r"num_heads \(4\) must divide hidden_dim \(30\)"),
        (lambda: make_agent("d3rlpy_dt", data, context_size=0), "context_size"),
        (lambda: make_agent("d3rlpy_dt", data, algo_kwargs={"num_head": 2}),
         "did you mean 'num_heads'"),
        (lambda: make_agent("d3rlpy_dt", vec(world)).predict(data.observations),
         "fit it"),
        (lambda: dt.action_probabilities(data.observations), "evaluate it in the environment"),
        (lambda: dt.fit(vec(world), 5), "fit it on a TrajectoryDataset"),
        (lambda: (dt.predict({k: v[:4] for k, v in data.observations.items()}),
                  dt.record_rewards(np.zeros((3, 5)), np.zeros(3, bool))),
         r"reward vectors of shape \(4, 5\)"),
        (lambda: make_agent("seqrec", data, encoder="drr_ave"), "'sasrec' or 'gru4rec'"),
        (lambda: make_agent("seqrec", data, encoder="sasrek"), "did you mean 'sasrec'"),
        (lambda: make_agent("seqrec", data, algo_kwargs={"alpha": 1.0}), "algo_kwargs"),
        (lambda: make_agent("seqrec", data).fit(no_clicks, 5), "no step whose primary"),
        (lambda: make_agent("seqrec", data).fit(slate_data, 5), "does not match"),
    ]
    for call, pattern in checks:
        with pytest.raises(InputError) as info:
            call()
        message = str(info.value)
        assert "\n" not in message
        assert re.search(pattern, message), message


def test_one_step_episodes_are_all_kept(softmax_world):
    """d3rlpy's own episode builder drops some one-step episodes; the slices are built
    from the dataset's bounds, so every step is trained on."""
    world, _, _ = softmax_world
    log = world.generate_log("softmax", max_sessions=3, seed=1)
    short = episodes_from_log(log, EnvConfig(history_len=5, max_sessions=3, max_steps=1),
                              WEIGHTS, simulator=world)
    assert short.n_episodes == short.n_steps  # every episode is one step
    agent = make_agent("d3rlpy_dt", short, seed=0, **TINY)
    agent.fit(short, 2)
    assert agent.training_data(short).n_steps == short.n_steps
