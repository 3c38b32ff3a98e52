"""Logs larger than memory: streaming conversion to a partitioned dataset, its reader,
the `recgym data convert` command and simulator fits that stream partitions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from cli_check import fail

from offline_data import InputError, LogSchemaError, load_csv, load_kuairand, load_parquet
from offline_data.convert import convert_csv, convert_kuairand
from offline_data.convert_passes import partition_of
from offline_data.partitioned import PartitionedLog
from offline_data.summary import summarize, summarize_partitioned
from recgym.cli import main

SIGNALS = "click:binary,dwell:continuous"
COLUMNS = {"user_id": "uid", "item_id": "iid", "timestamp": "ts"}


def write_log(path, n=6000, users=60, items=80, seed=0, ms=False):
    """A CSV log whose users' rows are spread over the whole file (so over many blocks),
    with sub-second ties when `ms`, and a few exact duplicates."""
    rng = np.random.default_rng(seed)
    step = 1000 if ms else 1
    frame = pd.DataFrame({
        "uid": rng.integers(0, users, n) * 13 + 5,
        "iid": rng.integers(0, items, n) * 7,
        "ts": np.sort(rng.integers(1_600_000_000, 1_600_000_000 + 4 * 86400, n)) * step
        + (rng.integers(0, 999, n) if ms else 0),
        "click": rng.integers(0, 2, n),
        "dwell": np.round(rng.random(n), 3),
    })
    frame = pd.concat([frame, frame.iloc[[3, 70, n - 1]]], ignore_index=True)
    frame.to_csv(path, index=False)
    return frame


def equal_logs(a, b):
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    assert np.array_equal(a.user_ids, b.user_ids) and np.array_equal(a.item_ids, b.item_ids)
    assert (a.start_time, a.end_time, a.session_gap) == (b.start_time, b.end_time, b.session_gap)


@pytest.mark.parametrize("ms", [False, True])
def test_round_trip_matches_the_in_memory_loader(tmp_path, ms):
    csv = tmp_path / "log.csv"
    write_log(csv, ms=ms)
    options = {"signals": SIGNALS, "columns": COLUMNS, "time_unit": "ms" if ms else "s"}
    # ~200 rows per block: every user's rows span many blocks
    dataset = convert_csv(csv, tmp_path / "ds", partitions=5, block_mb=0.004, **options)
    memory = load_csv(csv, **options)
    assert dataset.n_interactions == memory.n_interactions == 6000  # duplicates dropped
    assert (dataset.n_users, dataset.n_items) == (memory.n_users, memory.n_items)
    equal_logs(dataset.to_log(), memory)
    equal_logs(load_parquet(tmp_path / "ds"), memory)
    # each partition holds whole users, sorted, with the sessions the whole log has
    owners = {}
    sessions = 0
    for index, part in enumerate(dataset.partitions()):
        frame = part.interactions
        users = np.unique(frame["user_id"])
        expected = partition_of(pd.Series(memory.user_ids[users]), dataset.n_partitions)
        assert (expected == index).all()
        owners.update(dict.fromkeys(users.tolist(), index))
        assert (np.diff(frame["user_id"]) >= 0).all()
        whole = memory.interactions[memory.interactions["user_id"].isin(users)]
        assert np.array_equal(frame["timestamp"], whole["timestamp"])
        assert np.array_equal(frame["session_id"], pd.factorize(whole["session_id"])[0])
        assert part.sessions["return_gap"].equals(
            memory.sessions[memory.sessions["user_id"].isin(users)]["return_gap"]
            .reset_index(drop=True))
        sessions += len(part.sessions)
    assert len(owners) == memory.interactions["user_id"].nunique()
    assert sessions == len(memory.sessions) == dataset.n_sessions
    batches = list(dataset.batches(batch_rows=1000, columns=["user_id", "session_id"]))
    assert sum(len(b) for b in batches) == 6000
    assert np.array_equal(np.unique(pd.concat(batches)["session_id"]), np.arange(sessions))


def test_text_ids_and_inspect_summary(tmp_path, capsys):
    csv = tmp_path / "log.csv"
    frame = write_log(csv, n=800)
    frame["uid"] = "u" + frame["uid"].astype(str).str.zfill(4)
    frame.to_csv(csv, index=False)
    options = {"signals": SIGNALS, "columns": COLUMNS, "string_ids": True}
    dataset = convert_csv(csv, tmp_path / "ds", partitions=3, block_mb=0.002, **options)
    memory = load_csv(csv, **options)
    equal_logs(dataset.to_log(), memory)
    assert dataset.user_ids[0] == "u0005"
    streamed, whole = summarize_partitioned(dataset), summarize(memory)
    for key in ("users", "items", "interactions", "sessions", "session_length",
                "sessions_per_user", "return_gap_hours", "censored_sessions"):
        assert streamed[key] == pytest.approx(whole[key]), key
    assert streamed["signals"]["dwell"]["std"] == pytest.approx(whole["signals"]["dwell"]["std"])
    main_ok(capsys, "data", "inspect", str(tmp_path / "ds"), "--json")
    assert json.loads(capsys.readouterr().out)["partitions"] == 3


@pytest.mark.parametrize("suffix", [".csv.gz", ".tsv.bz2"])
def test_compressed_files_convert_block_by_block(tmp_path, suffix):
    frame = write_log(tmp_path / "plain.csv", n=3000)
    path = tmp_path / f"log{suffix}"
    frame.to_csv(path, index=False, sep="\t" if ".tsv" in suffix else ",")
    options = {"signals": SIGNALS, "columns": COLUMNS}
    dataset = convert_csv(path, tmp_path / "ds", block_mb=0.01, **options)
    equal_logs(dataset.to_log(), load_csv(path, **options))


def main_ok(capsys, *argv):
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    assert info.value.code in (0, None), capsys.readouterr().err


def test_a_bad_row_deep_in_a_large_file_names_its_line(tmp_path):
    csv = tmp_path / "log.csv"
    write_log(csv)
    lines = csv.read_text().splitlines()
    bad = 5321                                      # header = line 1
    fields = lines[bad - 1].split(",")
    lines[bad - 1] = ",".join([*fields[:3], "2", fields[4]])
    csv.write_text("\n".join(lines) + "\n")
    options = {"signals": SIGNALS, "columns": COLUMNS}
    with pytest.raises(LogSchemaError) as streamed:
        convert_csv(csv, tmp_path / "ds", block_mb=0.004, **options)
    with pytest.raises(LogSchemaError) as memory:
        load_csv(csv, **options)
    assert str(streamed.value) == str(memory.value)
    assert f"{csv}: binary signal 'click' must be 0 or 1, but line {bad} has click=2" \
        in str(streamed.value)
    assert not (tmp_path / "ds").exists()           # nothing half-written
    lines[bad - 1] = ",".join(fields)
    lines[4000] = ",".join(["abc", *lines[4000].split(",")[1:]])
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(LogSchemaError, match=r"column 'uid' must be numeric .* line 4001 has "
                                             r"uid='abc'"):
        convert_csv(csv, tmp_path / "ds", block_mb=0.004, **options)


def test_overwrite_only_replaces_a_dataset_recgym_wrote(tmp_path):
    csv = tmp_path / "log.csv"
    write_log(csv, n=300)
    options = {"signals": SIGNALS, "columns": COLUMNS}
    out = tmp_path / "ds"
    convert_csv(csv, out, **options)
    with pytest.raises(InputError, match="--overwrite"):
        convert_csv(csv, out, **options)
    assert convert_csv(csv, out, overwrite=True, partitions=2, **options).n_partitions == 2
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(InputError, match="will not replace"):
        convert_csv(csv, mine, overwrite=True, **options)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_convert_command_and_its_errors(tmp_path, capsys):
    csv = tmp_path / "log.csv"
    write_log(csv, n=500)
    out = tmp_path / "ds"
    base = ["data", "convert", str(csv), "--out", str(out), "--signals", SIGNALS,
            "--columns", "user_id=uid,item_id=iid,timestamp=ts"]
    main_ok(capsys, *base, "--partitions", "2", "--block-size", "0.01", "--no-progress")
    assert "wrote 500 interactions" in capsys.readouterr().out
    assert PartitionedLog(out).n_partitions == 2
    assert "not found" in fail(capsys, "data", "convert", str(tmp_path / "no.csv"), "--out",
                               str(out), "--signals", SIGNALS)
    assert "'zz' for 'user_id'" in fail(capsys, *base[:-1], "user_id=zz", "--overwrite")
    assert "--partitions must be a positive integer" in fail(capsys, *base, "--overwrite",
                                                             "--partitions", "0")
    assert "--block-size" in fail(capsys, *base, "--overwrite", "--block-size", "0")
    assert "--overwrite" in fail(capsys, *base)
    assert "--kuairand-log only applies" in fail(capsys, *base, "--kuairand-log", "all")
    header_only = tmp_path / "empty.csv"
    header_only.write_text("uid,iid,ts,click,dwell\n")
    assert "the log is empty" in fail(capsys, "data", "convert", str(header_only), "--out",
                                      str(tmp_path / "e"), "--signals", SIGNALS, "--columns",
                                      "user_id=uid,item_id=iid,timestamp=ts")


def test_kuairand_sample_converts_like_load_kuairand(kuairand_smoke, tmp_path, capsys):
    folder, name = kuairand_smoke
    dataset = convert_kuairand(folder / name, tmp_path / "ds", block_mb=0.02, partitions=3)
    memory = load_kuairand(folder, files=[name], features=False)
    equal_logs(dataset.to_log(), memory)
    assert dataset.context == ("is_rand", "tab")
    assert dataset.meta["duplicates_dropped"] == 24
    main_ok(capsys, "data", "convert", str(folder), "--files", name, "--format", "kuairand",
            "--out", str(tmp_path / "cli"), "--no-progress")
    equal_logs(PartitionedLog(tmp_path / "cli").to_log(), memory)
    assert "--signals only applies" in fail(capsys, "data", "convert", str(folder / name),
                                            "--format", "kuairand", "--signals", "a:binary",
                                            "--out", str(tmp_path / "x"))


@pytest.fixture(scope="module")
def synthetic_dataset(tmp_path_factory):
    """A small synthetic log as CSV, converted into 3 partitions, and the same log loaded
    whole."""
    from simulators import synthetic_log

    folder = tmp_path_factory.mktemp("synthetic")
    log = synthetic_log(n_users=300, n_days=6, seed=3)
    frame = log.interactions.drop(columns=["session_id"])
    frame["user_id"] = log.user_ids[frame["user_id"]]
    frame["item_id"] = log.item_ids[frame["item_id"]]
    frame.to_csv(folder / "log.csv", index=False)
    signals = ",".join(f"{s.name}:{s.kind}" for s in log.signals)
    dataset = convert_csv(folder / "log.csv", folder / "ds", signals=signals, partitions=3)
    return dataset, dataset.to_log()


def test_streamed_fit_is_seeded_and_close_to_the_in_memory_fit(synthetic_dataset, one_thread,
                                                               monkeypatch):
    import torch

    from simulators import fit, streamed_fit
    from simulators.fidelity import held_out, predict_rows, signal_metrics
    from simulators.sim_config import SimulatorConfig
    from simulators.streamed_fit import fit_partitioned, user_chunks

    dataset, whole = synthetic_dataset
    # inputs built a few users at a time (partitions of ~5,000 rows)
    monkeypatch.setattr(streamed_fit, "CHUNK_ROWS", 1500)
    chunks = list(user_chunks(dataset.partition(0), 1500))
    assert len(chunks) > 2 and all(len(c.sessions) == c.interactions["session_id"].max() + 1
                                   for c in chunks)
    assert sum(len(c) for c in chunks) == dataset.partition_info[0].rows
    config = SimulatorConfig(epochs=5, aux_epochs=2, progress=False, device="cpu", seed=1)
    split = held_out(whole, 0.2)
    streamed = fit_partitioned(dataset, config, test_fraction=0.2)
    again = fit_partitioned(dataset, config, test_fraction=0.2)
    for a, b in zip(streamed.response.state_dict().values(),
                    again.response.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    report = streamed.meta.fit_report
    assert report["streamed"] and report["partitions"] == 3
    assert report["rows"] == whole.n_interactions
    assert report["train_rows"] + report["val_rows"] == int((~split.mask).sum())
    in_memory = fit(split.train(whole), config)
    mask = split.signal_mask
    y = whole.interactions["click"].to_numpy(dtype=np.float64)[mask]
    held = {name: signal_metrics(True, y, predict_rows(sim, whole, mask)["click"])
            for name, sim in (("streamed", streamed), ("memory", in_memory))}
    assert held["streamed"]["auc"] > 0.6, held
    assert abs(held["streamed"]["auc"] - held["memory"]["auc"]) < 0.03, held
    assert abs(held["streamed"]["logloss"] - held["memory"]["logloss"]) < 0.03, held
    assert np.array_equal(streamed.tensors.start_session_index,
                          in_memory.tensors.start_session_index)


def test_fit_sim_on_a_partitioned_folder(synthetic_dataset, tmp_path, capsys, one_thread):
    dataset, _ = synthetic_dataset
    out = tmp_path / "sim"
    main_ok(capsys, "fit-sim", "--data", str(dataset.directory), "--out", str(out),
            "--epochs", "2", "--no-progress")
    fidelity = json.loads((out / "fidelity.json").read_text())
    assert "of partition" in fidelity["data"]["held_out"]
    assert fidelity["fit"]["streamed"] and 0.5 < fidelity["signals"]["click"]["auc"] <= 1
    # the simulator serves an environment like any fitted one
    import gymnasium as gym

    import recgym  # noqa: F401  (registers the environments)
    from simulators.persistence import load_simulator

    env = gym.make("RecGym/Logged-v0", simulator=load_simulator(out, device="cpu"))
    obs, _ = env.reset(seed=0)
    obs, reward, *_ = env.step(env.action_space.sample())
    assert np.isfinite(reward) and obs["user_id"] < dataset.n_users
    assert "--set needs a log in memory" in fail(
        capsys, "fit-sim", "--data", str(dataset.directory), "--out", str(tmp_path / "s2"),
        "--set", "3")


def test_episodes_streamed_partition_by_partition_equal_the_in_memory_ones(
        synthetic_dataset, tmp_path, capsys):
    from recgym.env_config import EnvConfig
    from recgym.offline import TrajectoryDataset, episodes_from_log
    from recgym.offline.stream_export import episodes_to_parquet

    dataset, whole = synthetic_dataset
    config = EnvConfig(max_sessions=3)
    done = episodes_to_parquet(dataset, tmp_path / "episodes", config)
    streamed = TrajectoryDataset.from_parquet(tmp_path / "episodes")
    memory = episodes_from_log(whole, config)
    assert (done.episodes, done.steps) == (memory.n_episodes, memory.n_steps)
    assert streamed.spec == memory.spec
    # the same episodes, in partition order instead of user order: compare them by user
    s_first, s_end = streamed.episode_bounds()
    m_first, m_end = memory.episode_bounds()
    s_users = streamed.observations["user_id"][s_first]
    m_users = memory.observations["user_id"][m_first]
    for user in np.unique(m_users)[:40]:
        s_eps, m_eps = np.flatnonzero(s_users == user), np.flatnonzero(m_users == user)
        assert len(s_eps) == len(m_eps)
        for a, b in zip(s_eps, m_eps, strict=True):
            rows_a, rows_b = slice(s_first[a], s_end[a]), slice(m_first[b], m_end[b])
            for key in memory.observations:
                np.testing.assert_array_equal(streamed.observations[key][rows_a],
                                              memory.observations[key][rows_b])
            np.testing.assert_array_equal(streamed.rewards[rows_a], memory.rewards[rows_b])
            np.testing.assert_array_equal(streamed.terminals[rows_a], memory.terminals[rows_b])
    main_ok(capsys, "data", "export", str(dataset.directory), "--out", str(tmp_path / "cli"),
            "--max-sessions", "3")
    assert "one partition at a time" in capsys.readouterr().out
    assert TrajectoryDataset.from_parquet(tmp_path / "cli").n_steps == memory.n_steps


def test_kuairand_files_with_different_extra_columns_convert(tmp_path) -> None:
    """One log file has a column the other lacks: both convert, as `load_kuairand` reads
    them."""
    from offline_data.kuairand import LOG_COLUMNS

    rng = np.random.default_rng(0)

    def log_file(name: str, rows: int, extra: bool) -> None:
        frame = pd.DataFrame({c: rng.integers(0, 2, rows) for c in LOG_COLUMNS})
        frame["user_id"] = rng.integers(0, 5, rows)
        frame["video_id"] = rng.integers(0, 9, rows)
        frame["time_ms"] = 1_650_000_000_000 + rng.integers(0, 10**7, rows)
        frame["play_time_ms"] = rng.integers(0, 1000, rows)
        frame["duration_ms"] = 1000
        if extra:
            frame["date"] = 20220408
        frame.to_csv(tmp_path / "kr" / name, index=False)

    (tmp_path / "kr").mkdir()
    log_file("log_standard_4_08_to_4_21_1k.csv", 50, True)
    log_file("log_random_4_22_to_5_08_1k.csv", 50, False)
    converted = convert_kuairand(tmp_path / "kr", tmp_path / "out", log="all", partitions=2)
    whole = load_kuairand(tmp_path / "kr", log="all")
    assert converted.to_log().n_interactions == whole.n_interactions
