"""Target policies as off-policy evaluation sees them: a probability for every item, given
a batch of observations."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from offline_data.shared.errors import InputError


@runtime_checkable
class StochasticPolicy(Protocol):
    """A policy that can say how likely each item is as its next action."""

    def action_probabilities(self, observations: dict[str, np.ndarray]) -> np.ndarray:
        """(B, n_items) probabilities of each item for a batch of observations (rows sum
        to 1)."""
        ...


@runtime_checkable
class ActingPolicy(Protocol):
    """Anything that picks actions for a batch of observations, as every recgym agent
    does (`Agent.predict`)."""

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """Action(s) for one observation or a batch."""
        ...


class GreedyPolicy:
    """A deterministic policy (e.g. any agent's `predict`) as probabilities: its action
    with probability 1 - epsilon, every item with epsilon / n_items (epsilon 0: one-hot)."""

    def __init__(self, policy: ActingPolicy, n_items: int, epsilon: float = 0.0) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise InputError(f"epsilon must be in [0, 1], got {epsilon}")
        self.policy, self.n_items, self.epsilon = policy, int(n_items), float(epsilon)

    def action_probabilities(self, observations: dict[str, np.ndarray]) -> np.ndarray:
        """One-hot rows on the policy's actions, smoothed by epsilon."""
        actions = np.asarray(self.policy.predict(observations, deterministic=True))
        if actions.ndim != 1:
            raise InputError("off-policy evaluation scores one item per step; the policy "
                             f"returned actions of shape {actions.shape}")
        probs = np.full((len(actions), self.n_items), self.epsilon / self.n_items)
        probs[np.arange(len(actions)), actions] += 1.0 - self.epsilon
        return probs


def as_stochastic(policy: StochasticPolicy | ActingPolicy, n_items: int,
                  epsilon: float = 0.0) -> StochasticPolicy:
    """`policy` itself when it gives probabilities (and `epsilon` is 0), else its greedy
    actions as probabilities (`GreedyPolicy`)."""
    if isinstance(policy, StochasticPolicy) and epsilon == 0.0:
        return policy
    if isinstance(policy, ActingPolicy):
        return GreedyPolicy(policy, n_items, epsilon)
    raise InputError(f"{type(policy).__name__} neither gives action probabilities nor "
                     "predicts actions; pass an agent or a policy with "
                     "action_probabilities(observations)")
