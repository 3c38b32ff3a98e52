"""The off-policy estimators as plain array maths over a dataset's steps.

Every estimator is a function `(steps, counts) -> value`: `counts` (E,) says how often
each episode is drawn (all ones for the estimate itself, a multinomial draw for each
bootstrap replicate), so one formula serves both. Episodes are padded after their end
with an absorbing state (reward 0, value 0, importance ratio 1), so cumulative weights
stay at their final value: with the behaviour as target every weight is 1 and every
importance-sampling estimator gives the mean logged return.

Notation, per step t of episode i: w = pi(a|s) / mu(a|s) (one step), rho = prod of w up
to and including t, rho_prev the same up to t - 1 (1 at t = 0), q = Q(s, a), v =
E_pi[Q(s, .)], discounted by gamma ** t.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Steps:
    """Per-step arrays of one dataset for the estimators (S steps, E episodes)."""

    episode: np.ndarray
    """(S,) episode index 0..E-1, episodes contiguous."""
    t: np.ndarray
    """(S,) step index within the episode."""
    reward: np.ndarray
    """(S,) reward."""
    gamma: float
    """Discount per step."""
    ratio: np.ndarray
    """(S,) w: pi / mu of the logged action at this step alone."""
    rho: np.ndarray
    """(S,) cumulative ratio up to and including t."""
    rho_prev: np.ndarray
    """(S,) cumulative ratio up to t - 1."""
    length: np.ndarray
    """(E,) steps of each episode."""
    q: np.ndarray | None = None
    """(S,) Q(s_t, a_t) of a fitted model (doubly robust, FQE)."""
    v: np.ndarray | None = None
    """(S,) E_pi[Q(s_t, .)] of a fitted model."""

    @property
    def n_episodes(self) -> int:
        """E."""
        return len(self.length)

    @property
    def discount(self) -> np.ndarray:
        """(S,) gamma ** t."""
        return self.gamma ** self.t

    @property
    def horizon(self) -> int:
        """One more than the longest episode's steps (room for the padded end)."""
        return int(self.length.max()) + 1

    def discounts(self) -> np.ndarray:
        """(horizon,) gamma ** t for every step index."""
        return self.gamma ** np.arange(self.horizon)


def make_steps(episode: np.ndarray, reward: np.ndarray, pi: np.ndarray, mu: np.ndarray,
               gamma: float, q: np.ndarray | None = None, v: np.ndarray | None = None
               ) -> Steps:
    """`Steps` from per-step episode ids (contiguous, 0..E-1), rewards and the target's
    (pi) and behaviour's (mu) probabilities of the logged actions."""
    episode = np.asarray(episode, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, episode[1:] != episode[:-1]])
    length = np.diff(np.r_[starts, len(episode)])
    t = np.arange(len(episode)) - np.repeat(starts, length)
    ratio = np.asarray(pi, dtype=np.float64) / np.asarray(mu, dtype=np.float64)
    # cumulative products per episode, in logs where possible (zeros stay zeros)
    positive = ratio > 0
    cum = np.cumsum(np.log(ratio, out=np.zeros_like(ratio), where=positive))
    offset = np.repeat(np.r_[0.0, cum[starts[1:] - 1]], length)
    with np.errstate(over="ignore"):
        rho = np.exp(cum - offset)
    # a zero ratio makes the cumulative weights of its episode zero from there on
    last_zero = np.maximum.accumulate(np.where(positive, -1, np.arange(len(ratio))))
    rho = np.where(last_zero >= np.repeat(starts, length), 0.0, rho)
    rho_prev = np.where(t == 0, 1.0, np.r_[1.0, rho[:-1]])
    return Steps(episode=episode, t=t, reward=np.asarray(reward, dtype=np.float64),
                 gamma=float(gamma), ratio=ratio, rho=rho, rho_prev=rho_prev,
                 length=length, q=q, v=v)


Estimator = Callable[[Steps, np.ndarray], float]


def ips(steps: Steps, counts: np.ndarray) -> float:
    """One-step IPS: each step's reward weighted by its own ratio pi/mu (no product over
    earlier steps): the immediate rewards the target would collect in the behaviour's
    states, summed per episode. Ignores how the target changes later states."""
    c = counts[steps.episode]
    return float(np.sum(c * steps.discount * steps.ratio * steps.reward) / counts.sum())


def snips(steps: Steps, counts: np.ndarray) -> float:
    """Self-normalised one-step IPS: as `ips` with the step ratios divided by their mean."""
    c = counts[steps.episode]
    mean_ratio = np.sum(c * steps.ratio) / np.sum(c)
    if mean_ratio <= 0:
        return 0.0
    return ips(steps, counts) / float(mean_ratio)


def pdis(steps: Steps, counts: np.ndarray) -> float:
    """Per-decision importance sampling (Precup et al., 2000): each reward weighted by
    the cumulative ratio of the actions up to it."""
    c = counts[steps.episode]
    return float(np.sum(c * steps.discount * steps.rho * steps.reward) / counts.sum())


def _normalisers(steps: Steps, counts: np.ndarray) -> np.ndarray:
    """(H,) sum over episodes of the cumulative weight at each step index t, padded
    episodes carrying their final weight."""
    c = counts[steps.episode]
    h = steps.horizon
    alive = np.bincount(steps.t, weights=c * steps.rho, minlength=h)
    last = np.cumsum(steps.length) - 1
    ended = np.bincount(steps.length, weights=counts * steps.rho[last], minlength=h + 1)[:h]
    return alive + np.cumsum(ended)


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros_like(numerator),
                     where=denominator > 0)


def wpdis(steps: Steps, counts: np.ndarray) -> float:
    """Weighted per-decision IS: at every step index t the cumulative weights are
    normalised to sum to 1 over episodes (consistent, biased, far less variance)."""
    c = counts[steps.episode]
    h = steps.horizon
    numerator = np.bincount(steps.t, weights=c * steps.rho * steps.reward, minlength=h)
    return float(np.sum(steps.discounts() * _divide(numerator, _normalisers(steps, counts))))


def _model(steps: Steps) -> tuple[np.ndarray, np.ndarray]:
    if steps.q is None or steps.v is None:
        raise ValueError("this estimator needs a fitted Q (steps.q and steps.v)")
    return steps.q, steps.v


def dr(steps: Steps, counts: np.ndarray) -> float:
    """Per-decision doubly robust (Jiang & Li, 2016; Thomas & Brunskill, 2016): the
    model's value corrected by the importance-weighted errors of its Q, step by step."""
    q, v = _model(steps)
    c = counts[steps.episode]
    terms = steps.rho * (steps.reward - q) + steps.rho_prev * v
    return float(np.sum(c * steps.discount * terms) / counts.sum())


def wdr(steps: Steps, counts: np.ndarray) -> float:
    """Weighted doubly robust (Thomas & Brunskill, 2016): `dr` with the cumulative
    weights normalised per step index as in `wpdis`."""
    q, v = _model(steps)
    c = counts[steps.episode]
    h = steps.horizon
    norm = _normalisers(steps, counts)
    norm_prev = np.r_[counts.sum(), norm[:-1]]
    corrected = np.bincount(steps.t, weights=c * steps.rho * (steps.reward - q), minlength=h)
    baseline = np.bincount(steps.t, weights=c * steps.rho_prev * v, minlength=h)
    return float(np.sum(steps.discounts() * (_divide(corrected, norm)
                                             + _divide(baseline, norm_prev))))


def fqe(steps: Steps, counts: np.ndarray) -> float:
    """Fitted Q evaluation: the mean of the model's E_pi[Q(s_0, .)] over start states."""
    _, v = _model(steps)
    start = v[steps.t == 0]
    return float(np.sum(counts * start) / counts.sum())


ESTIMATORS: dict[str, Estimator] = {
    "ips": ips, "snips": snips, "pdis": pdis, "wpdis": wpdis, "dr": dr, "wdr": wdr,
    "fqe": fqe,
}
"""Estimator name -> function."""
MODEL_BASED = ("dr", "wdr", "fqe")
"""Estimators that need a fitted Q."""


def effective_sample_size(steps: Steps) -> float:
    """Kish's effective number of episodes under the final cumulative weights: E when
    every weight is equal, near 1 when one episode carries all the weight."""
    final = steps.rho[np.cumsum(steps.length) - 1]
    total = final.sum()
    return float(total ** 2 / np.sum(final ** 2)) if total > 0 else 0.0
