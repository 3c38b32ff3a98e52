"""DT4IER's networks: the RewardNet that balances the two returns per user, the reward
encoder (AutoDis-style soft bucketing, or one linear layer), and the decision transformer
over (return-to-go, state, action) tokens whose action list is decoded item by item."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from agents.offline.dt4ier.config import DT4IERConfig
from recgym.encoders import make_encoder
from recgym.spaces import ObsSpec


class RewardNet(nn.Module):
    """User features -> 64 -> 32 -> 2 softmax: the weights (w_s, w_l) of the immediate
    and long-term returns of each user. Users without features (all zero, or an
    environment with none) get one global pair of weights (a learned 2-vector) trained
    with the same loss."""

    def __init__(self, feature_dim: int) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        if feature_dim:
            self.net: nn.Module = nn.Sequential(
                nn.Linear(feature_dim, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                nn.Linear(32, 2))
        self.global_logits = nn.Parameter(torch.zeros(2))

    def forward(self, features: Tensor) -> Tensor:
        """(B, 2) weights summing to 1."""
        shared = torch.softmax(self.global_logits, 0).expand(features.shape[0], 2)
        if not self.feature_dim:
            return shared
        has = (features != 0).any(dim=-1, keepdim=True)
        return torch.where(has, torch.softmax(self.net(features), dim=-1), shared)


def reward_net_loss(weights: Tensor, returns: Tensor, balance: float) -> Tensor:
    """-(w_s R_s + w_l R_l) + lambda |w_s R_s - w_l R_l|, averaged over users."""
    weighted = weights * returns
    return (-(weighted.sum(-1)) + balance * (weighted[:, 0] - weighted[:, 1]).abs()).mean()


class BucketReturnEncoder(nn.Module):
    """AutoDis-style encoder of the 2-D return-to-go: each dimension is softly assigned to
    `buckets` buckets (a LeakyReLU layer plus a residual linear layer, softmax over
    buckets) and embedded as the mixture of the buckets' meta-embeddings; the two
    dimensions' embeddings are summed."""

    def __init__(self, buckets: int, dim: int, residual: float = 0.1) -> None:
        super().__init__()
        self.first = nn.Linear(1, buckets)
        self.second = nn.Linear(buckets, buckets)
        self.residual = residual
        self.meta = nn.Parameter(torch.randn(2, buckets, dim) * 0.02)

    def forward(self, rtg: Tensor) -> Tensor:
        """(..., 2) -> (..., dim)."""
        hidden = F.leaky_relu(self.first(rtg.unsqueeze(-1)))          # (..., 2, buckets)
        logits = self.second(hidden) + self.residual * hidden
        mix = torch.softmax(logits, dim=-1)
        return torch.einsum("...db,dbe->...e", mix, self.meta)


@dataclass
class SessionBatch:
    """Tensors of a batch of episode windows (B episodes, T sessions)."""

    rtg: Tensor
    """(B, T, 2) weighted, scaled return-to-go."""
    state: Tensor
    """(B, T, H) clicked items, most recent first; `n_items` pads."""
    action: Tensor
    """(B, T, N) shown items; `n_items` pads."""
    features: Tensor
    """(B, T, F) user features."""
    obs: Tensor
    """(B, T, flat_dim) the observation at each session's start (`ObsSpec.flatten`)."""
    time: Tensor
    """(B, T) session position in the episode."""
    valid: Tensor
    """(B, T) bool: a real session (not padding)."""


class DecisionTransformer(nn.Module):
    """Causal transformer over interleaved (return-to-go, state, action) tokens of the
    sessions of an episode; the hidden state at a session's state token starts a GRU that
    decodes the session's item list one item at a time (logits tied to the item
    embeddings)."""

    def __init__(self, spec: ObsSpec, config: DT4IERConfig) -> None:
        super().__init__()
        d = config.embed_dim
        self.spec = spec
        self.n_items = n_items = spec.n_items
        self.items = nn.Embedding(n_items + 1, d, padding_idx=n_items)
        self.state_gru = nn.GRU(d, d, batch_first=True)
        self.obs_encoder = (make_encoder(config.obs_encoder, spec, hidden_dim=d)
                            if config.obs_encoder else None)
        width = (self.obs_encoder.features_dim if self.obs_encoder is not None
                 else spec.user_feature_dim)
        self.user = nn.Linear(width, d) if width else None
        self.action_proj = nn.Linear(d, d)
        self.returns: nn.Module = (BucketReturnEncoder(config.buckets, d)
                                   if config.reward_encoder else nn.Linear(2, d))
        self.time = nn.Embedding(config.context, d)
        self.token_type = nn.Embedding(3, d)
        self.norm = nn.LayerNorm(d)
        layer = nn.TransformerEncoderLayer(d, config.heads, 4 * d, config.dropout,
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, config.layers,
                                                 enable_nested_tensor=False)
        self.start = nn.Parameter(torch.zeros(d))
        self.decoder = nn.GRU(d, d, batch_first=True)
        self.head = nn.Linear(d, d)
        self.context = config.context

    # ------------------------------------------------------------------ embeddings
    def embed_state(self, state: Tensor, features: Tensor, obs: Tensor) -> Tensor:
        """(..., H) clicked items (most recent first), (..., F) user features and (...,
        flat_dim) observations at the session's start -> (..., d): a GRU over the clicks
        read oldest first (zero for an empty history) plus a linear map of the encoded
        observation (or, without an observation encoder, of the user features)."""
        shape = state.shape[:-1]
        flat = state.reshape(-1, state.shape[-1]).flip(-1)   # padding first, newest last
        lengths = (flat < self.n_items).sum(-1)
        out, _ = self.state_gru(self.items(flat))
        last = out[:, -1]
        clicks = torch.where((lengths > 0)[:, None], last, torch.zeros_like(last)).reshape(
            *shape, -1)
        if self.user is None:
            return clicks
        if self.obs_encoder is None:
            return clicks + self.user(features)
        flat = obs.reshape(-1, obs.shape[-1])
        encoded = self.obs_encoder(self.spec.unflatten(flat))
        return clicks + self.user(encoded).reshape(*shape, -1)

    def embed_action(self, action: Tensor) -> Tensor:
        """(..., N) item list -> (..., d): the mean of its item embeddings, projected."""
        filled = (action < self.n_items).float().unsqueeze(-1)
        mean = (self.items(action) * filled).sum(-2) / filled.sum(-2).clamp(min=1.0)
        return self.action_proj(mean)

    def item_logits(self, hidden: Tensor) -> Tensor:
        """(..., d) decoder outputs -> (..., n_items) scores (tied to the embeddings)."""
        return self.head(hidden) @ self.items.weight[:self.n_items].T

    # ------------------------------------------------------------------ transformer
    def session_states(self, batch: SessionBatch) -> Tensor:
        """(B, T, d) hidden state at each session's state token (sees the returns-to-go
        and states up to the session and the actions before it)."""
        b, t = batch.valid.shape
        time = self.time(batch.time.clamp(max=self.context - 1))
        tokens = torch.stack([
            self.returns(batch.rtg) + self.token_type.weight[0],
            self.embed_state(batch.state, batch.features, batch.obs)
            + self.token_type.weight[1],
            self.embed_action(batch.action) + self.token_type.weight[2]], dim=2)
        tokens = self.norm(tokens + time.unsqueeze(2)).reshape(b, 3 * t, -1)
        causal = torch.triu(torch.ones(3 * t, 3 * t, dtype=torch.bool,
                                       device=tokens.device), diagonal=1)
        out = self.transformer(tokens, mask=causal)
        return out.reshape(b, t, 3, -1)[:, :, 1]

    def list_logits(self, start: Tensor, action: Tensor) -> Tensor:
        """Teacher-forced decoding: (M, d) start states and (M, N) logged lists ->
        (M, N, n_items) logits of each position given the items before it."""
        m = start.shape[0]
        inputs = torch.cat([self.start.expand(m, 1, -1), self.items(action[:, :-1])], dim=1)
        out, _ = self.decoder(inputs, start.unsqueeze(0).contiguous())
        return self.item_logits(out)

    @torch.no_grad()
    def decode(self, start: Tensor, length: int, banned: Tensor, *,
               sample: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """(M, length) distinct items decoded one at a time from (M, d) start states;
        `banned` (M, n_items) bool marks items never to choose (when too few items are
        left, banned ones fill the rest)."""
        m = start.shape[0]
        banned = banned.clone()
        hidden = start.unsqueeze(0).contiguous()
        step_input = self.start.expand(m, 1, -1)
        chosen = []
        for _ in range(length):
            out, hidden = self.decoder(step_input, hidden)
            logits = self.item_logits(out[:, 0])
            exhausted = banned.all(dim=1)
            if exhausted.any():
                banned[exhausted] = False
            logits = logits.masked_fill(banned, float("-inf"))
            if sample:
                probs = torch.softmax(logits, -1).cpu()  # the generator lives on the CPU
                item = torch.multinomial(probs, 1, generator=generator)[:, 0].to(start.device)
            else:
                item = logits.argmax(-1)
            chosen.append(item)
            banned[torch.arange(m, device=start.device), item] = True
            step_input = self.items(item).unsqueeze(1)
        return torch.stack(chosen, dim=1)
