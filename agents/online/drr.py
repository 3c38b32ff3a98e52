"""DRR (Liu et al. 2018): a DDPG actor-critic over a DRR state representation whose action
is a ranking vector scored against item embeddings; the top-k items form the slate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agents.base import batch_of, is_batched, unwrap_env
from agents.online.offpolicy import OffPolicyAgent, OffPolicyConfig, linear_schedule
from agents.settings import store_ints
from offline_data.shared.errors import InputError
from recgym.encoders import make_encoder
from recgym.spaces import ObsSpec
from recgym.wrappers.continuous import ranked_actions


@dataclass(frozen=True)
class DRRConfig(OffPolicyConfig):
    """DRR settings (see `OffPolicyConfig` for the shared ones)."""

    encoder: str = "drr_ave"
    """The state representation: drr_p, drr_u, drr_ave or drr_att (any recgym encoder)."""
    actor_lr: float = 1e-4
    lr: float = 1e-3
    """Critic learning rate."""
    action_dim: int | None = None
    """Width of the ranking vector: the item embeddings' (set from the environment)."""
    noise_start: float = 0.4
    noise_end: float = 0.05
    exploration_fraction: float = 0.5
    """Gaussian exploration noise on the ranking vector decays over this share."""

    def __post_init__(self) -> None:
        super().__post_init__()
        store_ints(self, {"action_dim": 1})


class Actor(nn.Module):
    """State -> ranking vector of unit length (only its direction ranks the items, and
    unit length keeps it where the unit-norm item embeddings are)."""

    def __init__(self, spec: ObsSpec, config: DRRConfig, action_dim: int) -> None:
        super().__init__()
        self.encoder = make_encoder(config.encoder, spec, embed_dim=config.embed_dim,
                                    hidden_dim=config.hidden_dim)
        self.head = nn.Sequential(nn.Linear(self.encoder.features_dim, config.hidden_dim),
                                  nn.ReLU(), nn.Linear(config.hidden_dim, action_dim))

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, d) unit ranking vectors."""
        return F.normalize(self.head(self.encoder(obs)), dim=1)


class Critic(nn.Module):
    """Q(s, a) over the state representation and the ranking vector."""

    def __init__(self, spec: ObsSpec, config: DRRConfig, action_dim: int) -> None:
        super().__init__()
        self.encoder = make_encoder(config.encoder, spec, embed_dim=config.embed_dim,
                                    hidden_dim=config.hidden_dim)
        self.head = nn.Sequential(
            nn.Linear(self.encoder.features_dim + action_dim, config.hidden_dim), nn.ReLU(),
            nn.Linear(config.hidden_dim, config.hidden_dim), nn.ReLU(),
            nn.Linear(config.hidden_dim, 1))

    def forward(self, obs: dict[str, torch.Tensor], action: torch.Tensor) -> torch.Tensor:
        """(B,) Q values."""
        return self.head(torch.cat([self.encoder(obs), action], dim=1))[:, 0]


class DRRAgent(OffPolicyAgent):
    """DRR: DDPG with target networks (soft updates), replay (optionally prioritised) and
    decaying Gaussian exploration noise on a unit ranking vector. The critic is trained on
    the embedding of the items actually recommended (the mean over a slate), so its input
    lies among the item embeddings (as in Dulac-Arnold et al. 2015 for large discrete
    action spaces); the actor follows the critic's gradient at its own vector. Item
    embeddings come from the environment (`env.item_embeddings()`, as DRR uses pre-trained
    ones) and are saved with the agent; works with slates (top-k) and candidate mode (top-k
    among the candidates)."""

    name: ClassVar[str] = "drr"
    config_class: ClassVar[type] = DRRConfig
    config: DRRConfig

    def __init__(self, spec: ObsSpec, config: DRRConfig | None = None,
                 embeddings: np.ndarray | None = None) -> None:
        super().__init__(spec, config or DRRConfig())
        c = self.config
        if embeddings is not None:
            d = int(np.shape(embeddings)[1])
        elif c.action_dim is not None:
            d = c.action_dim
        else:
            raise InputError("DRR needs the item embeddings (or config.action_dim)")
        self.embeddings = (np.zeros((spec.n_items, d), np.float32) if embeddings is None
                           else np.asarray(embeddings, np.float32))
        self.actor, self.actor_target = Actor(spec, c, d), Actor(spec, c, d)
        self.critic, self.critic_target = Critic(spec, c, d), Critic(spec, c, d)
        self.actor_target.load_state_dict(self.actor.state_dict())
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=c.actor_lr)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=c.lr)

    @classmethod
    def create(cls, env: Any, config: Any = None) -> DRRAgent:
        base = unwrap_env(env)
        embeddings = base.item_embeddings()
        config = (config or DRRConfig()).replace(action_dim=int(embeddings.shape[1]))
        return cls(base.core.spec, config, embeddings=embeddings)

    def modules(self) -> dict[str, nn.Module]:
        return {"actor": self.actor, "actor_target": self.actor_target,
                "critic": self.critic, "critic_target": self.critic_target}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.actor_optimizer, "critic": self.critic_optimizer}

    def weights(self) -> dict[str, Any]:
        return {**super().weights(), "embeddings": self.embeddings}

    def load_weights(self, weights: dict[str, Any]) -> None:
        self.embeddings = np.asarray(weights["embeddings"], np.float32)
        super().load_weights(weights)

    @classmethod
    def from_meta(cls, spec: ObsSpec, config: Any) -> DRRAgent:
        return cls(spec, config)  # embeddings arrive with the weights

    # ------------------------------------------------------------------ acting
    def vectors(self, obs: dict[str, Any]) -> np.ndarray:
        """(B, d) ranking vectors of the actor."""
        with torch.no_grad():
            return self.actor(self.tensors(obs)).numpy()

    def to_items(self, vectors: np.ndarray, obs: dict[str, Any]) -> np.ndarray:
        """Ranking vectors -> item ids, slates or candidate indices."""
        return ranked_actions(vectors, self.embeddings, obs, self.spec.slate_size,
                              self.spec.n_items, self.config.exclude_seen)

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """The top-k items by the actor's ranking vector."""
        batch = batch_of(obs)
        actions = self.to_items(self.vectors(batch), batch)
        return actions if is_batched(obs) else actions[0]

    def act(self, obs: dict[str, np.ndarray], explore: bool) -> tuple[np.ndarray, np.ndarray]:
        c = self.config
        vectors = self.vectors(obs)
        if explore:
            sigma = linear_schedule(c.noise_start, c.noise_end, c.exploration_fraction,
                                    self.progress())
            vectors = vectors + sigma * self.rng.standard_normal(vectors.shape)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-8
        items = self.to_items(vectors, obs)
        return items, self.executed(vectors, obs, items)

    def executed(self, vectors: np.ndarray, obs: dict[str, Any],
                 items: np.ndarray | None = None) -> np.ndarray:
        """What the critic learns on: the mean embedding of the items the ranking vectors
        recommend, a point among the item embeddings the actor's vectors compete with."""
        chosen = np.asarray(self.to_items(vectors, obs) if items is None else items)
        chosen = chosen.reshape(len(vectors), -1)
        if obs.get("candidates") is not None:
            chosen = np.take_along_axis(np.asarray(obs["candidates"]).astype(np.int64),
                                        chosen, axis=1)
        return self.embeddings[chosen].mean(axis=1).astype(np.float32)

    # ------------------------------------------------------------------ learning
    def update(self, batch: dict[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        c = self.config
        obs, nxt, reward, done = self.unpack(batch)
        action = torch.as_tensor(batch["action"])
        w = torch.as_tensor(weights, dtype=torch.float32)
        with torch.no_grad():
            # bootstrap at what the target actor would recommend: the mean embedding of its
            # top-k items (seen items excluded), the same kind of point the critic learns on
            next_obs = {k: v.numpy() for k, v in nxt.items()}
            vectors = self.actor_target(nxt).numpy()
            executed = torch.as_tensor(self.executed(vectors, next_obs))
            y = reward + c.gamma * (1.0 - done) * self.critic_target(nxt, executed)
        q = self.critic(obs, action)
        critic_loss = (w * F.mse_loss(q, y, reduction="none")).mean()
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        nn.utils.clip_grad_norm_(self.critic.parameters(), 10.0)
        self.critic_optimizer.step()
        actor_loss = -self.critic(obs, self.actor(obs)).mean()
        self.actor_optimizer.zero_grad(set_to_none=True)
        actor_loss.backward()
        nn.utils.clip_grad_norm_(self.actor.parameters(), 10.0)
        self.actor_optimizer.step()
        self.soft_update(self.critic_target, self.critic)
        self.soft_update(self.actor_target, self.actor)
        self.losses = {"critic": critic_loss.item(), "actor": actor_loss.item()}
        return (q - y).detach().numpy()
