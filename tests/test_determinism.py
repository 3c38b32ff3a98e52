"""agents.determinism: the helper sets what it says, and with it a seeded training run no
longer depends on the thread count the process started with."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

import recgym
from agents import make_agent
from agents.determinism import (
    CPU_CAPABILITY,
    CUBLAS_WORKSPACE,
    MKL_BRANCH,
    DeterminismReport,
    deterministic_torch,
)
from offline_data import InputError

ENV = "RecGym/Synthetic-v0"
WORLD = {"world": {"n_users": 80, "n_items": 30, "n_topics": 4}, "history_len": 4}
VARIABLES = (CPU_CAPABILITY, MKL_BRANCH, CUBLAS_WORKSPACE)


@pytest.fixture()
def restored() -> Iterator[None]:
    """Put back the process-wide settings the helper changes."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    saved = {name: os.environ.get(name) for name in VARIABLES}
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.mark.usefixtures("restored")
@pytest.mark.parametrize("threads", [1, 2])
def test_the_helper_sets_what_it_says(threads, monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    torch.set_num_threads(3)
    report = deterministic_torch(threads)
    assert torch.get_num_threads() == threads == report.threads
    assert torch.are_deterministic_algorithms_enabled() and report.deterministic_algorithms
    assert torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert os.environ[MKL_BRANCH] == report.mkl_branch == "AVX2"
    assert os.environ[CUBLAS_WORKSPACE] == ":4096:8"
    assert os.environ[CPU_CAPABILITY] == "avx2"
    # torch chose its kernels at this process's first computation: the report says so
    assert report.cpu_capability == torch.backends.cpu.get_cpu_capability()
    assert report.cpu_capability_pinned == (report.cpu_capability == "AVX2")


@pytest.mark.usefixtures("restored")
def test_variables_already_set_win_and_none_leaves_them(monkeypatch):
    monkeypatch.setenv(MKL_BRANCH, "COMPATIBLE")
    monkeypatch.delenv(CPU_CAPABILITY, raising=False)
    report = deterministic_torch(1, cpu_capability=None, warn_only=False)
    assert report == DeterminismReport(
        threads=1, deterministic_algorithms=True,
        cpu_capability=torch.backends.cpu.get_cpu_capability(), cpu_capability_pinned=True,
        mkl_branch="COMPATIBLE")
    assert CPU_CAPABILITY not in os.environ
    assert not torch.is_deterministic_algorithms_warn_only_enabled()


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_bad_thread_counts_are_refused(threads):
    with pytest.raises(InputError, match="threads must be a positive integer"):
        deterministic_torch(threads)


def _trained_weights(name: str, settings: dict[str, Any]) -> list[np.ndarray]:
    """The policy parameters of a short seeded SB3 run."""
    env = recgym.make_vec(ENV, 4, **WORLD)
    agent = make_agent(name, env, seed=5, **settings).fit(env, 128)
    return [t.detach().numpy().copy() for t in agent.weights()["params"]["policy"].values()]


@pytest.mark.usefixtures("restored")
def test_with_the_helper_a_run_ignores_the_machines_thread_count():
    """Whatever thread count the process started with (the machine's core count), the
    helper's fixed count gives the same weights bit for bit. PPO is the case that needs
    it: its orthogonal initial weights come from MKL's QR, whose last bits depend on the
    thread count (without the helper these two runs differ by about 1e-8)."""
    settings = {"encoder": "drr_att", "embed_dim": 8, "hidden_dim": 8, "net_arch": (16,),
                "algo_kwargs": {"n_steps": 16, "batch_size": 32}}
    runs = []
    for machine_threads in (2, 1):
        torch.set_num_threads(machine_threads)
        deterministic_torch(1)
        runs.append(_trained_weights("ppo", settings))
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)
