"""State encoders (recgym.encoders) and their stable-baselines3 and d3rlpy adapters."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import recgym  # noqa: F401  (registers the environments)
from offline_data.shared.errors import InputError
from recgym.encoders import ENCODERS, make_encoder, spec_from_space
from recgym.encoders.base import chronological
from recgym.spaces import ObsSpec

NAMES = list(ENCODERS)
ORDERED = ["deers", "gru4rec", "caser", "sasrec"]


def small_spec(length: int = 6, n_signals: int = 3, features: int = 4,
               n_candidates: int | None = None) -> ObsSpec:
    return ObsSpec(n_users=7, n_items=11,
                   signal_names=tuple(f"s{i}" for i in range(n_signals)),
                   signal_low=(0.0,) * n_signals, signal_high=(1.0,) * n_signals,
                   history_len=length, user_feature_dim=features, slate_size=1,
                   n_candidates=n_candidates, max_steps=50, max_sessions=5)


def random_batch(spec: ObsSpec, batch: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random observations; row 0 has an empty history, row 1 a full one, the others a
    filled prefix of random length."""
    g = torch.Generator().manual_seed(seed)
    length, n_sig = spec.history_len, spec.n_signals
    filled = torch.randint(0, length + 1, (batch,), generator=g)
    filled[0], filled[1] = 0, length
    mask = (torch.arange(length)[None] < filled[:, None]).float()
    items = torch.randint(0, spec.n_items, (batch, length), generator=g)
    items = torch.where(mask > 0, items, torch.full_like(items, spec.n_items))
    feedback = torch.rand(batch, length, n_sig, generator=g)
    feedback[..., 0] = (feedback[..., 0] > 0.5).float()
    obs = {"user_id": torch.randint(0, spec.n_users, (batch,), generator=g),
           "user_features": torch.randn(batch, spec.user_feature_dim, generator=g),
           "history_items": items, "history_feedback": feedback * mask[..., None],
           "history_mask": mask,
           "session_step": torch.randint(0, 20, (batch, 1), generator=g).float(),
           "session_index": torch.randint(0, 5, (batch, 1), generator=g).float()}
    if spec.n_candidates:
        obs["candidates"] = torch.randint(0, spec.n_items, (batch, spec.n_candidates),
                                          generator=g)
    return obs


# ---------------------------------------------------------------------------- encoders
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sizes", [(6, 3, 4), (1, 1, 1), (9, 2, 3)],
                         ids=["L6-S3-F4", "L1-S1-F1", "L9-S2-F3"])
def test_shape_finite_and_gradients(name: str, sizes: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    spec = small_spec(*sizes)
    encoder = make_encoder(name, spec, embed_dim=8, hidden_dim=16)
    obs = random_batch(spec)
    out = encoder(obs)
    assert out.shape == (5, encoder.features_dim)
    assert torch.isfinite(out).all()
    out.square().sum().backward()
    grads = [p.grad for p in encoder.parameters() if p.grad is not None]
    assert all(torch.isfinite(g).all() for g in grads)
    item_grad = encoder.items.embedding.weight.grad
    assert item_grad is not None and item_grad[: spec.n_items].abs().sum() > 0
    assert item_grad[spec.n_items].abs().sum() == 0  # the empty id stays a zero row
    user = getattr(encoder, "user", None)
    if user is not None:
        assert user.embedding.weight.grad.abs().sum() > 0
        assert user.features.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_empty_history_and_float_ids(name: str) -> None:
    spec = small_spec()
    encoder = make_encoder(name, spec).eval()
    obs = random_batch(spec)
    empty = {k: v[:1] for k, v in obs.items()}
    assert empty["history_mask"].sum() == 0
    assert torch.isfinite(encoder(empty)).all()
    as_float = {k: v.float() for k, v in obs.items()}
    with torch.no_grad():
        torch.testing.assert_close(encoder(as_float), encoder(obs))


def test_features_dim_at_default_sizes() -> None:
    spec = small_spec(length=10)
    dims = {name: make_encoder(name, spec).features_dim for name in NAMES}
    assert dims == {"deers": 130, "drr_n": 322, "drr_p": 1762, "drr_u": 1762, "drr_ave": 98,
                    "drr_att": 98, "gru4rec": 66, "caser": 98, "sasrec": 34}


def test_candidates_are_appended() -> None:
    spec = small_spec(n_candidates=4)
    encoder = make_encoder("gru4rec", spec, embed_dim=8, hidden_dim=16)
    assert encoder.features_dim == 16 + 2 + 4 * 8
    obs = random_batch(spec)
    out = encoder(obs)
    expected = encoder.items.embedding(obs["candidates"]).flatten(1)
    torch.testing.assert_close(out[:, -32:], expected)
    assert make_encoder("gru4rec", spec, use_candidates=False).features_dim == 64 + 2


def test_chronological_orders_oldest_to_newest() -> None:
    x = torch.tensor([[[3.0], [2.0], [1.0], [0.0]], [[5.0], [0.0], [4.0], [0.0]]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.0]])
    left = chronological(x, mask, "left")[..., 0]
    right = chronological(x, mask, "right")[..., 0]
    assert left[0, :3].tolist() == [1.0, 2.0, 3.0]
    assert left[1, :2].tolist() == [4.0, 5.0]
    assert right[0, 1:].tolist() == [1.0, 2.0, 3.0]
    assert right[1, 2:].tolist() == [4.0, 5.0]


def test_deers_feedback_moves_item_between_streams() -> None:
    torch.manual_seed(0)
    spec = small_spec()
    encoder = make_encoder("deers", spec, embed_dim=8, hidden_dim=16).eval()
    obs = random_batch(spec)
    obs["history_feedback"][1, 2, 0] = 1.0
    flipped = {k: v.clone() for k, v in obs.items()}
    flipped["history_feedback"][1, 2, 0] = 0.0
    from recgym.encoders.base import prepare

    pos, neg = encoder.split(prepare(obs, spec))
    pos2, neg2 = encoder.split(prepare(flipped, spec))
    assert pos[1, 2] == 1 and neg[1, 2] == 0 and pos2[1, 2] == 0 and neg2[1, 2] == 1
    with torch.no_grad():
        a, b = encoder(obs), encoder(flipped)
    half = encoder.hidden_dim
    assert not torch.allclose(a[1, :half], b[1, :half])  # positive stream changed
    assert not torch.allclose(a[1, half:2 * half], b[1, half:2 * half])  # negative too
    torch.testing.assert_close(a[2:], b[2:])  # other rows untouched


def test_deers_keeps_n_recent_per_stream() -> None:
    spec = small_spec()
    encoder = make_encoder("deers", spec, n_recent=2)
    obs = random_batch(spec)
    obs["history_feedback"][1, :, 0] = torch.tensor([1.0, 0, 1, 1, 0, 0])
    from recgym.encoders.base import prepare

    pos, neg = encoder.split(prepare(obs, spec))
    assert pos[1].tolist() == [1, 0, 1, 0, 0, 0]
    assert neg[1].tolist() == [0, 1, 0, 0, 1, 0]


@pytest.mark.parametrize("name", ORDERED)
def test_order_sensitive(name: str) -> None:
    torch.manual_seed(0)
    spec = small_spec()
    encoder = make_encoder(name, spec, embed_dim=8, hidden_dim=16).eval()
    obs = random_batch(spec)
    obs["history_items"][1] = torch.tensor([0, 1, 2, 3, 4, 5])
    obs["history_feedback"][1] = 0.0
    obs["history_feedback"][1, :, 0] = 1.0
    swapped = {k: v.clone() for k, v in obs.items()}
    swapped["history_items"][1] = torch.tensor([1, 0, 2, 3, 4, 5])
    with torch.no_grad():
        a, b = encoder(obs), encoder(swapped)
    assert not torch.allclose(a[1], b[1], atol=1e-6)
    torch.testing.assert_close(a[0], b[0])


def test_drr_ave_matches_definition() -> None:
    spec = small_spec()
    encoder = make_encoder("drr_ave", spec, embed_dim=8).eval()
    obs = random_batch(spec)
    with torch.no_grad():
        out = encoder(obs)
        u = encoder.user(obs["user_id"], obs["user_features"])
        mask = obs["history_mask"]
        items = encoder.items(obs["history_items"], obs["history_feedback"], mask)
        pooled = items.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
    torch.testing.assert_close(out[:, :24], torch.cat([u, u * pooled, pooled], dim=1))
    torch.testing.assert_close(out[0, 8:24], torch.zeros(16))  # empty history: p = 0


def test_drr_att_weights_sum_to_one_over_filled_slots() -> None:
    spec = small_spec()
    encoder = make_encoder("drr_att", spec, embed_dim=8).eval()
    obs = random_batch(spec)
    from recgym.encoders.base import prepare

    batch = prepare(obs, spec)
    with torch.no_grad():
        u = encoder.user_vector(batch)
        items, mask = encoder.weighted_items(batch)
        weights = encoder.attention(items, mask, u)
    filled = (mask.sum(1) > 0).float()
    assert filled[0] == 0 and filled[1] == 1
    torch.testing.assert_close(weights.sum(1), filled)
    assert (weights[mask == 0] == 0).all()


def test_make_encoder_errors() -> None:
    spec = small_spec()
    with pytest.raises(InputError, match="did you mean 'sasrec'"):
        make_encoder("sasrek", spec)
    with pytest.raises(InputError, match="takes no argument"):
        make_encoder("gru4rec", spec, n_heads=3)
    assert make_encoder("DRR-att", spec.to_dict()).features_dim == 98


def test_spec_from_space_round_trip() -> None:
    from recgym.wrappers import IdsAsBox

    env = gym.make("RecGym/Synthetic-v0", world={"n_users": 50, "n_items": 40},
                   history_len=5, n_candidates=20, slate_size=3)
    true = env.unwrapped.spec_sizes
    for space in (env.observation_space, IdsAsBox(env).observation_space):
        spec = spec_from_space(space)
        for field in ("n_users", "n_items", "history_len", "user_feature_dim",
                      "n_candidates", "n_signals", "max_steps", "max_sessions",
                      "signal_low", "signal_high"):
            assert getattr(spec, field) == getattr(true, field), field
    with pytest.raises(InputError, match="spec="):
        spec_from_space(gym.spaces.Box(0, 1, (3,)))


# ---------------------------------------------------------------------------- SB3
def _env(**kwargs: object) -> gym.Env:
    return gym.make("RecGym/Synthetic-v0", world={"n_users": 50, "n_items": 40},
                    history_len=5, max_steps=50, **kwargs)


def _env_batch(env: gym.Env, n: int = 4) -> dict[str, np.ndarray]:
    rows = []
    obs, _ = env.reset(seed=3)
    for _ in range(n):
        rows.append(obs)
        obs, *_ = env.step(env.action_space.sample())
    return {k: np.stack([np.asarray(r[k]) for r in rows]) for k in rows[0]}


@pytest.mark.parametrize("layout", ["one_hot", "ids_as_box", "flat"])
def test_sb3_extractor_recovers_ids(layout: str) -> None:
    from stable_baselines3.common.preprocessing import preprocess_obs

    from recgym.encoders.sb3 import RecFeaturesExtractor
    from recgym.wrappers import FlattenHistory, IdsAsBox

    env = _env(n_candidates=20, slate_size=3)
    env.action_space.seed(0)
    spec = env.unwrapped.spec_sizes
    raw = _env_batch(env)
    kwargs = {}
    if layout == "one_hot":
        space, obs = env.observation_space, {k: torch.as_tensor(v) for k, v in raw.items()}
        obs["user_id"] = obs["user_id"][:, None]  # as SB3 buffers store Discrete
    elif layout == "ids_as_box":
        wrapped = IdsAsBox(env)
        space = wrapped.observation_space
        obs = {k: torch.as_tensor(np.stack([wrapped.observation(
            {kk: vv[i] for kk, vv in raw.items()})[k] for i in range(4)])) for k in raw}
    else:
        space = FlattenHistory(env, items="id").observation_space
        obs = torch.as_tensor(spec.flatten(raw))
        kwargs["spec"] = spec.to_dict()
    torch.manual_seed(0)
    extractor = RecFeaturesExtractor(space, encoder="caser", **kwargs)
    reference = make_encoder("caser", spec)
    reference.load_state_dict(extractor.encoder.state_dict())
    with torch.no_grad():
        got = extractor(preprocess_obs(obs, space))
        want = reference({k: torch.as_tensor(v) for k, v in raw.items()})
    assert got.shape == (4, extractor.features_dim)
    torch.testing.assert_close(got, want)


def test_sb3_extractor_needs_spec_for_flat_box() -> None:
    from recgym.encoders.sb3 import RecFeaturesExtractor

    with pytest.raises(InputError, match="spec="):
        RecFeaturesExtractor(gym.spaces.Box(0, 1, (49,)), encoder="sasrec")
    with pytest.raises(InputError, match="49 values"):
        RecFeaturesExtractor(gym.spaces.Box(0, 1, (49,)), encoder="sasrec",
                             spec=small_spec())


@pytest.mark.parametrize("name", NAMES)
def test_sb3_ppo_and_dqn_learn(name: str) -> None:
    from stable_baselines3 import DQN, PPO

    from recgym.encoders.sb3 import RecFeaturesExtractor

    env = _env()
    policy_kwargs = {"features_extractor_class": RecFeaturesExtractor,
                     "features_extractor_kwargs": {"encoder": name, "embed_dim": 16,
                                                   "hidden_dim": 32},
                     "net_arch": [32]}
    ppo = PPO("MultiInputPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0,
              policy_kwargs=policy_kwargs, device="cpu")
    extractor = ppo.policy.features_extractor
    assert isinstance(extractor, RecFeaturesExtractor)
    before = extractor.encoder.items.embedding.weight.detach().clone()
    ppo.learn(total_timesteps=200)
    assert ppo.num_timesteps >= 200
    assert not torch.equal(before, extractor.encoder.items.embedding.weight)  # it trained
    obs, _ = env.reset(seed=1)
    action, _ = ppo.predict(obs, deterministic=True)
    assert env.action_space.contains(action)

    dqn = DQN("MultiInputPolicy", env, learning_starts=50, buffer_size=500, batch_size=16,
              train_freq=4, seed=0, policy_kwargs=policy_kwargs, device="cpu")
    extractor = dqn.q_net.features_extractor
    before = extractor.encoder.items.embedding.weight.detach().clone()
    dqn.learn(total_timesteps=200)
    assert not torch.equal(before, extractor.encoder.items.embedding.weight)
    assert env.action_space.contains(dqn.predict(obs, deterministic=True)[0])


def test_sb3_ppo_candidates_with_box_ids() -> None:
    from stable_baselines3 import PPO

    from recgym.encoders.sb3 import RecFeaturesExtractor
    from recgym.wrappers import IdsAsBox

    env = IdsAsBox(_env(n_candidates=20))
    ppo = PPO("MultiInputPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0,
              device="cpu", policy_kwargs={
                  "features_extractor_class": RecFeaturesExtractor,
                  "features_extractor_kwargs": {"encoder": "drr_att", "embed_dim": 8}})
    assert ppo.policy.features_extractor.features_dim == 3 * 8 + 2 + 20 * 8
    ppo.learn(total_timesteps=128)
    obs, _ = env.reset(seed=0)
    assert env.action_space.contains(ppo.predict(obs)[0])


# ---------------------------------------------------------------------------- d3rlpy
def _mdp_dataset(env: gym.Env, steps: int = 60) -> object:
    import d3rlpy

    spec = env.unwrapped.spec_sizes
    rng = np.random.default_rng(0)
    observations, actions, rewards, terminals, timeouts = [], [], [], [], []
    obs, _ = env.reset(seed=0)
    for t in range(steps):
        action = int(rng.integers(spec.n_items))
        nxt, reward, terminated, truncated, _ = env.step(action)
        observations.append(spec.flatten({k: np.asarray(v)[None] for k, v in obs.items()})[0])
        actions.append(action)
        rewards.append(reward)
        terminals.append(terminated)
        timeouts.append(truncated or (t == steps - 1 and not terminated))
        obs = nxt if not (terminated or truncated) else env.reset()[0]
    return d3rlpy.dataset.MDPDataset(
        np.asarray(observations, np.float32), np.asarray(actions)[:, None],
        np.asarray(rewards, np.float32), np.asarray(terminals), timeouts=np.asarray(timeouts),
        action_space=d3rlpy.ActionSpace.DISCRETE, action_size=spec.n_items)


@pytest.mark.parametrize("name", ["sasrec", "drr_att", "deers"])
def test_d3rlpy_discrete_cql_update(name: str) -> None:
    import d3rlpy

    from recgym.encoders.d3rlpy import RecEncoder, RecEncoderFactory

    env = _env()
    spec = env.unwrapped.spec_sizes
    dataset = _mdp_dataset(env)
    factory = RecEncoderFactory(encoder=name, spec=spec.to_dict(), embed_dim=16,
                                hidden_dim=32)
    cql = d3rlpy.algos.DiscreteCQLConfig(encoder_factory=factory, batch_size=16).create(
        device="cpu")
    cql.build_with_dataset(dataset)
    encoder = cql.impl.q_function[0].encoder
    assert isinstance(encoder, RecEncoder)
    before = encoder.state.items.embedding.weight.detach().clone()
    cql.fit(dataset, n_steps=1, n_steps_per_epoch=1, show_progress=False,
            logger_adapter=d3rlpy.logging.NoopAdapterFactory())
    assert not torch.equal(before, encoder.state.items.embedding.weight)
    actions = cql.predict(dataset.episodes[0].observations[:3])
    assert actions.shape == (3,) and ((actions >= 0) & (actions < spec.n_items)).all()
    # the factory serialises with the algorithm config and comes back
    config = d3rlpy.algos.DiscreteCQLConfig.deserialize(cql.config.serialize())
    assert config.encoder_factory == factory


def test_d3rlpy_create_with_action_shapes() -> None:
    from recgym.encoders.d3rlpy import RecEncoderFactory

    spec = small_spec()
    factory = RecEncoderFactory(encoder="gru4rec", spec=spec.to_dict(), hidden_dim=24)
    flat = torch.as_tensor(spec.flatten({k: v.numpy() for k, v in random_batch(spec).items()}))
    discrete = factory.create_with_action((spec.flat_dim,), 11, discrete_action=True)
    assert discrete(flat, torch.randint(0, 11, (5, 1))).shape == (5, 24)
    continuous = factory.create_with_action((spec.flat_dim,), 3)
    assert continuous(flat, torch.randn(5, 3)).shape == (5, 24)
    assert factory.create((spec.flat_dim,))(flat).shape == (5, 24)
    with pytest.raises(InputError, match="flat observations"):
        factory.create((spec.flat_dim + 1,))
    with pytest.raises(InputError, match="spec="):
        RecEncoderFactory(encoder="gru4rec").create((spec.flat_dim,))
