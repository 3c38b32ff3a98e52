"""SimulatorSet (Sim2Rec): diverse members, fidelity gate, split, persistence; fit-sim CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from offline_data import InputError
from recgym.cli import main
from simulators import SimulatorConfig, SimulatorSet, held_out, synthetic_fitting_log
from simulators.sim_set import PARAM_NAMES


@pytest.fixture(scope="module")
def sim_set():
    log, fraction = synthetic_fitting_log(users=300, days=4, fresh_days=1, seed=1)
    config = SimulatorConfig(progress=False, epochs=8, aux_epochs=4)
    return SimulatorSet.fit(log, k=4, config=config, n_heldout=1,
                            split=held_out(log, fraction), max_auc_gap=0.03)


def test_members_differ_but_stay_within_the_auc_band(sim_set):
    assert len(sim_set) == 4
    assert sim_set.params.shape == (4, len(PARAM_NAMES))
    assert len({tuple(p) for p in sim_set.params}) == 4
    aucs = [f["click_auc"] for f in sim_set.fidelity]
    gate = [f["click_gate_auc"] for f in sim_set.fidelity]
    assert max(gate) - min(gate) <= 0.03 + 1e-9, gate
    assert sim_set.report["members_outside_band"] == []
    assert max(aucs) - min(aucs) <= 0.05, aucs  # reported on the held-out days
    assert sim_set.report["disagreement"] > 0.005
    rng = np.random.default_rng(0)
    state = sim_set[0].start(np.arange(100), rng)
    slates = rng.integers(0, sim_set[0].n_items, (100, 1))
    preds = [m.predict(state, slates)["click"] for m in sim_set.members]
    assert np.std(np.stack(preds), axis=0).mean() > 0.005


def test_split_and_summary(sim_set):
    train, unseen = sim_set.split()
    assert (len(train), len(unseen)) == (3, 1)
    assert sim_set.train_indices == (0, 1, 2)
    summary = json.loads(json.dumps(sim_set.summary()))
    assert summary["members"][3]["heldout"] is True
    assert set(summary["members"][0]["params"]) == set(PARAM_NAMES)
    with pytest.raises(InputError, match="held-out"):
        sim_set.split(n_heldout=4)


def test_set_arguments_accept_numpy_integers(sim_set):
    assert sim_set[np.int64(2)] is sim_set[2]
    train, unseen = sim_set.split(np.int64(2))
    assert (len(train), len(unseen)) == (2, 2)
    part = sim_set.subset([np.int64(0), np.int32(3)])
    assert part.members == [sim_set[0], sim_set[3]]
    again = SimulatorSet(sim_set.members, sim_set.specs, sim_set.fidelity,
                         heldout=(np.int64(1),))
    assert again.heldout == (1,) and type(again.heldout[0]) is int
    spec = sim_set.specs[1]
    same = type(spec)(**{**spec.__dict__, "seed": np.int64(spec.seed),
                         "embed_dim": np.int32(spec.embed_dim)})
    assert same == spec and type(same.seed) is int
    json.dumps(same.to_dict())
    with pytest.raises(InputError, match="outside"):
        sim_set.subset([4])
    with pytest.raises(InputError, match="must be an integer"):
        sim_set.split(1.5)


def test_save_and_load_round_trip(sim_set, tmp_path):
    sim_set.save(tmp_path / "set")
    back = SimulatorSet.load(tmp_path / "set", device="cpu")
    assert back.heldout == sim_set.heldout
    np.testing.assert_array_equal(back.params, sim_set.params)
    state = back[2].start(np.arange(10))
    slates = np.tile([[1]], (10, 1))
    np.testing.assert_array_equal(back[2].predict(state, slates)["click"],
                                  sim_set[2].predict(state, slates)["click"])


def test_fit_sim_cli_writes_simulator_and_fidelity(tmp_path, capsys):
    out = tmp_path / "sim"
    with pytest.raises(SystemExit) as info:
        main(["fit-sim", "--data", "synthetic", "--users", "200", "--days", "3",
              "--fresh-days", "1", "--epochs", "3", "--no-baselines", "--no-progress",
              "--set", "2", "--set-heldout", "1", "--out", str(out)])
    assert info.value.code == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "ground truth" in text and "simulator set: 2 members" in text
    report = json.loads((out / "fidelity.json").read_text())
    assert {"signals", "session_length", "return_gap", "ground_truth", "set",
            "calibration"} <= set(report)
    assert (out / "fidelity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "held-out ECE before -> after" in text
    assert (out / "set" / "simulator_set.json").is_file()
    with pytest.raises(SystemExit) as info:
        main(["fit-sim", "--data", "synthetic", "--out", str(out)])
    assert info.value.code == 2
    assert "--overwrite" in capsys.readouterr().err


def test_fit_sim_rejects_options_that_do_not_apply(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["fit-sim", "--data", "synthetic", "--kuairand-log", "all", "--out",
              str(tmp_path / "x")])
    assert info.value.code == 2
    assert "--kuairand-log" in capsys.readouterr().err
