"""The batched user-simulator interface every environment runs on."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from offline_data.schema import Signal

Feedback = dict[str, np.ndarray]
"""Feedback for a batch of slates: signal name -> float32 array of shape (batch, slate)."""


@runtime_checkable
class RandomSource(Protocol):
    """What simulators draw randomness from (a `numpy.random.Generator` fits)."""

    def random(self, size: Any = None) -> Any:
        """Uniform numbers in [0, 1) of the given shape."""
        ...

    def standard_normal(self, size: Any = None) -> Any:
        """Standard normal numbers of the given shape."""
        ...


@runtime_checkable
class UserSimulator(Protocol):
    """A batch of simulated users: all methods act on many users in one array operation.

    A session runs `respond` -> `step_state` -> `leave_prob` per step; when a user leaves,
    `return_gap` samples the time until they come back and `next_session` starts it.
    States are values: methods return new states and never change the one passed in.
    """

    n_items: int
    signals: list[Signal]

    def start(self, user_ids: np.ndarray, rng: RandomSource) -> Any:
        """State of the given users at the start of their first session."""
        ...

    def respond(self, state: Any, slates: np.ndarray, rng: RandomSource) -> Feedback:
        """Sampled feedback of each user to each item of its slate, shape (batch, slate)."""
        ...

    def step_state(self, state: Any, slates: np.ndarray, feedback: Feedback) -> Any:
        """State after the users saw `slates` and gave `feedback`."""
        ...

    def leave_prob(self, state: Any, feedback: Feedback) -> np.ndarray:
        """Probability, per user, that the session ends after this step, shape (batch,)."""
        ...

    def return_gap(self, state: Any, rng: RandomSource) -> np.ndarray:
        """Sampled seconds until each user's next session, shape (batch,)."""
        ...

    def next_session(self, state: Any, gap_s: np.ndarray) -> Any:
        """State at the start of the next session, `gap_s` seconds after the last one."""
        ...
