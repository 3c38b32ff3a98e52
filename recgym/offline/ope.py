"""Off-policy evaluation: the value of a target policy estimated from logged episodes,
with bootstrap 95% intervals.

>>> from recgym.offline.ope import estimate
>>> results = estimate(dataset, agent, ("pdis", "wpdis", "dr", "fqe"))  # doctest: +SKIP
>>> results["dr"].value, results["dr"].ci95  # doctest: +SKIP

Estimators (`recgym.offline.estimators`): one-step `ips` / `snips` (immediate rewards
only), per-decision `pdis` / `wpdis`, doubly robust `dr` / `wdr` and `fqe`, the last three
on a Q function fitted by `recgym.offline.fqe`. The value is the expected discounted sum
of the dataset's rewards over an episode as the dataset cuts episodes (terminal or
timeout), i.e. the environment's episode return when the dataset was built with the
environment's settings from fresh users (`episodes_from_log(..., episodes_per_user=1)`).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from offline_data.shared.errors import InputError
from recgym.offline.dataset import TrajectoryDataset
from recgym.offline.estimators import (
    ESTIMATORS,
    MODEL_BASED,
    Steps,
    effective_sample_size,
    make_steps,
)
from recgym.offline.fqe import FQEConfig, fit_fqe
from recgym.offline.policy import ActingPolicy, StochasticPolicy
from recgym.offline.targets import CHUNK, TargetProbabilities

DEFAULT_ESTIMATORS = ("pdis", "wpdis", "dr", "fqe")


@dataclass(frozen=True)
class Estimate:
    """One estimator's estimate of a policy's value."""

    estimator: str
    value: float
    ci95: tuple[float, float]
    """Percentile bootstrap interval over resampled episodes (for the model-based
    estimators the Q model is fitted once: the interval leaves out its fitting error)."""
    std_error: float
    """Standard deviation of the bootstrap replicates."""
    n_episodes: int
    diagnostics: dict[str, float] = field(default_factory=dict)
    """`ess`: effective number of episodes under the cumulative weights; `max_weight`:
    the largest final cumulative weight; `mean_step_ratio`: mean one-step pi/mu (1 in
    expectation); `fqe_loss`: last TD loss of the fitted Q."""

    def relative_error(self, truth: float) -> float:
        """|value - truth| / |truth|."""
        return abs(self.value - truth) / abs(truth)


def estimate(dataset: TrajectoryDataset, policy: StochasticPolicy | ActingPolicy,
             estimators: Sequence[str] = DEFAULT_ESTIMATORS, *, gamma: float = 1.0,
             n_bootstrap: int = 200, seed: int = 0, reward: str | None = None,
             fqe: FQEConfig | None = None, chunk: int = CHUNK) -> dict[str, Estimate]:
    """Estimate the value of `policy` (a `StochasticPolicy`, or anything with `predict`,
    taken as greedy) from `dataset`, which must hold behaviour propensities.

    `estimators`: names among `ips`, `snips`, `pdis`, `wpdis`, `dr`, `wdr`, `fqe`.
    `gamma` in [0, 1] discounts by the step index in the episode. `reward` names one
    component of the reward vector to evaluate instead of the scalar reward.
    `n_bootstrap` episode resamples (seeded by `seed`) give each 95% interval. `fqe`
    configures the Q model of `dr`, `wdr` and `fqe`; the target's probabilities are
    computed `chunk` steps at a time.
    """
    names = _checked_names(estimators)
    rewards = _checked_inputs(dataset, gamma, n_bootstrap, reward)
    assert dataset.propensities is not None
    probabilities = TargetProbabilities(policy, dataset, chunk=chunk)
    pi = probabilities.logged()
    q = v = None
    diagnostics: dict[str, float] = {}
    if any(name in MODEL_BASED for name in names):
        model = fit_fqe(dataset, rewards, probabilities, gamma, fqe)
        q, v = model.evaluate(dataset, probabilities)
        diagnostics["fqe_loss"] = model.losses[-1] if model.losses else float("nan")
    steps = make_steps(dataset.episode, rewards, pi, dataset.propensities, gamma, q, v)
    final = steps.rho[np.cumsum(steps.length) - 1]
    diagnostics.update(ess=effective_sample_size(steps), max_weight=float(final.max()),
                       mean_step_ratio=float(steps.ratio.mean()))
    draws = _bootstrap_counts(steps.n_episodes, n_bootstrap, seed)
    return {name: _one(name, steps, draws, diagnostics) for name in names}


def _one(name: str, steps: Steps, draws: np.ndarray, diagnostics: dict[str, float]
         ) -> Estimate:
    function = ESTIMATORS[name]
    value = function(steps, np.ones(steps.n_episodes))
    replicates = np.array([function(steps, counts) for counts in draws])
    if len(replicates) > 1:
        lo, hi = np.percentile(replicates, [2.5, 97.5])
        spread = float(replicates.std(ddof=1))
    else:
        lo = hi = spread = float("nan")
    keep = {k: v for k, v in diagnostics.items() if name in MODEL_BASED or k != "fqe_loss"}
    return Estimate(name, float(value), (float(lo), float(hi)), spread, steps.n_episodes,
                    keep)


def _bootstrap_counts(n_episodes: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """(n_bootstrap, E) how often each episode is drawn in each resample."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_episodes, np.full(n_episodes, 1.0 / n_episodes),
                           size=n_bootstrap).astype(np.float64)


def _checked_names(estimators: Sequence[str]) -> list[str]:
    if isinstance(estimators, str):
        estimators = (estimators,)
    names = [str(name).lower() for name in estimators]
    for name in names:
        if name not in ESTIMATORS:
            close = difflib.get_close_matches(name, list(ESTIMATORS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"unknown estimator {name!r}{hint}; known: "
                             f"{', '.join(ESTIMATORS)}")
    if not names:
        raise InputError(f"no estimator given; pick from {', '.join(ESTIMATORS)}")
    return list(dict.fromkeys(names))


def _checked_inputs(dataset: TrajectoryDataset, gamma: float, n_bootstrap: int,
                    reward: str | None) -> np.ndarray:
    """The rewards to evaluate, after checking the dataset and the settings."""
    if not isinstance(gamma, (int, float, np.floating)) or not 0.0 <= float(gamma) <= 1.0:
        raise InputError(f"gamma must be a discount in [0, 1], got {gamma!r}; use 1 for the "
                         "environment's undiscounted episode return")
    if not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 0:
        raise InputError(f"n_bootstrap must be a non-negative integer, got {n_bootstrap!r}")
    if dataset.propensities is None:
        raise InputError(f"{dataset.source}: the dataset has no behaviour propensities, which "
                         "off-policy evaluation needs; fit a behaviour model to fill them "
                         "(dataset.with_propensities) or log a 'propensity' column")
    if not np.all(dataset.propensities > 0):
        raise InputError(f"{dataset.source}: some behaviour propensities are 0 (a logged "
                         "action the behaviour could not take); fix or refit them")
    if dataset.actions.ndim != 1:
        raise InputError("off-policy evaluation scores one item per step: build the dataset "
                         "with slate_size=1")
    if reward is None:
        return dataset.rewards.astype(np.float64)
    if reward not in dataset.reward_names:
        raise InputError(f"reward {reward!r} is not in the dataset; it has "
                         f"{', '.join(dataset.reward_names)}")
    return dataset.reward_vectors[:, dataset.reward_names.index(reward)].astype(np.float64)
