"""Calibration of fitted simulators (Platt maps on the validation slice), fidelity.png, and
numpy integers in simulator configs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from offline_data import InputError
from simulators import LoggedUserSimulator, SimulatorConfig, fit, held_out, synthetic_fitting_log
from simulators.calibration import (
    Calibration,
    expected_calibration_error,
    fit_platt,
    sigmoid,
)
from simulators.fidelity import predict_rows
from simulators.fidelity_plot import FidelityData, fidelity_png, reliability


@pytest.fixture(scope="module")
def log_split():
    log, fraction = synthetic_fitting_log(users=300, days=4, fresh_days=1, seed=2)
    return log, held_out(log, fraction)


@pytest.fixture(scope="module")
def undertrained(log_split):
    """A deliberately miscalibrated fit: a few small steps leave the click probabilities
    near their starting values, far from the click rate."""
    log, split = log_split
    config = SimulatorConfig(progress=False, epochs=1, aux_epochs=1, lr=2e-4, seed=5)
    return fit(split.train(log), config)


def test_platt_recovers_a_known_miscalibration():
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 1.5, 20000)
    y = (rng.random(len(z)) < sigmoid(0.5 * z + 1.0)).astype(np.float64)
    scale, shift = fit_platt(z, y)
    assert scale == pytest.approx(0.5, abs=0.05) and shift == pytest.approx(1.0, abs=0.05)
    before = expected_calibration_error(y, sigmoid(z))
    after = expected_calibration_error(y, sigmoid(scale * z + shift))
    assert after < 0.02 < 0.1 < before
    # too few positives to say anything: the identity
    assert fit_platt(z[:200], np.r_[np.ones(5), np.zeros(195)]) == (1.0, 0.0)


def test_calibration_lowers_held_out_ece_and_keeps_auc(undertrained, log_split):
    log, split = log_split
    report = undertrained.meta.fit_report["response"]["calibration"]["click"]
    assert report["val_ece_after"] < report["val_ece_before"]
    raw = undertrained.with_calibration(None)
    y = log.interactions["click"].to_numpy(np.float64)[split.signal_mask]
    p_after = predict_rows(undertrained, log, split.signal_mask)["click"]
    p_before = predict_rows(raw, log, split.signal_mask)["click"]
    ece_before = expected_calibration_error(y, p_before)
    ece_after = expected_calibration_error(y, p_after)
    assert ece_after < 0.5 * ece_before, (ece_before, ece_after)
    # a strictly increasing map: the same ranking (up to float32 rounding ties)
    assert spearmanr(p_before, p_after).statistic > 0.9999
    assert roc_auc_score(y, p_after) == pytest.approx(roc_auc_score(y, p_before), abs=1e-4)


def test_sampled_feedback_follows_the_calibrated_probabilities(undertrained):
    sim = undertrained
    rng = np.random.default_rng(0)
    users = rng.integers(0, sim.n_users, 4000)
    state = sim.start(users, rng)
    slates = rng.integers(0, sim.n_items, (4000, 1))
    primary = sim.meta.primary
    maps = list(sim.meta.calibration.response)
    maps[primary] = ((1.0, -2.0), (1.0, -2.0))  # a much lower click rate
    lower = sim.with_calibration(Calibration(tuple(maps), sim.meta.calibration.leave))
    for model in (sim, lower):
        p = model.predict(state, slates)["click"]
        clicks = model.respond(state, slates, np.random.default_rng(1))["click"]
        assert clicks.mean() == pytest.approx(p.mean(), abs=0.025)
    drop = sim.predict(state, slates)["click"].mean() - lower.predict(state, slates)["click"].mean()
    assert drop > 0.2
    # the leave map moves the hazard the simulator samples with
    feedback = sim.respond(state, slates, rng)
    after = sim.step_state(state, slates, feedback)
    leave_scale, leave_shift = sim.meta.calibration.leave
    raw = sim.with_calibration(None).leave_prob(after, feedback)
    logit = np.log(raw / (1 - raw))
    np.testing.assert_allclose(sim.leave_prob(after, feedback),
                               sigmoid(leave_scale * logit + leave_shift), rtol=1e-6)


def test_calibrated_simulator_round_trips(undertrained, tmp_path):
    sim = undertrained
    sim.save(tmp_path / "sim")
    meta = json.loads((tmp_path / "sim" / "simulator.json").read_text())
    assert meta["version"] == 5 and meta["calibration"]["response"]
    back = LoggedUserSimulator.load(tmp_path / "sim", device="cpu")
    assert back.meta.calibration == sim.meta.calibration
    state = sim.start(np.arange(60))
    slates = np.random.default_rng(0).integers(0, sim.n_items, (60, 3))
    for name, values in sim.predict(state, slates).items():
        np.testing.assert_array_equal(values, back.predict(state, slates)[name])
    a = sim.respond(state, slates, np.random.default_rng(4))
    b = back.respond(state, slates, np.random.default_rng(4))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    after = sim.step_state(state, slates, a)
    np.testing.assert_array_equal(sim.leave_prob(after, a), back.leave_prob(after, a))


def test_calibration_can_be_switched_off(log_split):
    log, split = log_split
    config = SimulatorConfig(progress=False, epochs=1, aux_epochs=1, calibrate=False)
    sim = fit(split.train(log), config)
    assert sim.meta.calibration is None
    assert "calibration" not in sim.meta.fit_report["response"]


def test_fidelity_png_renders_reliability_and_distributions():
    rng = np.random.default_rng(0)
    p = rng.random(3000)
    y = (rng.random(3000) < p).astype(np.float64)
    replay = {"log_length": rng.geometric(0.4, 300), "sim_length": rng.geometric(0.35, 300),
              "log_gap": np.where(rng.random(300) < 0.2, np.nan, rng.exponential(3e4, 300)),
              "sim_gap": rng.exponential(3e4, 300), "window_left": np.full(300, 2e5)}
    for signals in (["click"], ["click", "like", "long_view"]):
        data = FidelityData(
            outcomes={s: y for s in signals},
            predictions={s: {"simulator": p, "popularity": np.full(3000, y.mean())}
                         for s in signals},
            replay=replay, uncalibrated_replay=replay if len(signals) > 1 else None)
        png = fidelity_png(data, {"data": {"source": "test", "held_out": "the end"},
                                  "session_length": {"ks": 0.1}, "return_gap": {"ks": 0.2}})
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000
    p = rng.random(40000)
    y = (rng.random(40000) < p).astype(np.float64)
    mean_p, rate, count = reliability(y, p)
    assert len(mean_p) == 10 and count.sum() == 40000
    np.testing.assert_allclose(mean_p, np.linspace(0.05, 0.95, 10), atol=0.01)
    np.testing.assert_allclose(rate, mean_p, atol=0.03)  # calibrated by construction


def test_configs_accept_numpy_integers_and_store_plain_ints():
    config = SimulatorConfig(epochs=np.int64(3), history_len=np.int32(5), seed=np.int64(7),
                             hidden=(np.int64(32), np.int16(16)), patience=np.uint8(2))
    for name in ("epochs", "history_len", "seed", "patience"):
        assert type(getattr(config, name)) is int
    assert config.hidden == (32, 16) and all(type(w) is int for w in config.hidden)
    assert json.loads(json.dumps(config.to_dict()))["hidden"] == [32, 16]
    assert SimulatorConfig.from_dict(config.to_dict()) == config
    with pytest.raises(InputError, match=r"SimulatorConfig\.epochs must be an integer"):
        SimulatorConfig(epochs=2.5)
    with pytest.raises(InputError, match=r"SimulatorConfig\.batch_size must be a positive"):
        SimulatorConfig(batch_size=np.int64(0))
    with pytest.raises(InputError, match=r"SimulatorConfig\.hidden"):
        SimulatorConfig(hidden=64)
