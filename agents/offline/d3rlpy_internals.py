"""Everything recgym reads inside d3rlpy beyond its documented use.

Training goes through d3rlpy's public surface: a `*Config(...).create(device)`,
`create_impl(observation_shape, action_size)`, `update(TransitionMiniBatch)` for one
gradient step, and `grad_step` / `set_grad_step` for the step counter that schedules
target-network copies. recgym does not call `fit` (it would write logs and sample batches
from numpy's global generator) nor `save_model` / `load_model` (they `torch.load` without
`weights_only`): the agents save the state dicts themselves.

Four things need more than that, and they live here:

- the networks and optimisers, read from `algo.impl.modules` (a dataclass of the
  algorithm's modules; its checkpointer names them) to save and load their state dicts;
- the score of every item, for masking recently seen items: the Q-networks
  (`impl.q_function`), DiscreteSAC's and IQL's policies (`impl.policy`) and the
  imitators of DiscreteBC and DiscreteBCQ (`impl.modules.imitator`); `bcq_scores`
  restates DiscreteBCQ's constraint from `DiscreteBCQImpl.inner_predict_best_action`;
- IQL's policy mean (`squashed_mu` of `impl.policy`), which `predict` returns in d3rlpy;
- the discrete decision transformer (`DiscreteDecisionTransformer`): its network called
  on a batch of contexts at once (d3rlpy's `predict` takes one sequence), and the token
  count of `DiscreteDecisionTransformerImpl` that schedules its learning rate (d3rlpy's
  checkpoints leave it out; recgym saves it with the training state).

These are d3rlpy 2.8's (`D3RLPY_SERIES`): pyproject pins `d3rlpy>=2.8,<2.9`, and
tests/test_offline_agents.py checks the pin, that the scores here pick d3rlpy's own
`predict` action when nothing is masked, and the save / load / resume round trips
(tests/test_dt_baselines.py: that the batched transformer logits are d3rlpy's `predict`
of each context).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

D3RLPY_SERIES = "2.8"
"""The d3rlpy minor version whose internals this module reads."""


def parts(algo: Any) -> tuple[dict[str, nn.Module], dict[str, Any]]:
    """(networks, optimiser wrappers) of a built d3rlpy algorithm, by name."""
    impl = algo.impl
    named = impl.modules.create_checkpointer(impl.device).modules
    modules = {k: v for k, v in named.items() if isinstance(v, nn.Module)}
    optimizers = {k: v for k, v in named.items() if not isinstance(v, nn.Module)}
    return modules, optimizers


def q_values(algo: Any, x: torch.Tensor) -> torch.Tensor:
    """(B, n_actions) expected Q of every action, the mean over the ensemble (what d3rlpy's
    DQN-family `predict` takes the argmax of)."""
    values = [q(x).q_value for q in algo.impl.q_function]
    return torch.stack(values).mean(dim=0)


def imitator_logits(algo: Any, x: torch.Tensor) -> torch.Tensor:
    """(B, n_actions) logits of the behaviour-cloning imitator (DiscreteBC, DiscreteBCQ)."""
    return algo.impl.modules.imitator(x).logits


def policy_logits(algo: Any, x: torch.Tensor) -> torch.Tensor:
    """(B, n_actions) logits of a categorical actor (DiscreteSAC)."""
    return algo.impl.policy(x).logits


def bcq_scores(algo: Any, x: torch.Tensor, action_flexibility: float) -> torch.Tensor:
    """(B, n_actions) scores whose argmax is DiscreteBCQ's action: the Q of the items the
    imitator finds likely enough (log-ratio to the likeliest above log(flexibility)), the
    other items ranked below all of those, by Q."""
    log_probs = torch.log_softmax(imitator_logits(algo, x), dim=1)
    ratio = log_probs - log_probs.max(dim=1, keepdim=True).values
    allowed = ratio > math.log(action_flexibility)
    q = q_values(algo, x)
    spread = q.max(dim=1, keepdim=True).values - q.min(dim=1, keepdim=True).values + 1.0
    return torch.where(allowed, q, q - spread)


def policy_vector(algo: Any, x: torch.Tensor) -> torch.Tensor:
    """(B, action_dim) deterministic action of a Gaussian policy (IQL): tanh of its
    mean, what d3rlpy's `predict` returns."""
    return algo.impl.policy(x).squashed_mu


def transformer_logits(algo: Any, observations: torch.Tensor, actions: torch.Tensor,
                       returns_to_go: torch.Tensor, timesteps: torch.Tensor,
                       masks: torch.Tensor) -> torch.Tensor:
    """(B, n_actions) logits of the next action of a discrete decision transformer for B
    contexts of length T, padded at the front: observations (B, T, obs_dim), actions
    (B, T, 1) (the last one is not read), returns-to-go (B, T, 1), timesteps (B, T) long
    and masks (B, T) (1 = filled), as `DiscreteDecisionTransformerImpl.inner_predict`
    calls it for one sequence. Call it with the modules in eval mode (d3rlpy's network
    then drops the last action token)."""
    _, logits = algo.impl.modules.transformer(observations, actions, returns_to_go,
                                              timesteps, 1 - masks)
    return logits[:, -1]


def transformer_tokens(algo: Any) -> int:
    """Tokens a discrete decision transformer has trained on (its learning-rate
    schedule: linear warm-up, then cosine decay)."""
    return int(algo.impl._tokens)


def set_transformer_tokens(algo: Any, tokens: int) -> None:
    """Restore `transformer_tokens` (resuming training)."""
    algo.impl._tokens = int(tokens)
