"""LoggedUserSimulator: interface, fitting, fidelity, ground-truth recovery, persistence."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from offline_data import InputError, load_kuairand, load_movielens
from simulators import (
    Behaviour,
    LoggedUserSimulator,
    SimulatorConfig,
    SimulatorFileError,
    UserSimulator,
    fit,
    fit_with_fidelity,
    ground_truth,
    held_out,
    synthetic_fitting_log,
)
from simulators.fidelity import popularity_baseline, predict_rows, signal_metrics

FAST = SimulatorConfig(progress=False, epochs=25, aux_epochs=10)


@pytest.fixture(scope="module")
def truth_log():
    """600 synthetic users: 5 days to fit on, 2 fresh days with the true click probs."""
    return synthetic_fitting_log(users=600, days=5, fresh_days=2, seed=0)


@pytest.fixture(scope="module")
def split(truth_log):
    log, fraction = truth_log
    return held_out(log, fraction)


@pytest.fixture(scope="module")
def sim(truth_log, split):
    return fit(split.train(truth_log[0]), FAST)


def test_fitted_simulator_implements_the_interface(sim):
    assert isinstance(sim, UserSimulator)
    assert sim.signal_names == ["click", "like", "watch_ratio"]
    assert sim.primary_signal == "click"
    rng = np.random.default_rng(0)
    state = sim.start(np.arange(50), rng)
    slates = rng.integers(0, sim.n_items, (50, 3))
    feedback = sim.respond(state, slates, rng)
    for values in feedback.values():
        assert values.shape == (50, 3) and values.dtype == np.float32
    assert set(np.unique(feedback["click"])) <= {0.0, 1.0}
    after = sim.step_state(state, slates, feedback)
    assert np.array_equal(after.hist_items[:, :3], slates[:, ::-1])
    assert np.all(after.session_steps == 1) and np.all(state.session_steps == 0)
    leave = sim.leave_prob(after, feedback)
    assert leave.shape == (50,) and np.all((leave > 0) & (leave < 1))
    gaps = sim.return_gap(after, rng)
    assert np.all(gaps >= sim.meta.session_gap)
    nxt = sim.next_session(after, gaps)
    assert np.all(nxt.session_index == state.session_index + 1)
    assert np.all(nxt.session_steps == 0)
    # starting from the log continues each user's session count
    assert np.all(state.session_index == sim.tensors.start_session_index[:50])


def test_dependent_signals_stay_consistent(sim):
    """Likes and watching follow clicks: the heads are conditioned on the sampled click."""
    rng = np.random.default_rng(1)
    state = sim.start(rng.integers(0, sim.n_users, 4000), rng)
    feedback = sim.respond(state, rng.integers(0, sim.n_items, (4000, 1)), rng)
    no_click = feedback["click"] == 0
    assert feedback["like"][no_click].mean() < 0.02
    watch = feedback["watch_ratio"]
    assert watch[no_click].mean() < 0.1 * watch[~no_click].mean()


def test_same_seed_same_samples_and_fit_is_repeatable(truth_log, split, sim):
    state = sim.start(np.arange(30))
    slates = np.tile(np.arange(5), (30, 1))
    a = sim.respond(state, slates, np.random.default_rng(7))
    b = sim.respond(state, slates, np.random.default_rng(7))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    small = SimulatorConfig(progress=False, epochs=2, aux_epochs=2, seed=3)
    train = split.train(truth_log[0])
    first, second = fit(train, small), fit(train, small)
    for x, y in zip(first.response.state_dict().values(), second.response.state_dict().values(),
                    strict=True):
        assert torch.equal(x, y)


def test_recovers_the_ground_truth(sim, truth_log, split):
    """Fast version of the recovery figures (full size: `recgym fit-sim --data synthetic`)."""
    truth = ground_truth(sim, truth_log[0], split)
    assert truth["prob_corr"] >= 0.75, truth
    assert truth["auc"] >= truth["oracle_auc"] - 0.06, truth
    assert truth["session_length_rel_err"] <= 0.2, truth
    assert truth["return_gap_rel_err"] <= 0.15, truth


def test_beats_popularity_on_held_out_clicks(sim, truth_log, split):
    log = truth_log[0]
    train = split.train(log)
    y = log.interactions["click"].to_numpy()[split.mask]
    own = signal_metrics(True, y, predict_rows(sim, log, split.mask)["click"])
    pop = signal_metrics(True, y, popularity_baseline(train, log, split.mask, "click"))
    assert own["auc"] > pop["auc"] + 0.02


def test_behaviour_perturbations(sim):
    rng = np.random.default_rng(0)
    state = sim.start(np.arange(200), rng)
    slates = rng.integers(0, sim.n_items, (200, 1))
    fb = sim.respond(state, slates, rng)
    after = sim.step_state(state, slates, fb)
    base = sim.leave_prob(after, fb)
    more = sim.with_behaviour(Behaviour(leave_scale=3.0)).leave_prob(after, fb)
    np.testing.assert_allclose(more / (1 - more), 3.0 * base / (1 - base), rtol=1e-5)
    longer = sim.with_behaviour(Behaviour(return_scale=2.0))
    np.testing.assert_allclose(longer.return_gap_mean(after), 2 * sim.return_gap_mean(after),
                               rtol=1e-6)
    hot = sim.with_behaviour(Behaviour(click_temperature=3.0)).predict(state, slates)["click"]
    p = sim.predict(state, slates)["click"]
    assert np.abs(hot - 0.5).mean() < np.abs(p - 0.5).mean()


def test_save_load_gives_identical_predictions_and_samples(sim, tmp_path):
    sim = sim.with_behaviour(Behaviour(popularity_bias=0.2, leave_scale=1.5))
    sim.save(tmp_path / "sim")
    back = LoggedUserSimulator.load(tmp_path / "sim", device="cpu")
    assert back.behaviour == sim.behaviour
    assert sim.meta.calibration is not None and not sim.meta.calibration.is_identity
    assert back.meta.calibration == sim.meta.calibration
    state = sim.start(np.arange(40))
    slates = np.random.default_rng(0).integers(0, sim.n_items, (40, 2))
    for name, values in sim.predict(state, slates).items():
        np.testing.assert_array_equal(values, back.predict(state, slates)[name])
    a = sim.respond(state, slates, np.random.default_rng(3))
    b = back.respond(state, slates, np.random.default_rng(3))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    fb = a
    after = sim.step_state(state, slates, fb)
    np.testing.assert_array_equal(sim.leave_prob(after, fb), back.leave_prob(after, fb))
    np.testing.assert_array_equal(sim.return_gap(after, np.random.default_rng(1)),
                                  back.return_gap(after, np.random.default_rng(1)))
    with pytest.raises(InputError, match="already exists"):
        sim.save(tmp_path / "sim")


class Exploit:
    """Unpickling this would run code; loading must refuse it."""

    def __reduce__(self):
        return (print, ("pwned",))


@pytest.fixture(scope="module")
def saved(sim, tmp_path_factory):
    """The fitted simulator saved once; each damage test works on a copy."""
    return sim.save(tmp_path_factory.mktemp("saved") / "sim")


def _with_meta(version, drop=()):
    """Damage: `simulator.json` of another format version (without the keys `drop`)."""
    def damage(folder):
        meta = json.loads((folder / "simulator.json").read_text())
        meta = {k: v for k, v in meta.items() if k not in drop} | {"version": version}
        (folder / "simulator.json").write_text(json.dumps(meta))
        return folder
    return damage


def _truncated_weights(folder):
    """Damage: `weights.pt` cut in half."""
    weights = (folder / "weights.pt").read_bytes()
    (folder / "weights.pt").write_bytes(weights[: len(weights) // 2])
    return folder


def _saved_as(content, name="weights.pt"):
    """Damage: `name` replaced by `content` written with torch.save."""
    def damage(folder):
        torch.save(content, folder / name)
        return folder
    return damage


def _written(name, text):
    """Damage: `name` overwritten with `text`."""
    def damage(folder):
        (folder / name).write_text(text)
        return folder
    return damage


def _removed(name):
    """Damage: `name` deleted."""
    def damage(folder):
        (folder / name).unlink()
        return folder
    return damage


DAMAGES = {
    "version-1": (_with_meta(1), r"version 1 is not .*fit the simulator again"),
    # the format before calibration maps were saved
    "version-4": (_with_meta(4, drop=("calibration",)),
                  r"version 4 is not .*fit the simulator again"),
    "no-folder": (lambda folder: folder.parent / "nothing", "simulator folder not found"),
    "truncated-weights": (_truncated_weights, r"weights\.pt.*truncated"),
    "pickled-code": (_saved_as({"x": Exploit()}), r"weights\.pt"),
    "foreign-weights": (_saved_as({"response.user_emb.weight": torch.zeros(3, 3)}),
                        "do not match"),
    "no-weights": (_removed("weights.pt"), r"weights\.pt is missing"),
    "corrupt-json": (_written("simulator.json", "{not json"), r"simulator\.json"),
    "no-json": (_removed("simulator.json"), r"no simulator\.json"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_corrupt_or_foreign_save_folders_give_clear_errors(saved, tmp_path, damage):
    change, message = DAMAGES[damage]
    folder = change(shutil.copytree(saved, tmp_path / "sim"))
    with pytest.raises(SimulatorFileError, match=message):
        LoggedUserSimulator.load(folder)


BAD_INPUTS = {
    "unknown-signal": (lambda log, sim: fit(log, SimulatorConfig(signals=("clik",),
                                                                 progress=False)),
                       r"no signal\(s\) \['clik'\].*'click'"),
    "continuous-only": (lambda log, sim: fit(log, SimulatorConfig(signals=("watch_ratio",),
                                                                  progress=False)),
                        "all continuous"),
    "config-typo": (lambda log, sim: SimulatorConfig().replace(epoch=3),
                    r"unknown SimulatorConfig field.*'epoch' \(did you mean 'epochs'\?\)"),
    "unknown-arch": (lambda log, sim: SimulatorConfig(arch="transformer"), "arch"),
    "slate-shape": (lambda log, sim: sim.respond(sim.start(np.arange(2)), np.zeros(2, dtype=int),
                                                 np.random.default_rng(0)),
                    "slates must have shape"),
    "unknown-user": (lambda log, sim: sim.start(np.array([sim.n_users])), "user_ids"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_inputs_name_the_problem(truth_log, sim, case):
    call, message = BAD_INPUTS[case]
    with pytest.raises(InputError, match=message):
        call(truth_log[0], sim)


def test_fidelity_report_has_the_promised_shape(truth_log):
    log, fraction = truth_log
    result = fit_with_fidelity(log, SimulatorConfig(progress=False, epochs=3, aux_epochs=3),
                               test_fraction=fraction, baselines=False)
    report = json.loads(json.dumps(result.fidelity))
    assert set(report["signals"]["click"]) >= {"auc", "logloss", "ece"}
    assert set(report["signals"]["watch_ratio"]) >= {"rmse", "mae"}
    for key in ("session_length", "return_gap"):
        assert set(report[key]) >= {"ks", "log_mean", "sim_mean"}
    assert set(report["ground_truth"]) >= {"prob_corr", "auc", "oracle_auc"}
    calibration = report["calibration"]
    for name in ("click", "like"):
        entry = calibration["signals"][name]
        assert {"ece_before", "ece_after", "auc_before", "auc_after", "val_ece_before",
                "val_ece_after", "scale", "shift"} <= set(entry)
        assert entry["ece_after"] == report["signals"][name]["ece"]
    assert calibration["signals"]["click"]["auc_after"] == pytest.approx(
        calibration["signals"]["click"]["auc_before"], abs=1e-4)  # a monotone map
    assert {"scale", "shift", "val_ece_before", "val_ece_after"} <= set(calibration["leave"])
    assert set(calibration["uncalibrated_sessions"]) == {"session_length", "return_gap"}


def test_real_kuairand_beats_both_baselines(kuairand_dir):
    log = load_kuairand(kuairand_dir)
    result = fit_with_fidelity(log, SimulatorConfig(progress=False, epochs=4, aux_epochs=3))
    for name in ("is_click", "is_like", "long_view"):
        entry = result.fidelity["baselines"][name]
        assert entry["auc_gain_vs_popularity"] > 0.01, (name, entry)
        assert entry["auc_gain_vs_user_item"] > 0.0, (name, entry)


def test_real_movielens_rating_beats_the_mean(movielens_dir):
    log = load_movielens(movielens_dir)
    result = fit_with_fidelity(log, SimulatorConfig(progress=False, epochs=5, aux_epochs=3),
                               baselines=True)
    rating = result.fidelity["baselines"]["rating"]
    assert rating["simulator"]["rmse"] < rating["mean"]["rmse"] - 0.05


def test_slate_logs_are_fitted_and_replayed_per_step():
    """Rows of one slate share a step: histories skip them and sessions count steps."""
    from simulators import SyntheticWorld, WorldConfig
    from simulators.fidelity import replay_sessions, session_fidelity

    world = SyntheticWorld(WorldConfig(n_users=300), seed=0)
    log = world.generate_log("epsilon_greedy", n_users=300, n_days=4, seed=0, slate_size=4)
    split = held_out(log, 0.25)
    sim = fit(split.train(log), SimulatorConfig(progress=False, epochs=6, aux_epochs=6))
    length = session_fidelity(replay_sessions(sim, log, split.session_mask))["session_length"]
    assert abs(length["sim_mean"] / length["log_mean"] - 1) < 0.3, length
    steps_per_session = log.sessions["length"].mean() / 4
    assert abs(length["log_mean"] - steps_per_session) < 1.0


def test_return_gaps_have_an_open_tail():
    from simulators.gaps import GapBuckets

    buckets = GapBuckets(np.array([1800.0, 3600.0, 86400.0]))
    survival = buckets.survival(np.array([100.0, 7200.0, 10 * 86400.0]))
    assert survival.shape == (3, 3)
    np.testing.assert_allclose(survival[0], 1.0)
    assert survival[1, 0] == 0 and 0 < survival[1, 1] < 1 and survival[1, 2] == 1
    assert survival[2, 2] == pytest.approx(0.01)  # (1 day / 10 days) ** 2
    probs = np.tile([0.0, 0.0, 1.0], (5000, 1))
    rng = np.random.default_rng(0)
    gaps = buckets.sample(probs, rng.random(5000), rng.random(5000))
    assert gaps.min() >= 86400 and gaps.max() > 5 * 86400
    assert gaps.mean() == pytest.approx(buckets.means()[2], rel=0.2)


def test_bootstrap_leaves_undrawn_users_on_the_unknown_path(split, truth_log):
    train = split.train(truth_log[0])
    weights = np.ones(train.n_users, dtype=np.int64)
    weights[:100] = 0
    sim = fit(train, SimulatorConfig(progress=False, epochs=1, aux_epochs=1),
              user_weights=weights)
    assert not sim.tensors.known_user[:100].any()
    assert sim.tensors.known_user[100:].mean() > 0.9


def test_random_exposures_score_signals_and_late_sessions_score_sessions(truth_log):
    from offline_data import build_log

    log = truth_log[0]
    frame = log.interactions.copy()
    frame["is_rand"] = (np.random.default_rng(0).random(len(frame)) < 0.1).astype(np.int64)
    frame = frame.drop(columns=["session_id", "position", "true_click_prob"])
    with_rand = build_log(frame, log.signals, context=("is_rand",),
                          window=(log.start_time, log.end_time))
    split = held_out(with_rand, 0.2)
    rand = with_rand.interactions["is_rand"].to_numpy() == 1
    np.testing.assert_array_equal(split.signal_mask, rand)
    assert split.session_mask.sum() > 0.1 * len(rand)
    np.testing.assert_array_equal(split.mask, rand | split.session_mask)
    assert "random exposures" in split.description


def test_fit_sim_refuses_a_bad_out_before_fitting(tmp_path, capsys):
    from recgym.cli import main

    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(SystemExit) as info:
        main(["fit-sim", "--data", "synthetic", "--out", str(target)])
    assert info.value.code == 2
    assert "is a file" in capsys.readouterr().err


def test_category_columns_mark_only_one_hot_columns():
    import pandas as pd

    from simulators.features import category_columns, encode_table

    table = pd.DataFrame({"tag": ["a", "b", "a", "c"], "topic_id": [1, 5, 9, 5],
                          "length": [1.5, np.nan, 3.25, 4.0]})
    x, names = encode_table(table, 4)
    marks = category_columns(names)
    assert x.shape[1] == len(names) == len(marks)
    assert [n for n, m in zip(names, marks, strict=True) if m == 0] == ["length",
                                                                      "length=missing"]
    assert marks.sum() == 3 + 3  # tag a/b/c and topic_id 1/5/9


def test_fit_rows_keeps_the_validated_averaged_weights():
    from simulators.training import evaluate_rows, fit_rows

    torch.manual_seed(0)
    x = torch.randn(2000, 1)
    y = 2.0 * x[:, 0] + 0.1 * torch.randn(2000)
    model = torch.nn.Linear(1, 1)

    def loss_fn(rows: torch.Tensor) -> torch.Tensor:
        return ((model(x[rows])[:, 0] - y[rows]) ** 2).mean()

    report = fit_rows(model, loss_fn, torch.arange(1600), torch.arange(1600, 2000),
                      epochs=20, batch_size=64, lr=0.05, weight_decay=0.0, patience=3,
                      seed=0, desc="toy", progress=False)
    assert abs(model.weight.item() - 2.0) < 0.05
    # the model left behind is the one whose validation loss was reported
    assert evaluate_rows(model, loss_fn, torch.arange(1600, 2000), 256) == pytest.approx(
        report["val_loss"], rel=1e-6)
