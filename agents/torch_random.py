"""An agent's own torch random state: training draws (dropout, sampling, initial weights)
come from it and leave the global generator as it was, so runs are repeatable and a run
split into `fit` calls, or saved and resumed, equals one uninterrupted run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


class OwnTorchRandom:
    """Mixin: `torch_random()` runs a block with the agent's own torch (and CUDA) random
    state; `torch_random_state` / `load_torch_random_state` save and restore it."""

    device: str
    _torch_state: torch.Tensor
    _cuda_state: torch.Tensor | None

    def init_torch_random(self, device: str) -> None:
        """Start from the current global state on `device`."""
        self.device = device
        self._torch_state = torch.get_rng_state()
        self._cuda_state = None

    @contextmanager
    def torch_random(self) -> Iterator[None]:
        """Run with the agent's own torch random state (the global one is left as it
        was)."""
        cuda = torch.device(self.device).type == "cuda"
        index = torch.device(self.device).index or 0
        with torch.random.fork_rng(devices=[index] if cuda else []):
            torch.set_rng_state(self._torch_state)
            if cuda and self._cuda_state is not None:
                torch.cuda.set_rng_state(self._cuda_state, index)
            yield
            self._torch_state = torch.get_rng_state()
            if cuda:
                self._cuda_state = torch.cuda.get_rng_state(index)

    def torch_random_state(self) -> dict[str, Any]:
        """The random states as arrays (for a training-state file)."""
        state: dict[str, Any] = {"torch_rng": self._torch_state.numpy().copy()}
        if self._cuda_state is not None:
            state["cuda_rng"] = self._cuda_state.numpy().copy()
        return state

    def load_torch_random_state(self, state: dict[str, Any]) -> None:
        """Inverse of `torch_random_state`."""
        self._torch_state = torch.from_numpy(np.asarray(state["torch_rng"], np.uint8))
        if "cuda_rng" in state and torch.device(self.device).type == "cuda":
            self._cuda_state = torch.from_numpy(np.asarray(state["cuda_rng"], np.uint8))
