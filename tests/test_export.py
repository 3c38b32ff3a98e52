"""Dataset exports: Parquet, Minari and d3rlpy round trips, the observation after each
episode (Minari) against the environment's, refusals, and `recgym data export`."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from test_offline_dataset import WEIGHTS, LogReplay

from offline_data import InputError
from recgym import EnvConfig
from recgym.cli import main
from recgym.envs.base import RecEnv
from recgym.offline import (
    BehaviourModel,
    TrajectoryDataset,
    episodes_from_log,
    export_dataset,
    read_d3rlpy,
)
from simulators import SyntheticWorld, WorldConfig

WORLD = WorldConfig(n_users=120, n_items=60, n_topics=4)
CONFIG = EnvConfig(history_len=6, max_sessions=3, max_steps=25)
needs_minari = pytest.mark.skipif(importlib.util.find_spec("minari") is None,
                                  reason='minari is not installed (pip install "recgym[minari]")')


def dataset(slate_size=1, users=30, seed=0):
    world = SyntheticWorld(WORLD, seed=seed)
    log = world.generate_log("softmax", n_users=users, max_sessions=6, seed=seed,
                             slate_size=slate_size)
    data = episodes_from_log(log, CONFIG.replace(slate_size=slate_size), WEIGHTS,
                             simulator=world, episodes_per_user=2)
    return world, log, data


def assert_same(back: TrajectoryDataset, data: TrajectoryDataset) -> None:
    for key, value in data.observations.items():
        assert np.array_equal(back.observations[key], value), key
        assert back.observations[key].dtype == value.dtype, key
    for name in ("actions", "rewards", "reward_vectors", "terminals", "timeouts", "episode",
                 "propensities"):
        assert np.array_equal(getattr(back, name), getattr(data, name)), name
        assert getattr(back, name).dtype == getattr(data, name).dtype, name
    assert back.spec == data.spec and back.env_config == data.env_config
    assert (back.reward_names, back.reward_weights) == (data.reward_names, data.reward_weights)
    assert back.behaviour == data.behaviour and back.source == data.source


def test_parquet_export_round_trip(tmp_path):
    _, _, data = dataset()
    export_dataset(data, tmp_path / "p", "parquet")
    assert_same(TrajectoryDataset.from_parquet(tmp_path / "p"), data)
    meta = json.loads((tmp_path / "p" / "export.json").read_text())
    assert meta["format"] == "parquet" and meta["steps"] == data.n_steps
    assert meta["files"] == ["dataset.json", "export.json", "steps.parquet"]


@needs_minari
@pytest.mark.parametrize("slate_size", [1, 3])
def test_minari_round_trip(tmp_path, slate_size):
    import minari

    from recgym.offline import from_minari, to_minari

    _, _, data = dataset(slate_size)
    to_minari(data, tmp_path / "m")
    assert_same(from_minari(tmp_path / "m"), data)
    stored = minari.MinariDataset(tmp_path / "m")       # Minari reads it on its own
    assert stored.total_steps == data.n_steps and stored.total_episodes == data.n_episodes
    assert stored.spec.dataset_id == "recgym/m-v0"
    assert stored.observation_space == data.spec.observation_space()
    episode = next(stored.iterate_episodes())
    stop = data.episode_bounds()[1][0]
    assert len(episode.observations["history_items"]) == stop + 1
    assert np.isnan(episode.infos["propensity"][0])
    np.testing.assert_array_equal(episode.infos["propensity"][1:], data.propensities[:stop])


@needs_minari
def test_minari_final_observations_are_the_environments(tmp_path):
    from recgym.offline.minari_export import final_observations

    world, log, data = dataset(users=20)
    finals = final_observations(data)
    env = RecEnv(LogReplay(world, log), CONFIG, reward_weights=WEIGHTS)
    starts, stops = data.episode_bounds()
    seen_user, checked = set(), 0
    for e, (start, stop) in enumerate(zip(starts, stops, strict=True)):
        user = int(data.observations["user_id"][start])
        if user in seen_user:          # the replay starts each user at their first step
            continue
        seen_user.add(user)
        env.reset(options={"user_id": user})
        for s in range(start, stop):
            obs, *_ = env.step(data.actions[s])
        for key, value in obs.items():
            assert np.array_equal(np.asarray(value), finals[key][e]), (key, e)
        checked += 1
    assert checked == 20
    assert data.terminals.any() and data.timeouts.any()


def test_d3rlpy_export_is_d3rlpys_own_dump(tmp_path):
    _, _, data = dataset()
    export_dataset(data, tmp_path / "d", "d3rlpy")
    buffer, spec, meta = read_d3rlpy(tmp_path / "d")
    assert spec == data.spec and meta["behaviour"] == "recorded"
    assert len(buffer.episodes) == data.n_episodes
    assert buffer.transition_count == data.n_steps - int(data.timeouts.sum())
    flat = data.flat_observations()
    starts, stops = data.episode_bounds()
    for e in (0, data.n_episodes - 1):
        np.testing.assert_array_equal(buffer.episodes[e].observations,
                                      flat[starts[e]:stops[e]])
        np.testing.assert_array_equal(buffer.episodes[e].actions[:, 0],
                                      data.actions[starts[e]:stops[e]])
    np.testing.assert_array_equal(np.load(tmp_path / "d" / "propensities.npy"),
                                  data.propensities)


@pytest.fixture(scope="module")
def one_item_data():
    """A small one-item-per-step dataset (exports do not change it)."""
    return dataset()[2]


def test_export_suggests_the_format_meant(one_item_data, tmp_path):
    with pytest.raises(InputError, match="did you mean 'minari'"):
        export_dataset(one_item_data, tmp_path / "x", "minary")


def test_d3rlpy_export_refuses_slates(tmp_path):
    _, _, slates = dataset(slate_size=3)
    with pytest.raises(InputError, match="d3rlpy learns one item per step"):
        export_dataset(slates, tmp_path / "x", "d3rlpy")


def test_export_refuses_an_empty_dataset(one_item_data, tmp_path):
    empty = one_item_data.select_episodes(np.array([0]))
    empty = TrajectoryDataset(**{**empty.__dict__, **{
        "observations": {k: v[:0] for k, v in empty.observations.items()},
        "actions": empty.actions[:0], "rewards": empty.rewards[:0],
        "reward_vectors": empty.reward_vectors[:0], "terminals": empty.terminals[:0],
        "timeouts": empty.timeouts[:0], "episode": empty.episode[:0],
        "propensities": None}})
    with pytest.raises(InputError, match="the dataset is empty"):
        export_dataset(empty, tmp_path / "x", "parquet")


def test_export_overwrites_only_when_told_and_only_its_own_folders(one_item_data, tmp_path):
    data = one_item_data
    export_dataset(data, tmp_path / "p", "parquet")
    with pytest.raises(InputError, match="overwrite"):
        export_dataset(data, tmp_path / "p", "d3rlpy")
    export_dataset(data, tmp_path / "p", "d3rlpy", overwrite=True)     # recgym wrote it
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="recgym did not write it"):
        export_dataset(data, tmp_path / "mine", "parquet", overwrite=True)


def test_minari_export_without_minari_names_the_extra(one_item_data, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "minari", None)    # as if not installed
    with pytest.raises(InputError, match=r'pip install "recgym\[minari\]"'):
        export_dataset(one_item_data, tmp_path / "y", "minari")
    assert not (tmp_path / "y").exists()


def run(capsys, *argv):
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    captured = capsys.readouterr()
    return info.value.code or 0, captured.out, captured.err


def test_cli_export_with_a_fitted_behaviour_model(tmp_path, capsys):
    out = tmp_path / "ds"
    code, text, err = run(capsys, "data", "export", "synthetic", "--out", str(out),
                          "--users", "40", "--days", "2", "--history-len", "5",
                          "--behaviour-model", "--behaviour-epochs", "3")
    assert code == 0, err
    assert "behaviour model (drr_ave): held-out log-loss" in text and "as parquet" in text
    data = TrajectoryDataset.from_parquet(out)
    assert data.behaviour == "fitted" and data.spec.history_len == 5
    assert "vs_recorded" in data.behaviour_report         # synthetic logs record them
    model = BehaviourModel.load(out / "behaviour")
    np.testing.assert_allclose(model.propensities(data), data.propensities, rtol=1e-5)
    # the saved model gives a later export its propensities
    code, text, err = run(capsys, "data", "export", "synthetic", "--out", str(tmp_path / "b"),
                          "--users", "40", "--days", "2", "--history-len", "5", "--seed", "0",
                          "--behaviour-from", str(out / "behaviour"), "--to", "d3rlpy")
    assert code == 0, err
    assert read_d3rlpy(tmp_path / "b")[2]["behaviour"] == "fitted"


@pytest.mark.parametrize(("argv", "message"), [
    (["--to", "minary"], "unknown export format 'minary'; did you mean 'minari'?"),
    (["--reward-weights", "clik=1"], "unknown reward.*'clik'.*did you mean 'click'"),
    (["--reward-weights", "click=x"], "the weight of 'click' must be a number"),
    (["--to", "d3rlpy", "--slate-size", "2"], "--to d3rlpy learns one item per step"),
    (["--signals", "click:binary"], "--signals does not apply to the synthetic log"),
    (["--behaviour-model", "--behaviour-from", "x"], "give one of them"),
    (["--behaviour-model", "--behaviour-encoder", "sasrek"], "did you mean 'sasrec'"),
    (["--behaviour-from", "nowhere"], "no behaviour.json"),
])
def test_cli_export_bad_input_is_one_line(tmp_path, capsys, argv, message):
    code, _, err = run(capsys, "data", "export", "synthetic", "--out", str(tmp_path / "o"),
                       "--users", "5", "--days", "1", *argv)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert __import__("re").search(message, err), err
    assert not (tmp_path / "o").exists()


def test_cli_export_of_a_real_log(kuairand_smoke, tmp_path, capsys):
    folder, name = kuairand_smoke
    out = tmp_path / "kr"
    code, _text, err = run(capsys, "data", "export", str(folder), "--files", name,
                          "--out", str(out), "--reward-weights", "is_click=1,long_view=1")
    assert code == 0, err
    data = TrajectoryDataset.from_parquet(out)
    assert data.propensities is None and data.spec.n_signals == 8
    assert data.reward_weights == {"is_click": 1.0, "long_view": 1.0}
    code, _, err = run(capsys, "data", "export", str(folder), "--files", name, "--out",
                       str(tmp_path / "x"), "--users", "3")
    assert code == 2 and "--users only applies to the synthetic log" in err
