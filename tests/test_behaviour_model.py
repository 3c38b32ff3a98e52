"""Behaviour models: fitted propensities against the ones a synthetic log recorded,
seeding, save / load, Plackett-Luce slates, the calibration measures, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from offline_data import InputError
from recgym import EnvConfig
from recgym.offline import (
    BehaviourConfig,
    BehaviourFileError,
    BehaviourModel,
    episodes_from_log,
    fit_behaviour,
)
from recgym.offline.behaviour import action_log_prob
from recgym.offline.behaviour_metrics import SoftmaxMetrics
from recgym.offline.policy import StochasticPolicy
from simulators import SyntheticWorld, WorldConfig
from simulators.policies import plackett_luce_probability

WORLD = WorldConfig(n_users=120, n_items=60, n_topics=4)
CONFIG = EnvConfig(history_len=6, max_sessions=2)
FAST = BehaviourConfig(epochs=8, batch_size=256, lr=1e-2, num_threads=1)


@pytest.fixture(scope="module")
def softmax_data():
    world = SyntheticWorld(WORLD, seed=0)
    log = world.generate_log("softmax", n_users=120, max_sessions=6, seed=0)
    return episodes_from_log(log, CONFIG, simulator=world)


@pytest.fixture(scope="module")
def fitted(softmax_data):
    return fit_behaviour(softmax_data, FAST)


def test_fitted_propensities_track_the_recorded_ones(softmax_data, fitted):
    data, _model = fitted
    assert softmax_data.behaviour == "recorded" and data.behaviour == "fitted"
    assert np.all((data.propensities > 0) & (data.propensities <= 1))
    report = data.behaviour_report
    held = report["heldout"]
    # better than popularity, far better than chance, on episodes it never saw
    assert held["logloss"] < report["baselines"]["popularity"]["logloss"] - 0.3
    assert held["logloss"] < report["baselines"]["uniform"]["logloss"] - 1.5
    assert held["top10_accuracy"] > report["baselines"]["popularity"]["top10_accuracy"]
    for part in ("vs_recorded", "vs_recorded_heldout"):
        compared = report[part]
        assert compared["pearson_log"] > 0.7, part
        assert 0.3 < compared["ratio_quantiles"]["q50"] < 1.5, part
        # the recorded log-loss is the floor; the fitted one sits above it
        assert compared["logloss_fitted"] > compared["logloss_recorded"]
    assert report["vs_recorded_heldout"]["steps"] == held["steps"]
    # calibration: both measures are reported with their noise level
    assert held["top_label"]["ece"] < 3 * held["top_label"]["ece_noise"] + 0.02
    assert sum(b["logged"] for b in held["pairwise"]["bins"]) == held["steps"]
    assert report["fit"]["train_steps"] + report["fit"]["val_steps"] + \
        report["fit"]["test_steps"] == data.n_steps


def test_the_fit_is_seeded(softmax_data, fitted):
    again = BehaviourModel.fit(softmax_data, FAST)
    np.testing.assert_array_equal(again.propensities(softmax_data), fitted[0].propensities)
    other = BehaviourModel.fit(softmax_data, FAST.replace(seed=1))
    assert not np.array_equal(other.propensities(softmax_data), fitted[0].propensities)


def test_save_and_load_give_the_same_model(softmax_data, fitted, tmp_path):
    _, model = fitted
    model.save(tmp_path / "b")
    loaded = BehaviourModel.load(tmp_path / "b")
    np.testing.assert_allclose(loaded.propensities(softmax_data), fitted[0].propensities,
                               rtol=1e-6)
    assert loaded.report["heldout"] == model.report["heldout"]
    # reused on new data of the same world: a later, separate log
    world = SyntheticWorld(WORLD, seed=0)
    later = episodes_from_log(world.generate_log("softmax", n_users=60, max_sessions=2,
                                                 seed=5), CONFIG, simulator=world)
    applied = loaded.apply(later)
    assert applied.behaviour == "fitted" and "all_steps" in applied.behaviour_report
    assert applied.behaviour_report["vs_recorded"]["pearson_log"] > 0.6
    assert "vs_recorded_heldout" not in applied.behaviour_report
    with pytest.raises(InputError, match="overwrite"):
        model.save(tmp_path / "b")
    (tmp_path / "b" / "weights.pt").write_bytes(b"not torch")
    with pytest.raises(BehaviourFileError, match=r"weights\.pt.*save the model again"):
        BehaviourModel.load(tmp_path / "b")
    with pytest.raises(BehaviourFileError, match=r"no behaviour\.json"):
        BehaviourModel.load(tmp_path)


def test_the_model_is_a_stochastic_policy(softmax_data, fitted):
    _, model = fitted
    assert isinstance(model, StochasticPolicy)
    rows = slice(0, 7)
    probs = model.action_probabilities({k: v[rows] for k, v in softmax_data.observations.items()})
    assert probs.shape == (7, WORLD.n_items)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    chosen = probs[np.arange(7), softmax_data.actions[rows]]
    np.testing.assert_allclose(chosen, fitted[0].propensities[rows], rtol=1e-5)


def test_slates_are_scored_as_plackett_luce():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 9))
    slates = np.stack([rng.permutation(9)[:3] for _ in range(5)])
    got = action_log_prob(torch.tensor(logits), torch.tensor(slates)).numpy()
    np.testing.assert_allclose(np.exp(got), plackett_luce_probability(logits, slates))


def test_slate_datasets_get_slate_propensities():
    world = SyntheticWorld(WORLD, seed=2)
    log = world.generate_log("softmax", n_users=60, max_sessions=3, seed=2, slate_size=3)
    data = episodes_from_log(log, CONFIG.replace(slate_size=3), simulator=world)
    fitted, _ = fit_behaviour(data, FAST.replace(epochs=4))
    compared = fitted.behaviour_report["vs_recorded"]
    assert compared["pearson_log"] > 0.5          # whole ordered slates, as recorded
    assert fitted.propensities.max() < 0.5


def test_calibration_measures_tell_a_calibrated_model_from_an_overconfident_one():
    rng = np.random.default_rng(0)
    logits = torch.tensor(rng.normal(scale=2.0, size=(4000, 50)))
    probs = torch.softmax(logits, dim=1)
    drawn = torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(0))[:, 0]

    def measure(scale):
        metrics = SoftmaxMetrics()
        log_p = torch.log_softmax(logits * scale, dim=1)
        metrics.add(log_p, drawn, log_p.gather(1, drawn[:, None])[:, 0])
        return metrics.result()

    calibrated, sharp = measure(1.0), measure(3.0)
    for kind in ("top_label", "pairwise"):
        assert calibrated[kind]["ece"] < 2.5 * calibrated[kind]["ece_noise"], kind
        assert sharp[kind]["ece"] > 4 * sharp[kind]["ece_noise"], kind
    assert calibrated["logloss"] < sharp["logloss"]


def test_bad_input_names_the_problem(softmax_data, fitted):
    with pytest.raises(InputError, match="did you mean 'gru4rec'"):
        BehaviourConfig(encoder="gru4recc")
    with pytest.raises(InputError, match="val_fraction"):
        BehaviourConfig(val_fraction=1.5)
    few = softmax_data.select_episodes(np.array([0, 1]))
    with pytest.raises(InputError, match="at least 3 episodes; this dataset has 2"):
        BehaviourModel.fit(few, FAST)
    world = SyntheticWorld(WORLD.replace(n_items=40), seed=0)
    other = episodes_from_log(world.generate_log("random", n_users=10, max_sessions=1),
                              CONFIG, simulator=world)
    with pytest.raises(InputError, match=r"n_items=60.*has 40; fit a behaviour model"):
        fitted[1].apply(other)


def test_cross_fitted_propensities_are_out_of_sample(softmax_data, fitted):
    data, model = fit_behaviour(softmax_data, FAST.replace(cross_fit=2))
    report = data.behaviour_report
    assert report["cross_fit"]["folds"] == 2 and len(report["cross_fit"]["epochs_run"]) == 2
    out_of_sample = report["cross_fit"]["all_steps"]
    assert out_of_sample["steps"] == data.n_steps
    # in sample the model flatters itself; out of sample it scores like on held-out data
    in_sample = fitted[0].behaviour_report["all_steps"]["logloss"]
    assert out_of_sample["logloss"] > in_sample
    assert abs(out_of_sample["logloss"] - report["heldout"]["logloss"]) < 0.3
    assert report["vs_recorded"]["pearson_log"] > 0.7
    # the returned model is the one fitted to everything (the same as without cross-fitting)
    np.testing.assert_array_equal(model.propensities(softmax_data), fitted[0].propensities)
    with pytest.raises(InputError, match="cross_fit=200 needs at least 600 episodes"):
        fit_behaviour(softmax_data, FAST.replace(cross_fit=200))
