"""Batched Monte-Carlo rollouts on copies of an environment's hidden state, for the
planning oracle (`agents.online.baselines.planner`).

A `Futures` batch holds N simulated copies of some users (N = users x candidates x
rollouts): their simulator states, episode counters, the greedy policy that continues
after the first step and their own random streams. Two estimators score a first slate:

- `sampled_returns`: the environment's own rules step by step (`RecCore.transition`:
  sampled feedback, leaving, return gaps, churn, the next session), summing the scalar
  reward the environment would pay;
- `expected_returns`: the feedback is still sampled (it moves the state), but each step
  counts its expected reward (`RecCore.expected_rewards`), and leaving is not sampled:
  the rollout follows the session, weighting each step by the chance the user is still
  there and each session end by the chance it happens now. Far less noisy for the same
  work; it needs a simulator that predicts responses.

Both count `session_value` for each later session the episode still offers when the
simulation stops (a churned user forfeits them; with `sampled_returns`, a rollout that
ends sessions early has fewer left), so a future that loses sessions is charged what
they would have paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from offline_data.shared.units import HOUR_S
from recgym.core import RecCore
from recgym.rewards import retention_reward
from recgym.rng import RowRNG
from recgym.wrappers.continuous import top_k_by_score

GAP_DRAWS = 4
"""Return gaps sampled per simulated step by `expected_returns` (churn is rare and costs
the later sessions: one draw would make the estimate noisy)."""


@dataclass
class Futures:
    """N simulated copies of some users, stepped together."""

    core: RecCore
    """The engine whose simulator, rules and reward weights the rollouts use."""
    state: Any
    """(N,) simulator states (copies: the engine's own are never changed)."""
    session: np.ndarray
    """(N,) sessions ended so far in the episode."""
    steps: np.ndarray
    """(N,) steps taken so far in the episode."""
    rng: RowRNG
    """The rollouts' own random streams."""
    by_reward: bool
    """The greedy policy after the first step ranks items by their expected reward
    (`RecCore.expected_rewards`); False: by the primary score (`RecCore.item_scores`)."""
    pool: np.ndarray | None
    """(N, P) items the greedy policy picks from; None: draw candidate lists as the
    environment's candidate mode does."""
    history: np.ndarray | None
    """(N, L) the most recent items shown, newest first, never recommended again while
    there; None: no exclusion."""

    def greedy(self) -> tuple[np.ndarray, np.ndarray]:
        """(N, k) greedy slates for the current states, and their items' (N, k) scores
        (-inf for recently shown items, when nothing else was left)."""
        items = (self.pool if self.pool is not None
                 else self.core.candidate_lists(self.rng, len(self.session)))
        scores = (self.core.expected_rewards(self.state, items) if self.by_reward
                  else self.core.item_scores(self.state, items))
        if self.history is not None:
            seen = (items[:, :, None] == self.history[:, None, :]).any(axis=2)
            scores = np.where(seen, -np.inf, scores)
        best = top_k_by_score(scores, self.core.config.slate_size)
        return np.take_along_axis(items, best, 1), np.take_along_axis(scores, best, 1)

    def slate_rewards(self, slates: np.ndarray, scores: np.ndarray | None) -> np.ndarray:
        """(N,) the expected reward of the signals of (N, k) slates: their greedy
        `scores` when those are expected rewards, else computed."""
        if scores is None or not self.by_reward or not np.isfinite(scores).all():
            scores = self.core.expected_rewards(self.state, slates)
        return scores.sum(axis=1)

    def shown(self, slates: np.ndarray) -> None:
        """Remember `slates` in the history (when there is one)."""
        if self.history is not None:
            self.history = np.concatenate([slates[:, ::-1], self.history],
                                          axis=1)[:, :self.history.shape[1]]


def sampled_returns(futures: Futures, first: np.ndarray, horizon: int, gamma: float,
                    session_value: float) -> np.ndarray:
    """(N,) discounted sums of the scalar reward the environment pays over `horizon`
    steps, showing `first` (N, k) and then the greedy slates, plus `session_value` per
    session the episode still has when a rollout stops (sessions ended, churn and the
    episode's budgets as the environment applies them)."""
    core = futures.core
    n = len(first)
    value, alive, discount = np.zeros(n), np.ones(n, dtype=bool), 1.0
    slates = first
    for t in range(horizon):
        if t:
            slates = futures.greedy()[0]
        step = core.transition(futures.state, slates, futures.session, futures.steps,
                               futures.rng)
        value += np.where(alive, discount * (step.vector @ core.weights), 0.0)
        alive &= ~(step.churned | step.truncated)
        futures.state, futures.session, futures.steps = step.state, step.session, step.steps
        futures.shown(slates)
        discount *= gamma
        if not alive.any():
            break
    if session_value:
        left = np.maximum(core.config.max_sessions - futures.session, 0)
        value += np.where(alive, discount * session_value * left, 0.0)
    return value


def expected_returns(futures: Futures, first: np.ndarray, horizon: int, gamma: float,
                     session_value: float) -> np.ndarray:
    """(N,) expected discounted return of the current session, showing `first` (N, k)
    and then the greedy slates: per step the expected reward of the slate plus, with the
    chance that the user leaves now, the retention reward of a sampled return gap and
    `session_value` per later session (none after churn); each step weighted by the
    chance the user is still in the session. After `horizon` steps the session is taken
    to go on as at its last step (the greedy slate's expected reward and the last leave
    chance, geometrically, within the episode's step budget)."""
    core, sim, config = futures.core, futures.core.sim, futures.core.config
    n_sig = len(core.signal_names)
    w_depth, w_retention = core.weights[n_sig], core.weights[n_sig + 1]
    n = len(first)
    value, stay, discount = np.zeros(n), np.ones(n), 1.0
    later = np.maximum(config.max_sessions - futures.session - 1, 0)

    def session_end(state: Any, last: np.ndarray) -> np.ndarray:
        """What ending the session now pays, over `GAP_DRAWS` sampled return gaps:
        retention, and the later sessions unless the user churns or the episode's step
        budget is spent."""
        paid = np.zeros(len(last))
        for _ in range(GAP_DRAWS):
            gap_h = np.asarray(sim.return_gap(state, futures.rng), dtype=np.float64) / HOUR_S
            comes_back = (gap_h <= config.churn_after_h) & ~last
            paid += (w_retention * retention_reward(gap_h, config.churn_after_h)
                     + session_value * later * comes_back)
        return paid / GAP_DRAWS

    slates, scores, leave, end = first, None, np.zeros(n), np.zeros(n)
    for t in range(horizon):
        if t:
            slates, scores = futures.greedy()
        reward = w_depth + futures.slate_rewards(slates, scores)
        feedback = sim.respond(futures.state, slates, futures.rng)
        futures.state = sim.step_state(futures.state, slates, feedback)
        futures.shown(slates)
        leave = np.asarray(sim.leave_prob(futures.state, feedback), dtype=np.float64)
        last = futures.steps + t + 1 >= config.max_steps
        end = session_end(futures.state, last)
        value += discount * stay * (reward + leave * end)
        stay = np.where(last, 0.0, stay * (1.0 - leave))
        discount *= gamma
        if not stay.any():
            return value
    # the rest of the session: the last step's leave chance and session end, the greedy
    # slate's expected reward, for at most the steps the episode has left
    reward = w_depth + futures.slate_rewards(*futures.greedy())
    remaining = np.maximum(config.max_steps - futures.steps - horizon, 0)
    q = gamma * (1.0 - leave)
    steps_worth = np.where(q < 1.0, (1.0 - q ** remaining) / np.maximum(1.0 - q, 1e-12),
                           remaining)
    return value + discount * stay * (reward + leave * end) * steps_worth
