"""DEERS (Zhao et al., KDD 2018): a DQN whose state separates positively and negatively
answered items, trained with a pairwise term against a competitor item."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agents.base import is_batched
from agents.online.offpolicy import OffPolicyAgent, OffPolicyConfig, linear_schedule
from offline_data.shared.errors import InputError
from recgym.encoders import make_encoder
from recgym.masking import seen_mask_tensor
from recgym.spaces import ObsSpec
from recgym.wrappers.continuous import top_k_by_score


@dataclass(frozen=True)
class DEERSConfig(OffPolicyConfig):
    """DEERS settings (see `OffPolicyConfig` for the shared ones)."""

    encoder: str = "deers"
    alpha: float = 0.1
    """Weight of the pairwise term (the paper's alpha)."""
    pairwise_margin: float = 1.0
    """The squared Q difference rewarded by the pairwise term is capped at margin**2, so the
    term stays bounded (the paper's form is unbounded below)."""
    eps_start: float = 1.0
    eps_end: float = 0.05
    exploration_fraction: float = 0.3
    """Share of the training budget over which epsilon decays."""


class QNetwork(nn.Module):
    """Q(s, a) = <W h(s), e_a> + b_a over a state encoder h (DEERS: the positive and
    negative GRU states) and learnt item vectors: the item is an input, and all items are
    scored with one matrix product."""

    def __init__(self, spec: ObsSpec, config: DEERSConfig) -> None:
        super().__init__()
        self.encoder = make_encoder(config.encoder, spec, embed_dim=config.embed_dim,
                                    hidden_dim=config.hidden_dim, use_candidates=False)
        self.project = nn.Sequential(nn.Linear(self.encoder.features_dim, config.hidden_dim),
                                     nn.ReLU(), nn.Linear(config.hidden_dim, config.embed_dim))
        self.items = nn.Embedding(spec.n_items, config.embed_dim)
        self.bias = nn.Embedding(spec.n_items, 1)
        nn.init.normal_(self.items.weight, std=0.05)
        nn.init.zeros_(self.bias.weight)

    def forward(self, obs: dict[str, torch.Tensor], items: torch.Tensor | None = None
                ) -> torch.Tensor:
        """Q for every item (B, n_items), or for given items (B, m)."""
        state = self.project(self.encoder(obs))
        if items is None:
            return state @ self.items.weight.T + self.bias.weight.T
        return (state[:, None, :] * self.items(items)).sum(-1) + self.bias(items)[..., 0]


class DEERSAgent(OffPolicyAgent):
    """DEERS: double-DQN over items with a target network, replay (optionally
    prioritised), epsilon-greedy exploration and the pairwise regularisation

        L = (y - Q(s, a))^2 - alpha * min((Q(s, a) - Q(s, a^C))^2, margin^2)

    where the competitor a^C is the most recent item of the state's history whose primary
    feedback is the opposite of what a received. One item per step when training; slates
    are filled by ranking Q.
    """

    name: ClassVar[str] = "deers"
    config_class: ClassVar[type] = DEERSConfig
    config: DEERSConfig

    def __init__(self, spec: ObsSpec, config: DEERSConfig | None = None) -> None:
        super().__init__(spec, config or DEERSConfig())
        self.q = QNetwork(spec, self.config)
        self.q_target = QNetwork(spec, self.config)
        self.q_target.load_state_dict(self.q.state_dict())
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=self.config.lr)

    def modules(self) -> dict[str, nn.Module]:
        return {"q": self.q, "q_target": self.q_target}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"q": self.optimizer}

    # ------------------------------------------------------------------ acting
    def scores(self, obs: dict[str, Any]) -> np.ndarray:
        """Q of every choice (items, or candidates in candidate mode), (B, choices)."""
        with torch.no_grad():
            return self.choice_q(self.tensors(obs), self.q).numpy()

    def choice_q(self, obs: dict[str, torch.Tensor], network: QNetwork) -> torch.Tensor:
        """Q of every choice, with recently shown items at -1e9 when excluded."""
        q = network(obs, obs["candidates"].long() if "candidates" in obs else None)
        if self.config.exclude_seen:
            q = q.masked_fill(seen_mask_tensor(obs, self.spec.n_items), -1e9)
        return q

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """The item (or slate, ranked by Q) with the highest Q."""
        ranked = top_k_by_score(self.scores(obs), self.spec.slate_size)
        actions = ranked[:, 0] if self.spec.slate_size == 1 else ranked
        return actions if is_batched(obs) else actions[0]

    def act(self, obs: dict[str, np.ndarray], explore: bool) -> tuple[np.ndarray, np.ndarray]:
        if self.spec.slate_size != 1:
            raise InputError("DEERS trains with slate_size=1 (one item per step); it fills "
                             "slates by ranking Q when predicting")
        c = self.config
        greedy = np.asarray(self.predict(obs))
        eps = linear_schedule(c.eps_start, c.eps_end, c.exploration_fraction, self.progress())
        explore_rows = self.rng.random(len(greedy)) < eps if explore else np.zeros(0, bool)
        choices = self.spec.n_candidates or self.spec.n_items
        actions = greedy.copy()
        if explore and explore_rows.any():
            actions[explore_rows] = self.rng.integers(0, choices, int(explore_rows.sum()))
        return actions, actions

    def transitions(self, obs: dict[str, np.ndarray], actions: np.ndarray,
                    next_obs: dict[str, np.ndarray], info: dict[str, Any],
                    rows: np.ndarray) -> dict[str, np.ndarray]:
        """The competitor of each stored action: the most recent history item whose
        primary feedback is the opposite of the feedback the action received."""
        positive = info["reward_vector"][rows, 0] > 0.5
        items = obs["history_items"][rows]
        filled = items < self.spec.n_items
        opposite = filled & ((obs["history_feedback"][rows, :, 0] > 0.5) != positive[:, None])
        first = np.argmax(opposite, axis=1)
        found = opposite[np.arange(len(rows)), first]
        competitor = np.where(found, items[np.arange(len(rows)), first], -1)
        chosen = actions[rows]
        if self.spec.n_candidates is not None:  # store item ids, not candidate indices
            chosen = obs["candidates"][rows, chosen]
        return {"competitor": competitor.astype(np.int64), "item": chosen.astype(np.int64)}

    # ------------------------------------------------------------------ learning
    def update(self, batch: dict[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        c = self.config
        obs, nxt, reward, done = self.unpack(batch)
        item = torch.as_tensor(batch["item"])
        with torch.no_grad():
            choices = nxt["candidates"].long() if "candidates" in nxt else None
            best = self.choice_q(nxt, self.q).argmax(dim=1, keepdim=True)
            best_items = best if choices is None else choices.gather(1, best)
            target_q = self.q_target(nxt, best_items)[:, 0]
            y = reward + c.gamma * (1.0 - done) * target_q
        competitor = torch.as_tensor(batch["competitor"])
        has_competitor = competitor >= 0
        pair = torch.stack([item, competitor.clamp(min=0)], dim=1)
        q_pair = self.q(obs, pair)
        q = q_pair[:, 0]
        td = F.smooth_l1_loss(q, y, reduction="none")
        gap = torch.clamp((q_pair[:, 0] - q_pair[:, 1]) ** 2, max=c.pairwise_margin**2)
        pairwise = torch.where(has_competitor, gap, torch.zeros_like(gap))
        w = torch.as_tensor(weights, dtype=q.dtype)
        loss = (w * (td - c.alpha * pairwise)).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.q.parameters(), 10.0)
        self.optimizer.step()
        self.soft_update(self.q_target, self.q)
        self.losses = {"loss": loss.item(), "td": td.mean().item(),
                       "pairwise": pairwise.mean().item()}
        return (q - y).detach().numpy()
