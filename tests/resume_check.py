"""One check that an agent's training resumes bit for bit: a run split into `fit` calls,
and one saved with its training state and loaded, equal one uninterrupted run (weights,
optimisers, generators, counters), whatever the global random states."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents import load_agent


def flat_items(state: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(key, value) leaves of a nested state, lists and tuples alike."""
    if isinstance(state, (list, tuple)):
        state = dict(enumerate(state))
    if isinstance(state, dict):
        for key, value in state.items():
            yield from flat_items(value, f"{prefix}{key}.")
    else:
        yield prefix, state


def assert_same(a: Any, b: Any) -> None:
    """Nested dicts / lists of tensors, arrays and numbers are equal."""
    left, right = dict(flat_items(a)), dict(flat_items(b))
    assert left.keys() == right.keys()
    for key, value in left.items():
        if torch.is_tensor(value):
            assert torch.equal(value, right[key]), key
        else:
            np.testing.assert_array_equal(np.asarray(value), np.asarray(right[key]), key)


def check_exact_resume(make: Callable[[], Any], data: Any, folder: Path,
                       steps: tuple[int, int] = (11, 19)) -> tuple[Any, Any]:
    """Train `make()` for sum(steps) at once, and split (the second part both continued
    and after a save / load); assert they are identical and return (straight, resumed)."""
    first, second = steps
    straight = make().fit(data, first + second)
    split = make().fit(data, first)
    split.save(folder / "half", training_state=True)
    torch.manual_seed(99)  # the global random states must not matter
    np.random.seed(99)
    resumed = load_agent(folder / "half")
    split.fit(data, second)
    resumed.fit(data, second)
    for other in (split, resumed):
        assert other.num_steps == first + second
        assert_same(straight.weights(), other.weights())
    ours, theirs = straight.training_state(), resumed.training_state()
    ours.pop("losses")
    theirs.pop("losses")
    assert_same(ours, theirs)  # optimisers, generators, counters
    assert split.losses == resumed.losses
    return straight, resumed
