"""Shared fixtures: paths to the real sample data (skipped when absent) and small logs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get("RECGYM_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


def _shared(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(
            f"real sample data not found at {path}; put ../shared/data beside the repo or set "
            "RECGYM_SHARED_DATA"
        )
    return path


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests cache fitted simulators in a temporary folder, never in the user's cache."""
    os.environ["RECGYM_CACHE_DIR"] = str(tmp_path_factory.mktemp("recgym-cache"))


@pytest.fixture(scope="session")
def kuairand_dir() -> Path:
    """The KuaiRand-Pure sample folder (two official date-range logs + features)."""
    return _shared("kuairand-pure")


@pytest.fixture(scope="session")
def kuairand_smoke() -> tuple[Path, str]:
    """(folder, file name) of the 2,000-row KuaiRand smoke log, wherever it lives."""
    for folder in ("kuairand-pure-smoke", "kuairand-pure"):
        path = SHARED_DATA / folder / "log_standard_smoke2000_pure.csv"
        if path.is_file():
            return path.parent, path.name
    pytest.skip(f"KuaiRand smoke log not found under {SHARED_DATA}")


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    """The MovieLens-100K folder."""
    return _shared("movielens-100k")


@pytest.fixture(scope="session")
def small_log():
    """A small synthetic log (200 users, 3 days), built once per test session."""
    from simulators import synthetic_log

    return synthetic_log(n_users=200, n_days=3, seed=7)


@pytest.fixture()
def one_thread():
    """Small networks train fastest on one torch thread (and do not fight other
    processes for the cores)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
