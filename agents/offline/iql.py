"""IQL over the item-embedding action (DRR style): the action of a logged step is the
logged item's embedding (unit length; the mean over a slate), and the policy's output
vector is scored against every item's embedding to pick the item(s)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from d3rlpy import algos as d3

from agents.base import Agent
from agents.offline import d3rlpy_internals as internals
from agents.offline.base import D3rlpyAgent, spec_of
from agents.offline.config import IQLConfig
from agents.offline.data import item_embeddings
from offline_data.shared.errors import InputError
from recgym.offline import TrajectoryDataset
from recgym.spaces import ObsSpec
from simulators.interface import MissingFeatureError


class IQLAgent(D3rlpyAgent):
    """Implicit Q-learning (d3rlpy `IQL`) in item-embedding space.

    Item embeddings come from the simulator the agent will act in (the synthetic world's
    `item_embeddings()`, a fitted simulator's, or the environment's
    `env.unwrapped.item_embeddings()`): give them when making the agent,
    `IQLAgent.create(dataset, config, embeddings=world)` (an array, a simulator or an
    environment), or make it from that environment, `make_agent("iql", env)`, which reads
    them there. They are scaled to unit length and saved with the agent.

    Learning: a logged step's action is its item's embedding (the mean over a slate);
    expectile regression of V, Q on r + gamma V(s'), and an advantage-weighted Gaussian
    policy. Acting: the policy's mean vector (tanh-squashed) is scored by dot product
    against every item embedding, and the top `slate_size` items not recently seen are
    recommended. `action_probabilities` is one-hot on that item.
    """

    name: ClassVar[str] = "iql"
    config_class: ClassVar[type] = IQLConfig
    config: IQLConfig
    algo_class = d3.IQLConfig
    slates: ClassVar[bool] = True

    def __init__(self, spec: ObsSpec, config: IQLConfig | None = None,
                 embeddings: Any = None) -> None:
        config = config or IQLConfig()
        if embeddings is not None:
            table = item_embeddings(self.name, embeddings, spec.n_items)
            config = config.replace(action_dim=int(table.shape[1]))
        elif config.action_dim is not None:  # loading: the embeddings come with the weights
            table = np.zeros((spec.n_items, config.action_dim), np.float32)
        else:
            item_embeddings(self.name, None, spec.n_items)  # raises: embeddings are needed
            raise AssertionError  # pragma: no cover
        self.embeddings = table
        super().__init__(spec, config)

    @classmethod
    def create(cls, env: Any, config: Any = None, *, embeddings: Any = None) -> Agent:
        """A new agent for a dataset or an environment; `embeddings` (an array, a
        simulator or an environment) default to the environment's when made from one."""
        spec = spec_of(env)
        if embeddings is None and not isinstance(env, (TrajectoryDataset, ObsSpec)):
            try:
                embeddings = getattr(env, "unwrapped", env).item_embeddings()
            except (AttributeError, MissingFeatureError):
                raise InputError(f"{cls.name}: the environment's simulator has no item "
                                 "embeddings; pass embeddings= (an (n_items, d) array)") from None
        return cls(spec, config, embeddings=embeddings)

    @classmethod
    def from_meta(cls, spec: ObsSpec, config: Any) -> IQLAgent:
        return cls(spec, config)  # embeddings arrive with the weights

    def algo_settings(self) -> dict[str, Any]:
        c = self.config
        factory = self.encoder_factory()
        return {"batch_size": c.batch_size, "gamma": c.gamma,
                "actor_learning_rate": c.actor_lr, "critic_learning_rate": c.critic_lr,
                "expectile": c.expectile, "weight_temp": c.weight_temp,
                "max_weight": c.max_weight, "tau": c.tau, "n_critics": c.n_critics,
                "actor_encoder_factory": factory, "critic_encoder_factory": factory,
                "value_encoder_factory": factory}

    def action_size(self) -> int:
        return int(self.embeddings.shape[1])

    def actions_of(self, dataset: TrajectoryDataset) -> np.ndarray:
        """(S, d) unit embeddings of the logged items (mean over a slate)."""
        items = np.asarray(dataset.actions, np.int64).reshape(dataset.n_steps, -1)
        return self.embeddings[items].mean(axis=1).astype(np.float32)

    def vectors(self, flat: np.ndarray) -> np.ndarray:
        """(B, d) ranking vectors of the policy for flat observations."""
        self.algo.impl.modules.set_eval()
        with torch.no_grad():
            return internals.policy_vector(self.algo, self.tensor(flat)).float().cpu().numpy()

    def network_scores(self, x: torch.Tensor) -> torch.Tensor:
        vector = internals.policy_vector(self.algo, x)
        table = torch.as_tensor(self.embeddings, device=vector.device)
        return vector @ table.T

    def weights(self) -> dict[str, Any]:
        return {**super().weights(), "embeddings": self.embeddings.copy()}

    def load_weights(self, weights: dict[str, Any]) -> None:
        table = np.asarray(weights["embeddings"], np.float32)
        if table.shape != self.embeddings.shape:
            raise ValueError(f"embeddings of shape {table.shape}, expected "
                             f"{self.embeddings.shape}")
        self.embeddings = table
        super().load_weights(weights)
