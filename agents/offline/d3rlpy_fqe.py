"""d3rlpy's own fitted Q evaluation (`d3rlpy.ope.DiscreteFQE`) of a d3rlpy-based agent: a
cross-check of `recgym.offline.fqe`, which evaluates any policy.

d3rlpy's FQE evaluates the policy of a d3rlpy Q-learning algorithm as d3rlpy runs it:
greedy on its Q over every item. That is the agent's own policy only with
`exclude_seen=False` (recgym agents otherwise never recommend a recently seen item), and
it cannot evaluate BC-style, random, popular or behaviour policies; `recgym.offline.fqe`
can. Both read the observation through the same recgym encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from agents.offline.base import D3rlpyAgent
from agents.offline.data import Transitions
from offline_data.shared.errors import InputError
from recgym.offline import TrajectoryDataset


@dataclass(frozen=True)
class D3rlpyFQEResult:
    """d3rlpy FQE's value of an agent: the mean over episodes of Q(s_0, pi(s_0)), with a
    percentile bootstrap interval over the start states (the Q model is fitted once)."""

    value: float
    ci95: tuple[float, float]
    n_episodes: int


def d3rlpy_fqe(agent: D3rlpyAgent, dataset: TrajectoryDataset, *, n_steps: int = 20_000,
               gamma: float = 1.0, batch_size: int = 256, learning_rate: float = 1e-3,
               target_update: int = 200, n_bootstrap: int = 200, seed: int = 0
               ) -> D3rlpyFQEResult:
    """Fit d3rlpy's `DiscreteFQE` for `agent` on `dataset` (`n_steps` gradient steps, the
    agent's encoder) and estimate its episode value."""
    from d3rlpy.ope import DiscreteFQE, FQEConfig

    if not isinstance(agent, D3rlpyAgent) or agent.name == "iql":
        raise InputError(f"d3rlpy's FQE evaluates d3rlpy's discrete Q-learners (bcq, cql, "
                         f"discrete_sac, double_dqn, bc), not {agent.name!r}; use 'fqe'")
    if dataset.spec != agent.spec:
        raise InputError("the dataset was built with other settings than the agent's "
                         "(make both with the same env settings)")
    config = FQEConfig(encoder_factory=agent.encoder_factory(), gamma=gamma,
                       batch_size=batch_size, learning_rate=learning_rate,
                       target_update_interval=target_update)
    fqe = DiscreteFQE(algo=agent.algo, config=config, device=agent.device)
    data = Transitions.of(dataset, agent.actions_of(dataset))
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
        torch.manual_seed(seed)
        fqe.create_impl((agent.spec.flat_dim,), agent.action_size())
        for step in range(n_steps):  # d3rlpy's own update (fit would also write logs)
            fqe.set_grad_step(step)
            fqe.update(data.sample(rng, batch_size))
    starts, _ = dataset.episode_bounds()
    first = dataset.flat_observations()[starts]
    actions = agent.algo.predict(first)
    values = np.asarray(fqe.predict_value(first, actions), dtype=np.float64)
    draws = rng.integers(0, len(values), size=(n_bootstrap, len(values)))
    replicates = values[draws].mean(axis=1)
    lo, hi = np.percentile(replicates, [2.5, 97.5]) if n_bootstrap > 1 else (np.nan,) * 2
    return D3rlpyFQEResult(float(values.mean()), (float(lo), float(hi)), len(values))
