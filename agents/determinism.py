"""Settings that make seeded torch training give the same bits wherever the same settings
hold.

A seeded run already repeats exactly in one process setup; across machines its float
results can change with the number of intra-op threads (MKL's QR behind
`nn.init.orthogonal_`, some small matrix products and full reductions over more than 32,768
elements split their work differently) and with the CPU code path (torch's own kernels
dispatch on AVX2 / AVX-512, MKL on the CPU model). A learner that acts greedily on its
values turns such last-bit differences into different actions and a different run; see
`benchmarks/determinism_check.py` for the measurements.

`deterministic_torch` fixes what can be fixed from inside the process; call it before any
torch computation (the CPU code paths are chosen at the first one).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from offline_data.shared.errors import InputError

CPU_CAPABILITY = "ATEN_CPU_CAPABILITY"
"""Environment variable naming the instruction set of torch's own CPU kernels."""
MKL_BRANCH = "MKL_CBWR"
"""Environment variable pinning MKL's code branch (Conditional Numerical Reproducibility)."""
CUBLAS_WORKSPACE = "CUBLAS_WORKSPACE_CONFIG"
"""Environment variable cuBLAS needs for deterministic results on CUDA >= 10.2."""


@dataclass(frozen=True)
class DeterminismReport:
    """What `deterministic_torch` set, and what the process actually runs with."""

    threads: int
    """torch intra-op threads now."""
    deterministic_algorithms: bool
    cpu_capability: str
    """The instruction set torch's CPU kernels use (e.g. "AVX2", "AVX512")."""
    cpu_capability_pinned: bool
    """False when a capability was asked for but torch had already chosen another one
    (some torch computation ran first: set `ATEN_CPU_CAPABILITY` before starting Python)."""
    mkl_branch: str | None
    """`MKL_CBWR` as set in the environment (MKL reads it at its first call)."""


def deterministic_torch(threads: int = 1, *, cpu_capability: str | None = "avx2",
                        mkl_branch: str | None = "AVX2",
                        warn_only: bool = True) -> DeterminismReport:
    """Make torch computations depend only on the inputs, the torch build and these
    settings, not on the machine's core count or CPU model:

    - `torch.set_num_threads(threads)`: a fixed split of the intra-op work (1 is also the
      fastest for recgym's small-batch training loops);
    - `torch.use_deterministic_algorithms(True, warn_only=warn_only)`, cuDNN deterministic
      and not benchmarking, and `CUBLAS_WORKSPACE_CONFIG=:4096:8` unless set (CUDA);
    - `cpu_capability` (default "avx2"; None leaves it): the instruction set of torch's own
      CPU kernels (`ATEN_CPU_CAPABILITY`), so AVX-512 and AVX2 machines run the same code.
      It takes effect only if no torch computation has run yet in this process (the report
      says whether it did); an environment variable already set wins;
    - `mkl_branch` (default "AVX2"; None leaves it): MKL's code branch (`MKL_CBWR`), which
      Intel documents to give the same results on every Intel CPU with AVX2 at a fixed thread
      count (on other CPUs MKL may fall back to its automatic branch). MKL reads it at its
      first call; an environment variable already set wins.

    Returns what was set and what is in effect. Process-wide: it changes the thread count
    for everything that follows.
    """
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise InputError(f"threads must be a positive integer, got {threads!r}")
    if cpu_capability is not None:
        os.environ.setdefault(CPU_CAPABILITY, cpu_capability)
    if mkl_branch is not None:
        os.environ.setdefault(MKL_BRANCH, mkl_branch)
    os.environ.setdefault(CUBLAS_WORKSPACE, ":4096:8")
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=warn_only)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    capability = torch.backends.cpu.get_cpu_capability()
    wanted = os.environ.get(CPU_CAPABILITY) if cpu_capability is not None else None
    return DeterminismReport(
        threads=torch.get_num_threads(),
        deterministic_algorithms=torch.are_deterministic_algorithms_enabled(),
        cpu_capability=capability,
        cpu_capability_pinned=wanted is None or capability.lower() == wanted.lower(),
        mkl_branch=os.environ.get(MKL_BRANCH))
