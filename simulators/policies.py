"""Behaviour policies that act in the synthetic world with its true model (for logging)."""

from __future__ import annotations

import difflib
from typing import Protocol

import numpy as np

from offline_data.shared.errors import InputError
from simulators.synthetic import SyntheticWorld, WorldState


class BehaviourPolicy(Protocol):
    """Chooses a slate of distinct items for every user in a batch."""

    name: str

    def __call__(
        self, world: SyntheticWorld, state: WorldState, slate_size: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Item ids of shape (batch, slate_size), distinct within each row."""
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


class RandomPolicy:
    """Uniformly random distinct items."""

    name = "random"

    def __call__(self, world, state, slate_size, rng):
        return top_k(rng.random((len(state), world.n_items)), slate_size)


class PopularityPolicy:
    """Samples items with probability proportional to exp(popularity / temperature)."""

    name = "popularity"

    def __init__(self, temperature: float = 0.5) -> None:
        self.temperature = temperature

    def __call__(self, world, state, slate_size, rng):
        logits = world.item_popularity[None, :] / self.temperature
        return top_k(logits + _gumbel(rng, (len(state), world.n_items)), slate_size)


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
        items = np.arange(world.n_items)
        value = world.expected_satisfaction(state, items)
        boredom = state.boredom[:, world.item_topic]
        return top_k(value * np.exp(-self.diversity * boredom), slate_size)


POLICIES: dict[str, type] = {
    cls.name: cls
    for cls in (RandomPolicy, PopularityPolicy, EpsilonGreedyPolicy, ClickGreedyPolicy,
                DiversityAwarePolicy)
}


def make_policy(policy: str | BehaviourPolicy) -> BehaviourPolicy:
    """A policy object from a name ('random', 'popularity', 'epsilon_greedy', ...)."""
    if not isinstance(policy, str):
        return policy
    if policy not in POLICIES:
        close = difflib.get_close_matches(policy, POLICIES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"unknown behaviour policy {policy!r}{hint} Known: {', '.join(POLICIES)}"
        )
    return POLICIES[policy]()
