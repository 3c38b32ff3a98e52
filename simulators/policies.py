"""Behaviour policies that act in the synthetic world with its true model (for logging)."""

from __future__ import annotations

import difflib
from typing import Protocol

import numpy as np

from offline_data.shared.errors import InputError
from simulators.synthetic import SyntheticWorld, WorldState


class BehaviourPolicy(Protocol):
    """Chooses a slate of distinct items for every user in a batch, and says how likely
    the slate it chose was (what off-policy evaluation divides by)."""

    name: str

    def __call__(
        self, world: SyntheticWorld, state: WorldState, slate_size: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Item ids of shape (batch, slate_size), distinct within each row."""
        ...

    def propensity(self, world: SyntheticWorld, state: WorldState, slates: np.ndarray
                   ) -> np.ndarray:
        """(batch,) probability that the policy chooses exactly these ordered slates in
        `state` (1 or 0 for a deterministic policy)."""
        ...


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores per row, best first."""
    if k >= scores.shape[1]:
        return np.argsort(-scores, axis=1)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def _gumbel(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return -np.log(-np.log(rng.random(shape) + 1e-300) + 1e-300)


def uniform_slate_probability(n_items: int, slate_size: int) -> float:
    """Probability of one ordered slate of distinct items drawn uniformly at random."""
    return float(np.prod(1.0 / (n_items - np.arange(slate_size, dtype=np.float64))))


def plackett_luce_probability(logits: np.ndarray, slates: np.ndarray) -> np.ndarray:
    """(batch,) probability of ordered slates drawn one item after another without
    replacement with probability softmax(logits) over the items left (what Gumbel top-k
    sampling draws). `logits` is (n_items,) or (batch, n_items)."""
    logits = np.broadcast_to(logits, (len(slates), logits.shape[-1]))
    shifted = logits - logits.max(axis=1, keepdims=True)
    weight = np.exp(shifted)
    left = weight.sum(axis=1)
    log_p = np.zeros(len(slates))
    rows = np.arange(len(slates))
    for j in range(slates.shape[1]):
        chosen = weight[rows, slates[:, j]]
        log_p += np.log(chosen) - np.log(left)
        left = left - chosen
    return np.exp(log_p)


def _same_slates(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (np.asarray(a) == np.asarray(b)).all(axis=1)


class RandomPolicy:
    """Uniformly random distinct items."""

    name = "random"

    def __call__(self, world, state, slate_size, rng):
        return top_k(rng.random((len(state), world.n_items)), slate_size)

    def propensity(self, world, state, slates):
        return np.full(len(slates), uniform_slate_probability(world.n_items, slates.shape[1]))


class PopularityPolicy:
    """Samples items with probability proportional to exp(popularity / temperature)."""

    name = "popularity"

    def __init__(self, temperature: float = 0.5) -> None:
        self.temperature = temperature

    def __call__(self, world, state, slate_size, rng):
        logits = world.item_popularity[None, :] / self.temperature
        return top_k(logits + _gumbel(rng, (len(state), world.n_items)), slate_size)

    def propensity(self, world, state, slates):
        return plackett_luce_probability(world.item_popularity / self.temperature, slates)


class SoftmaxPolicy:
    """Samples items with probability proportional to exp(true click probability /
    temperature): mostly good items, yet every item has a chance (a stochastic behaviour
    policy whose logs suit off-policy evaluation)."""

    name = "softmax"

    def __init__(self, temperature: float = 0.05) -> None:
        if not temperature > 0:
            raise InputError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def _logits(self, world, state):
        return world.click_prob(state, np.arange(world.n_items)) / self.temperature

    def __call__(self, world, state, slate_size, rng):
        logits = self._logits(world, state)
        return top_k(logits + _gumbel(rng, logits.shape), slate_size)

    def propensity(self, world, state, slates):
        return plackett_luce_probability(self._logits(world, state), slates)


class EpsilonGreedyPolicy:
    """With probability 1 - epsilon the items with the highest true click probability,
    otherwise random items (per user and step)."""

    name = "epsilon_greedy"

    def __init__(self, epsilon: float = 0.1) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise InputError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon = epsilon

    def __call__(self, world, state, slate_size, rng):
        n = len(state)
        greedy = top_k(world.click_prob(state, np.arange(world.n_items)), slate_size)
        explore = rng.random(n) < self.epsilon
        if explore.any():
            greedy[explore] = top_k(rng.random((int(explore.sum()), world.n_items)), slate_size)
        return greedy

    def propensity(self, world, state, slates):
        greedy = top_k(world.click_prob(state, np.arange(world.n_items)), slates.shape[1])
        uniform = uniform_slate_probability(world.n_items, slates.shape[1])
        return ((1.0 - self.epsilon) * _same_slates(slates, greedy) + self.epsilon * uniform)


class ClickGreedyPolicy(EpsilonGreedyPolicy):
    """The myopic oracle: always the items with the highest true click probability."""

    name = "click_greedy"

    def __init__(self) -> None:
        super().__init__(epsilon=0.0)


class DiversityAwarePolicy:
    """Ranks by expected satisfaction (click x watch/like value), discounted for topics
    the user is already bored of: a long-term-minded oracle."""

    name = "diversity_aware"

    def __init__(self, diversity: float = 1.0) -> None:
        self.diversity = diversity

    def __call__(self, world, state, slate_size, rng):
        return top_k(self._scores(world, state), slate_size)

    def _scores(self, world, state):
        value = world.expected_satisfaction(state, np.arange(world.n_items))
        return value * np.exp(-self.diversity * state.boredom[:, world.item_topic])

    def propensity(self, world, state, slates):
        return _same_slates(slates, top_k(self._scores(world, state),
                                          slates.shape[1])).astype(np.float64)


class UserMixturePolicy:
    """A log written by several recommenders at once, as in an A/B test: each user is
    served by one of `policies` throughout, drawn from the user id with the given
    `shares` (equal by default). By default the click-greedy oracle and the
    diversity-aware policy, whose users trade clicks against retention (see
    `benchmarks/world_conflict.py`). Propensities are the serving policy's."""

    name = "mixture"

    def __init__(self, policies: str | list[str] | tuple[str, ...] = (
            "click_greedy", "diversity_aware"), shares: list[float] | None = None) -> None:
        names = [p.strip() for p in policies.split(",")] if isinstance(policies, str) \
            else list(policies)
        unknown = [n for n in names if n not in POLICIES or n == self.name]
        if len(names) < 2 or unknown:
            raise InputError(f"mixture policies must name 2 or more of "
                             f"{', '.join(n for n in POLICIES if n != self.name)}; got "
                             f"{names}")
        weights = np.ones(len(names)) if shares is None else np.asarray(shares, float)
        if weights.shape != (len(names),) or not np.all(weights > 0):
            raise InputError(f"mixture shares must be {len(names)} positive numbers, one per "
                             f"policy; got {shares}")
        self.names = names
        self.members = [POLICIES[n]() for n in names]
        self.bounds = np.cumsum(weights / weights.sum())[:-1]

    def group(self, user_ids: np.ndarray) -> np.ndarray:
        """(B,) index of the policy serving each user (a fixed hash of the user id)."""
        hashed = (np.asarray(user_ids, np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)
        return np.searchsorted(self.bounds, hashed / 2.0**32, side="right")

    def __call__(self, world, state, slate_size, rng):
        group = self.group(state.user_ids)
        slates = np.empty((len(state), slate_size), dtype=np.int64)
        for g, policy in enumerate(self.members):
            rows = np.flatnonzero(group == g)
            if len(rows):
                slates[rows] = policy(world, state.take(rows), slate_size, rng)
        return slates

    def propensity(self, world, state, slates):
        group = self.group(state.user_ids)
        out = np.empty(len(slates), dtype=np.float64)
        for g, policy in enumerate(self.members):
            rows = np.flatnonzero(group == g)
            if len(rows):
                out[rows] = policy.propensity(world, state.take(rows), slates[rows])
        return out


POLICIES: dict[str, type] = {
    cls.name: cls
    for cls in (RandomPolicy, PopularityPolicy, SoftmaxPolicy, EpsilonGreedyPolicy,
                ClickGreedyPolicy, DiversityAwarePolicy, UserMixturePolicy)
}


class ExploringPolicy:
    """Another behaviour policy mixed with uniform exploration: for each user and step,
    with probability `explore` a uniformly random slate instead of the policy's. Gives a
    deterministic policy (diversity_aware, click_greedy) the coverage off-policy learning
    and evaluation need; its propensities are the mixture's."""

    def __init__(self, inner: BehaviourPolicy, explore: float) -> None:
        if not 0.0 <= float(explore) <= 1.0:
            raise InputError(f"explore must be a probability in [0, 1], got {explore!r}")
        self.inner, self.explore = inner, float(explore)
        self.name = inner.name

    def __call__(self, world, state, slate_size, rng):
        chosen = np.asarray(self.inner(world, state, slate_size, rng))
        explore = rng.random(len(chosen)) < self.explore
        if explore.any():
            keys = rng.random((int(explore.sum()), world.n_items))
            chosen[explore] = np.argsort(-keys, axis=1)[:, :slate_size]
        return chosen

    def propensity(self, world, state, slates):
        uniform = uniform_slate_probability(world.n_items, slates.shape[1])
        return ((1.0 - self.explore) * self.inner.propensity(world, state, slates)
                + self.explore * uniform)


def make_policy(policy: str | BehaviourPolicy, explore: float = 0.0,
                **policy_kwargs: object) -> BehaviourPolicy:
    """A policy object from a name ('random', 'popularity', 'epsilon_greedy', ...) and its
    arguments, mixed with `explore` uniform exploration when that is above 0."""
    if isinstance(policy, str):
        if policy not in POLICIES:
            close = difflib.get_close_matches(policy, POLICIES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(
                f"unknown behaviour policy {policy!r}{hint} Known: {', '.join(POLICIES)}"
            )
        try:
            policy = POLICIES[policy](**policy_kwargs)
        except TypeError as exc:
            raise InputError(f"bad arguments {policy_kwargs} for behaviour policy "
                             f"{policy!r} ({exc})") from None
    elif policy_kwargs:
        raise InputError("policy arguments go with a policy name, not a policy object")
    assert not isinstance(policy, str)
    return ExploringPolicy(policy, explore) if explore > 0 else policy
