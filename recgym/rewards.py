"""Reward signals of recgym environments and how they combine into a scalar.

Every step reports a reward vector (`info["reward_vector"]`, names in
`info["reward_names"]`): one entry per simulator signal (summed over the slate), then
`depth` (1 per step: a step taken in a session), then `retention`, paid when a session
ends: `max(0, 1 - return_gap / churn_after)`, so an immediate return pays 1 and a churned
user 0. The scalar reward is the weighted sum; weights not given are 0.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

import numpy as np

from offline_data.shared.errors import InputError

LONG_TERM = ("depth", "retention")
DEFAULT_RETENTION_WEIGHT = 5.0


def reward_names(signal_names: Sequence[str]) -> list[str]:
    """All reward names: the simulator's signals, then the long-term ones."""
    return [*signal_names, *LONG_TERM]


def default_weights(signal_names: Sequence[str], primary: str) -> dict[str, float]:
    """Immediate engagement (the primary signal, weight 1) and retention (weight 5)."""
    del signal_names
    return {primary: 1.0, "retention": DEFAULT_RETENTION_WEIGHT}


def weight_vector(names: Sequence[str], weights: Mapping[str, float]) -> np.ndarray:
    """Weights in the order of `names`; unknown names raise with a 'did you mean'."""
    unknown = [k for k in weights if k not in names]
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, names, n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise InputError(f"reward_weights names unknown reward(s) {', '.join(hints)}; known: "
                         f"{', '.join(names)}")
    return np.array([float(weights.get(n, 0.0)) for n in names], dtype=np.float64)


def check_reward_weights(weights: Mapping[str, float] | None, signal_names: Sequence[str],
                         source: str) -> None:
    """Refuse weights on rewards that a log or simulator with `signal_names` does not
    have (did-you-mean), naming `source`."""
    try:
        weight_vector(reward_names(signal_names), weights or {})
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def retention_reward(gap_h: np.ndarray, churn_after_h: float) -> np.ndarray:
    """1 for an immediate return, falling linearly to 0 at `churn_after_h` and beyond."""
    return np.clip(1.0 - np.asarray(gap_h, dtype=np.float64) / churn_after_h, 0.0, 1.0)
