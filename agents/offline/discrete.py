"""d3rlpy's discrete-action algorithms as recgym agents: the action is an item id, the
networks score every item of the catalogue in one output layer."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from d3rlpy import algos as d3

from agents.offline import d3rlpy_internals as internals
from agents.offline.base import D3rlpyAgent
from agents.offline.config import (
    BCConfig,
    BCQConfig,
    CQLConfig,
    DiscreteSACConfig,
    DoubleDQNConfig,
    QConfig,
)


class BCAgent(D3rlpyAgent):
    """Behaviour cloning (d3rlpy `DiscreteBC`): a softmax over items fitted to the logged
    items by cross-entropy, on every logged step. `predict` takes the likeliest unseen
    item (or samples, with `deterministic=False`); `action_probabilities` is the softmax
    over the unseen items."""

    name: ClassVar[str] = "bc"
    config_class: ClassVar[type] = BCConfig
    config: BCConfig
    algo_class = d3.DiscreteBCConfig
    stochastic: ClassVar[bool] = True
    all_steps: ClassVar[bool] = True

    def algo_settings(self) -> dict[str, Any]:
        c = self.config
        return {"batch_size": c.batch_size, "learning_rate": c.lr, "beta": c.beta,
                "encoder_factory": self.encoder_factory()}

    def network_scores(self, x: torch.Tensor) -> torch.Tensor:
        return internals.imitator_logits(self.algo, x)


class _QAgent(D3rlpyAgent):
    """A discrete Q-learner: greedy on the ensemble's mean Q over unseen items."""

    config: QConfig

    def algo_settings(self) -> dict[str, Any]:
        c = self.config
        return {"batch_size": c.batch_size, "learning_rate": c.lr, "gamma": c.gamma,
                "n_critics": c.n_critics, "target_update_interval": c.target_update_interval,
                "encoder_factory": self.encoder_factory()}

    def network_scores(self, x: torch.Tensor) -> torch.Tensor:
        return internals.q_values(self.algo, x)


class DoubleDQNAgent(_QAgent):
    """Double DQN on the logged transitions (d3rlpy `DoubleDQN`): the naive offline
    baseline, with nothing that keeps it near the logged actions (its Q of items the log
    never showed is unchecked)."""

    name: ClassVar[str] = "double_dqn"
    config_class: ClassVar[type] = DoubleDQNConfig
    algo_class = d3.DoubleDQNConfig


class CQLAgent(_QAgent):
    """Conservative Q-learning (d3rlpy `DiscreteCQL`): double-DQN targets plus
    alpha * (logsumexp_a Q(s, a) - Q(s, a_logged)), which pushes down the Q of items the
    log did not choose."""

    name: ClassVar[str] = "cql"
    config_class: ClassVar[type] = CQLConfig
    config: CQLConfig
    algo_class = d3.DiscreteCQLConfig

    def algo_settings(self) -> dict[str, Any]:
        return {**super().algo_settings(), "alpha": self.config.alpha}


class BCQAgent(_QAgent):
    """Batch-constrained Q-learning (d3rlpy `DiscreteBCQ`): a behaviour-cloning imitator
    sharing the Q-network's encoder; the policy takes the best-Q item among those the
    imitator finds at least `action_flexibility` times as likely as its favourite (then
    unseen items only; if the imitator allows none of them, the best-Q unseen item)."""

    name: ClassVar[str] = "bcq"
    config_class: ClassVar[type] = BCQConfig
    config: BCQConfig
    algo_class = d3.DiscreteBCQConfig

    def algo_settings(self) -> dict[str, Any]:
        c = self.config
        return {**super().algo_settings(), "action_flexibility": c.action_flexibility,
                "beta": c.beta}

    def network_scores(self, x: torch.Tensor) -> torch.Tensor:
        return internals.bcq_scores(self.algo, x, self.config.action_flexibility)


class DiscreteSACAgent(D3rlpyAgent):
    """Discrete soft actor-critic on the logged transitions (d3rlpy `DiscreteSAC`): a
    softmax policy over items against twin Q-networks with an entropy bonus. `predict`
    takes the policy's likeliest unseen item (or samples, with `deterministic=False`);
    `action_probabilities` is its softmax over the unseen items."""

    name: ClassVar[str] = "discrete_sac"
    config_class: ClassVar[type] = DiscreteSACConfig
    config: DiscreteSACConfig
    algo_class = d3.DiscreteSACConfig
    stochastic: ClassVar[bool] = True

    def algo_settings(self) -> dict[str, Any]:
        c = self.config
        factory = self.encoder_factory()
        return {"batch_size": c.batch_size, "gamma": c.gamma,
                "actor_learning_rate": c.actor_lr, "critic_learning_rate": c.critic_lr,
                "temp_learning_rate": c.temp_lr,
                "initial_temperature": c.initial_temperature,
                "target_update_interval": c.target_update_interval,
                "n_critics": c.n_critics, "actor_encoder_factory": factory,
                "critic_encoder_factory": factory}

    def network_scores(self, x: torch.Tensor) -> torch.Tensor:
        return internals.policy_logits(self.algo, x)
