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
from recgym.masking import seen_mask
from recgym.spaces import ObsSpec
from recgym.wrappers.continuous import embedding_actions, ranked_actions, top_k_by_score

CRITICS = ("bilinear", "concat")


@dataclass(frozen=True)
class DRRConfig(OffPolicyConfig):
    """DRR settings (see `OffPolicyConfig` for the shared ones)."""

    encoder: str = "drr_att"
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
    critic: str = "bilinear"
    """'bilinear': Q(s, e) = <P h(s), e> + MLP([h(s), e]), the state meets the item
    embedding in a product; 'concat': MLP([h(s), e]) only (the paper's critic)."""
    item_dim: int = 8
    """Learned item features appended to the pre-trained embeddings (trained through the
    critic): what the embeddings do not say about an item (its popularity, appeal,
    quality) the ranking vector can then weigh; 0: the pre-trained embeddings only (the
    paper)."""
    refine: int = 10
    """The critic re-ranks the `refine` items nearest the actor's ranking vector and the
    best by Q are recommended (Dulac-Arnold et al. 2015); 1: the actor's top items as is
    (the paper)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        store_ints(self, {"action_dim": 1, "refine": 1, "item_dim": 0})
        if self.critic not in CRITICS:
            raise InputError(f"critic must be one of {', '.join(CRITICS)}, got "
                             f"{self.critic!r}")


class ItemTable(nn.Module):
    """Item vectors the ranking vector is scored against: the pre-trained embeddings
    (fixed) and `item_dim` learned features per item."""

    pretrained: torch.Tensor

    def __init__(self, pretrained: np.ndarray, item_dim: int) -> None:
        super().__init__()
        self.register_buffer("pretrained", torch.as_tensor(pretrained, dtype=torch.float32))
        self.learned = nn.Embedding(len(pretrained), item_dim) if item_dim else None
        if self.learned is not None:
            nn.init.normal_(self.learned.weight, std=0.01)

    @property
    def dim(self) -> int:
        """Width of an item vector."""
        extra = 0 if self.learned is None else self.learned.embedding_dim
        return int(self.pretrained.shape[1]) + extra

    def forward(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """Vectors of `items` (any shape of ids) -> (..., dim); None: every item."""
        base = self.pretrained if items is None else self.pretrained[items]
        if self.learned is None:
            return base
        extra = self.learned.weight if items is None else self.learned(items)
        return torch.cat([base, extra], dim=-1)


class Actor(nn.Module):
    """State -> ranking vector of unit length (only its direction ranks the items, and
    unit length keeps it where the unit-norm item embeddings are)."""

    def __init__(self, spec: ObsSpec, config: DRRConfig, action_dim: int) -> None:
        super().__init__()
        self.encoder = make_encoder(config.encoder, spec, embed_dim=config.embed_dim,
                                    hidden_dim=config.hidden_dim, use_candidates=False)
        self.head = nn.Sequential(nn.Linear(self.encoder.features_dim, config.hidden_dim),
                                  nn.ReLU(), nn.Linear(config.hidden_dim, action_dim))

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, d) unit ranking vectors."""
        return F.normalize(self.head(self.encoder(obs)), dim=1)


class Critic(nn.Module):
    """Q(s, a) over the state representation h(s) and an action vector a (a point among the
    item embeddings): an MLP over [h(s), a], plus <P h(s), a> for the bilinear critic."""

    def __init__(self, spec: ObsSpec, config: DRRConfig, action_dim: int) -> None:
        super().__init__()
        self.encoder = make_encoder(config.encoder, spec, embed_dim=config.embed_dim,
                                    hidden_dim=config.hidden_dim, use_candidates=False)
        width = self.encoder.features_dim
        self.head = nn.Sequential(
            nn.Linear(width + action_dim, config.hidden_dim), nn.ReLU(),
            nn.Linear(config.hidden_dim, config.hidden_dim), nn.ReLU(),
            nn.Linear(config.hidden_dim, 1))
        self.project = (nn.Sequential(nn.Linear(width, config.hidden_dim), nn.ReLU(),
                                      nn.Linear(config.hidden_dim, action_dim))
                        if config.critic == "bilinear" else None)

    def forward(self, obs: dict[str, torch.Tensor], action: torch.Tensor) -> torch.Tensor:
        """(B,) Q values of actions (B, d), or (B, m) of m actions per row (B, m, d)."""
        return self.values(self.encoder(obs), action)

    def values(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Q from encoded states (B, F) and actions (B, d) or (B, m, d)."""
        if action.dim() == 3:
            state = state[:, None, :].expand(-1, action.shape[1], -1)
        q = self.head(torch.cat([state, action], dim=-1))[..., 0]
        if self.project is not None:
            q = q + (self.project(state) * action).sum(-1)
        return q


class DRRAgent(OffPolicyAgent):
    """DRR: DDPG with target networks (soft updates), replay (optionally prioritised) and
    decaying Gaussian exploration noise on a unit ranking vector, scored against item
    vectors: the pre-trained embeddings of the environment (`env.item_embeddings()`, as
    DRR uses pre-trained ones, saved with the agent) plus `item_dim` learned features.
    The critic learns on the vectors of the items actually recommended (the mean over a
    slate), so its input lies among the item vectors (Dulac-Arnold et al. 2015 for large
    discrete action spaces), and re-ranks the `refine` items nearest the actor's vector;
    the actor follows the critic's gradient at its own vector. Works with slates (top-k)
    and candidate mode (top-k among the candidates). The replay stores item ids, so the
    learned features stay current."""

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
        pretrained = (np.zeros((spec.n_items, d), np.float32) if embeddings is None
                      else np.asarray(embeddings, np.float32))
        self.items = ItemTable(pretrained, c.item_dim)
        width = self.items.dim
        self.actor, self.actor_target = Actor(spec, c, width), Actor(spec, c, width)
        self.critic, self.critic_target = Critic(spec, c, width), Critic(spec, c, width)
        self.actor_target.load_state_dict(self.actor.state_dict())
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=c.actor_lr)
        self.critic_optimizer = torch.optim.Adam([*self.critic.parameters(),
                                                  *self.items.parameters()], lr=c.lr)

    @classmethod
    def create(cls, env: Any, config: Any = None) -> DRRAgent:
        base = unwrap_env(env)
        embeddings = base.item_embeddings()
        config = (config or DRRConfig()).replace(action_dim=int(embeddings.shape[1]))
        return cls(base.core.spec, config, embeddings=embeddings)

    def modules(self) -> dict[str, nn.Module]:
        return {"actor": self.actor, "actor_target": self.actor_target,
                "critic": self.critic, "critic_target": self.critic_target,
                "items": self.items}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.actor_optimizer, "critic": self.critic_optimizer}

    @classmethod
    def from_meta(cls, spec: ObsSpec, config: Any) -> DRRAgent:
        return cls(spec, config)  # the embeddings arrive with the weights (`items`)

    @property
    def embeddings(self) -> np.ndarray:
        """(n_items, width) the item vectors ranking vectors are scored against."""
        with torch.no_grad():
            return self.items().numpy()

    # ------------------------------------------------------------------ acting
    def vectors(self, obs: dict[str, Any]) -> np.ndarray:
        """(B, width) ranking vectors of the actor."""
        with torch.no_grad():
            return self.actor(self.tensors(obs)).numpy()

    def to_items(self, vectors: np.ndarray, obs: dict[str, Any],
                 critic: Critic | None = None) -> np.ndarray:
        """Ranking vectors -> item ids, slates or candidate indices: the items nearest the
        vectors, or with `refine` > 1 the best by Q (of `critic`, default the agent's)
        among the `refine` nearest."""
        c, k = self.config, self.spec.slate_size
        table = self.embeddings
        width = min(max(c.refine, k), self.spec.n_candidates or self.spec.n_items)
        if width == k:
            return ranked_actions(vectors, table, obs, k, self.spec.n_items, c.exclude_seen)
        candidates = obs.get("candidates")
        if candidates is not None:
            candidates = np.asarray(candidates).reshape(len(vectors), -1).astype(np.int64)
        exclude = seen_mask(obs, self.spec.n_items) if c.exclude_seen else None
        near = embedding_actions(vectors, table, width, candidates, exclude)
        items = near if candidates is None else np.take_along_axis(candidates, near, axis=1)
        with torch.no_grad():
            q = (critic or self.critic)(self.tensors(obs), torch.as_tensor(table[items]))
        scores = q.numpy()
        if exclude is not None:
            scores = np.where(np.take_along_axis(exclude, near, axis=1), -np.inf, scores)
        chosen = np.take_along_axis(near, top_k_by_score(scores, k), axis=1)
        return chosen[:, 0] if k == 1 else chosen

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """The top-k items by the actor's ranking vector (re-ranked by the critic)."""
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
        actions = self.to_items(vectors, obs)
        return actions, self.item_ids(actions, obs)

    def item_ids(self, actions: np.ndarray, obs: dict[str, Any]) -> np.ndarray:
        """Environment actions (B,) or (B, k) -> the recommended item ids (B, k)."""
        chosen = np.asarray(actions).reshape(len(actions), -1).astype(np.int64)
        if obs.get("candidates") is not None:
            candidates = np.asarray(obs["candidates"]).astype(np.int64)
            chosen = np.take_along_axis(candidates.reshape(len(chosen), -1), chosen, axis=1)
        return chosen

    # ------------------------------------------------------------------ learning
    def update(self, batch: dict[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        c = self.config
        obs, nxt, reward, done = self.unpack(batch)
        w = torch.as_tensor(weights, dtype=torch.float32)
        with torch.no_grad():
            # bootstrap at what the target networks would recommend (seen items excluded):
            # the mean vector of those items, the same kind of point the critic learns on
            next_obs = {k: v.numpy() for k, v in nxt.items()}
            following = self.to_items(self.actor_target(nxt).numpy(), next_obs,
                                      critic=self.critic_target)
            next_items = torch.as_tensor(self.item_ids(following, next_obs))
            next_q = self.critic_target(nxt, self.items(next_items).mean(dim=1))
            y = reward + c.gamma * (1.0 - done) * next_q
        action = self.items(torch.as_tensor(batch["action"]).long()).mean(dim=1)
        q = self.critic(obs, action)
        critic_loss = (w * F.mse_loss(q, y, reduction="none")).mean()
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        nn.utils.clip_grad_norm_([*self.critic.parameters(), *self.items.parameters()], 10.0)
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
