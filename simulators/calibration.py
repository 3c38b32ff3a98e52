"""Calibration of a fitted simulator's probabilities on the slice of the log it held out.

`simulators.fit` keeps the last part of the training window out of training for early
stopping. Once the networks are trained, that slice also fits one Platt map per binary
response head (for a head conditioned on the primary signal: one per value of it) and one
for the leave hazard:

    calibrated logit = scale * logit + shift

Why Platt scaling (a temperature and a shift) rather than temperature scaling alone or
isotonic regression:

- On a later slice of a log the errors are mostly a level shift (the click rate drifts
  between periods) plus over-confidence from fitting the training rows; a temperature
  alone cannot move the level, and the level is what agents optimise.
- The map is strictly increasing, so each head ranks rows exactly as before (AUC per
  head is unchanged, and no ties are introduced, which isotonic steps would add: a greedy
  agent would then see many items with one score).
- It keeps a logit, so the behaviour perturbations (click temperature, popularity bias,
  leave-odds scale) still act on it, and a dependent head keeps one map per value of the
  primary signal, so sampling stays consistent.
- Two numbers per head are stable on the few hundred validation rows of a small log, where
  isotonic regression would overfit; a weak prior pulls them toward the identity, and a head
  with too few positives or negatives in the slice keeps the identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_CLASS_ROWS = 10
"""A map is fitted only when the slice has at least this many positives and negatives."""
PRIOR_ROWS = 20.0
"""Strength of the pull toward the identity map, in rows' worth of log-loss."""

ResponseMaps = tuple[tuple[tuple[float, float], tuple[float, float]], ...]
"""Per signal, the (scale, shift) map for each value of the primary signal."""


@dataclass(frozen=True)
class Calibration:
    """Platt maps of a fitted simulator (see the module docstring); the identity when
    unfitted. `response[s][v]` is the (scale, shift) of signal s's logit when the primary
    signal has value v (the primary head itself: both entries are its map; continuous
    signals: the identity); `leave` is the map of the leave hazard's logit."""

    response: ResponseMaps
    leave: tuple[float, float] = (1.0, 0.0)

    @classmethod
    def identity(cls, n_signals: int) -> Calibration:
        """Maps that change nothing."""
        return cls(tuple(((1.0, 0.0), (1.0, 0.0)) for _ in range(n_signals)))

    @property
    def is_identity(self) -> bool:
        """True when no map changes anything."""
        maps = [m for pair in self.response for m in pair] + [self.leave]
        return all(m == (1.0, 0.0) for m in maps)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(scale, shift), each of shape (n_signals, 2), float32."""
        values = np.array(self.response, dtype=np.float64).reshape(-1, 2, 2)
        return values[..., 0].astype(np.float32), values[..., 1].astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (floats are written exactly)."""
        return {"response": [[list(m) for m in pair] for pair in self.response],
                "leave": list(self.leave)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        """Inverse of `to_dict`."""
        response = tuple((_pair(pair[0]), _pair(pair[1])) for pair in data["response"])
        return cls(response, _pair(data["leave"]))


def _pair(values: Any) -> tuple[float, float]:
    scale, shift = values
    return float(scale), float(shift)


def fit_platt(logit: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(scale, shift) minimising the log-loss of sigmoid(scale * logit + shift) on `y`, with
    a weak Gaussian prior around (1, 0) worth `PRIOR_ROWS` rows (Newton's method, float64,
    deterministic). The identity when either class has fewer than `MIN_CLASS_ROWS` rows."""
    z = np.asarray(logit, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    positives = float(t.sum())
    if min(positives, len(t) - positives) < MIN_CLASS_ROWS:
        return 1.0, 0.0
    x = np.column_stack([z, np.ones_like(z)])
    theta = np.array([1.0, 0.0])
    prior = PRIOR_ROWS / len(t)
    identity = np.array([1.0, 0.0])

    def loss(theta: np.ndarray) -> float:
        margin = (x @ theta) * (2 * t - 1)
        return float(np.logaddexp(0.0, -margin).mean()
                     + 0.5 * prior * np.sum((theta - identity) ** 2))

    theta = identity.copy()
    current = loss(theta)
    for _ in range(100):
        p = sigmoid(x @ theta)
        grad = x.T @ (p - t) / len(t) + prior * (theta - identity)
        hess = (x * (p * (1 - p))[:, None]).T @ x / len(t) + prior * np.eye(2)
        step = np.linalg.solve(hess, grad)
        size = 1.0
        while (new := loss(theta - size * step)) > current and size > 1e-6:
            size /= 2  # damped Newton: never increase the loss
        if new > current:
            break
        theta, current = theta - size * step, new
        if np.abs(size * step).max() < 1e-10:
            break
    scale, shift = float(theta[0]), float(theta[1])
    if not scale > 0:  # a logit that predicts nothing (or backwards): keep the ranking
        return 1.0, 0.0
    return scale, shift


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - predicted probability| over equal-width bins, row-weighted."""
    which = np.minimum((np.asarray(p) * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, y, minlength=bins) - np.bincount(which, p, minlength=bins))
    return float(gap.sum() / max(count.sum(), 1))


def ece_noise(p: np.ndarray, bins: int = 10) -> float:
    """The expected ECE of perfectly calibrated probabilities `p` on this many rows, from
    sampling noise alone (per bin, the expected |observed - predicted| count of a sum of
    Bernoulli draws, by the normal approximation). A measured ECE near it (above or below)
    says the predictions are as well calibrated as this sample can tell."""
    p = np.asarray(p, dtype=np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    variance = np.bincount(which, p * (1 - p), minlength=bins)
    return float(np.sqrt(2 * variance / np.pi).sum() / max(len(p), 1))


def calibrate_heads(
    primary_logit: np.ndarray, conditional_logits: list[np.ndarray | None], y: np.ndarray,
    primary: int, names: list[str],
) -> tuple[ResponseMaps, dict[str, Any]]:
    """Platt maps of the response heads from their logits on validation rows: the primary
    head's (N,), and each other binary head's (N,) given the row's logged primary value (None
    for the primary and continuous signals); `y` is (N, S). Returns the maps (the `response`
    of a `Calibration`) and, per binary head, the maps with the validation ECE before and
    after (keyed by signal name)."""
    identity = (1.0, 0.0)
    value = y[:, primary] > 0.5
    maps: list[tuple[tuple[float, float], tuple[float, float]]] = []
    report: dict[str, Any] = {}
    for s, logit in enumerate(conditional_logits):
        if s == primary:
            one = fit_platt(primary_logit, y[:, s])
            maps.append((one, one))
            before, after = primary_logit, one[0] * primary_logit + one[1]
            report[names[s]] = {"scale": one[0], "shift": one[1]}
        elif logit is None:
            maps.append((identity, identity))
            continue
        else:
            pair = (fit_platt(logit[~value], y[~value, s]), fit_platt(logit[value], y[value, s]))
            maps.append(pair)
            scale = np.where(value, pair[1][0], pair[0][0])
            shift = np.where(value, pair[1][1], pair[0][1])
            before, after = logit, scale * logit + shift
            report[names[s]] = {"scale": [pair[0][0], pair[1][0]],
                              "shift": [pair[0][1], pair[1][1]]}
        report[names[s]] |= {
            "val_ece_before": expected_calibration_error(y[:, s], sigmoid(before)),
            "val_ece_after": expected_calibration_error(y[:, s], sigmoid(after))}
    return tuple(maps), report


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function (float64, no overflow)."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))
