"""Dataset environments cache their fitted simulator in the user's cache folder, keyed by
the data's contents and the fit settings, and never write into the data folder."""

from __future__ import annotations

import os
import shutil

import gymnasium as gym
import pytest

import recgym  # noqa: F401  (registers the environments)
from offline_data import InputError
from offline_data.shared.cache import CACHE_ENV, cache_root
from recgym.envs.datasets import simulator_cache_dir, simulator_fingerprint
from simulators.sim_config import SimulatorConfig

TINY_FIT = {"progress": False, "epochs": 2, "aux_epochs": 2}


def snapshot(folder):
    return sorted((p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in folder.rglob("*"))


@pytest.fixture
def smoke_copy(kuairand_smoke, tmp_path):
    """A copy of the 2,000-row KuaiRand smoke log with its feature files; (folder, kwargs)."""
    source, name = kuairand_smoke
    folder = tmp_path / "kuairand"
    folder.mkdir()
    for file in (name, "user_features_pure.csv", "video_features_basic_pure.csv"):
        shutil.copy(source / file, folder / file)
    return folder, {"data_path": folder, "fit_config": TINY_FIT,
                    "loader_kwargs": {"files": [name]}}


def test_read_only_dataset_is_fitted_once_and_cached_outside_it(smoke_copy, tmp_path,
                                                               monkeypatch):
    folder, kwargs = smoke_copy
    for path in [*folder.iterdir(), folder]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    before = snapshot(folder)
    env = gym.make("RecGym/KuaiRand-v0", **kwargs)
    assert snapshot(folder) == before                   # nothing written into the data
    cached = list((tmp_path / "cache" / "simulators").iterdir())
    assert len(cached) == 1 and cached[0].name.startswith("kuairand-v0-")
    weights = cached[0] / "weights.pt"
    stamp = weights.stat().st_mtime_ns
    gym.make("RecGym/KuaiRand-v0", **kwargs)
    assert weights.stat().st_mtime_ns == stamp          # loaded, not refitted
    env.reset(seed=0)
    folder.chmod(0o755)


def test_cache_key_follows_content_and_settings(smoke_copy, tmp_path):
    folder, kwargs = smoke_copy
    loader_kwargs = kwargs["loader_kwargs"]

    def cache_of(config=TINY_FIT):
        stamp = simulator_fingerprint(folder, loader_kwargs, SimulatorConfig(**config))
        return simulator_cache_dir("RecGym/KuaiRand-v0", stamp, tmp_path)

    first = cache_of()
    assert first.parent == tmp_path / "simulators"
    assert cache_of({**TINY_FIT, "seed": 1}) != first   # other settings: another fit
    log = folder / loader_kwargs["files"][0]
    os.utime(log, (1, 1))                               # touched, same content: same key
    assert cache_of() == first
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:-1]))
    assert cache_of() != first                          # new content: a new fit


def test_cache_root_order(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "recgym"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "recgym"


def test_unwritable_cache_fails_before_fitting(movielens_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")   # nobody, root included, can create folders below it
    with pytest.raises(InputError, match=r"cannot write the simulator cache.*cache_dir="):
        gym.make("RecGym/MovieLens-v0", data_path=movielens_dir, cache_dir=blocker / "c",
                 fit_config=TINY_FIT)
