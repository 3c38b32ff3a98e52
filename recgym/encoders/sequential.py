"""Sequence encoders: DEERS, GRU4Rec, Caser and SASRec."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from recgym.encoders.base import Batch, StateEncoder, UserEmbedding, chronological
from recgym.spaces import ObsSpec


def last_state(gru: nn.GRU, seq: Tensor, lengths: Tensor) -> Tensor:
    """Final hidden state of `gru` over left-aligned sequences (B, L, d) of the given
    lengths; zeros for an empty sequence."""
    out, _ = gru(seq)
    last = (lengths - 1).clamp(min=0)
    rows = torch.arange(seq.shape[0], device=seq.device)
    return out[rows, last] * (lengths > 0).to(out.dtype)[:, None]


class _UserOption(StateEncoder):
    """A sequence encoder that can append the user representation (`with_user=True`)."""

    def _user_option(self, with_user: bool) -> int:
        self.user = (UserEmbedding(self.spec.n_users, self.spec.user_feature_dim,
                                   self.embed_dim) if with_user else None)
        return self.embed_dim if with_user else 0

    def _with_user(self, state: Tensor, batch: Batch) -> Tensor:
        if self.user is None:
            return state
        return torch.cat([state, self.user(batch.user, batch.user_x)], dim=1)


class DEERSEncoder(_UserOption):
    """DEERS state (Zhao et al., KDD 2018, "Recommendations with Negative Feedback via
    Pairwise Deep Reinforcement Learning").

    The history is split by the primary signal: items with positive feedback (primary >
    `positive_threshold`) form the positive state, the others the negative state. Each
    keeps its `n_recent` most recent items (default: all), read oldest to newest by its own
    GRU; the state is the concatenation of both final hidden states (2 * hidden_dim).
    Items enter the GRUs as item embedding plus the feedback projection.
    """

    def __init__(self, spec: ObsSpec, embed_dim: int = 32, hidden_dim: int = 64,
                 n_recent: int | None = None, positive_threshold: float = 0.5,
                 with_user: bool = False, use_candidates: bool = True) -> None:
        super().__init__(spec, embed_dim, hidden_dim, use_candidates)
        self.n_recent = int(n_recent or spec.history_len)
        self.threshold = float(positive_threshold)
        self.positive = nn.GRU(self.embed_dim, self.hidden_dim, batch_first=True)
        self.negative = nn.GRU(self.embed_dim, self.hidden_dim, batch_first=True)
        self._set_state_dim(2 * self.hidden_dim + self._user_option(with_user))

    def split(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """(positive mask, negative mask), each (B, L), keeping the `n_recent` most recent
        items of each kind."""
        positive = (batch.feedback[..., 0] > self.threshold).to(batch.mask.dtype)
        masks = []
        for kind in (batch.mask * positive, batch.mask * (1.0 - positive)):
            rank = kind.cumsum(dim=1)  # 1 for the most recent item of this kind
            masks.append(kind * (rank <= self.n_recent).to(kind.dtype))
        return masks[0], masks[1]

    def encode(self, batch: Batch) -> Tensor:

        """The state: (B, state_dim)."""
        embedded = self.items(batch.items, batch.feedback, batch.mask)
        states = []
        for gru, mask in zip((self.positive, self.negative), self.split(batch), strict=True):
            seq = chronological(embedded * mask[..., None], mask, align="left")
            states.append(last_state(gru, seq, mask.sum(dim=1).long()))
        return self._with_user(torch.cat(states, dim=1), batch)


class GRU4RecEncoder(_UserOption):
    """GRU4Rec-style state (Hidasi et al., 2016): a GRU over the history (item embedding
    plus feedback projection) from oldest to newest; the state is the last hidden state
    (hidden_dim), optionally with the user representation (`with_user=True`)."""

    def __init__(self, spec: ObsSpec, embed_dim: int = 32, hidden_dim: int = 64,
                 num_layers: int = 1, with_user: bool = False,
                 use_candidates: bool = True) -> None:
        super().__init__(spec, embed_dim, hidden_dim, use_candidates)
        self.gru = nn.GRU(self.embed_dim, self.hidden_dim, num_layers=num_layers,
                          batch_first=True)
        self._set_state_dim(self.hidden_dim + self._user_option(with_user))

    def encode(self, batch: Batch) -> Tensor:

        """The state: (B, state_dim)."""
        embedded = self.items(batch.items, batch.feedback, batch.mask)
        seq = chronological(embedded, batch.mask, align="left")
        state = last_state(self.gru, seq, batch.mask.sum(dim=1).long())
        return self._with_user(state, batch)


class CaserEncoder(StateEncoder):
    """Caser state (Tang & Wang, WSDM 2018, "Personalized Top-N Sequential Recommendation
    via Convolutional Sequence Embedding").

    The L x d matrix of history embeddings (oldest to newest, empty slots zero at the
    start) goes through horizontal filters of heights `heights` (default 1..min(L, 4),
    `n_h` each, max-pooled over time) and `n_v` vertical filters of height L; their
    concatenation passes a ReLU layer of hidden_dim, and the user embedding is appended
    (state: hidden_dim + embed_dim).
    """

    def __init__(self, spec: ObsSpec, embed_dim: int = 32, hidden_dim: int = 64,
                 n_h: int = 16, n_v: int = 4, heights: tuple[int, ...] | None = None,
                 use_candidates: bool = True) -> None:
        super().__init__(spec, embed_dim, hidden_dim, use_candidates)
        length = spec.history_len
        heights = tuple(heights or range(1, min(length, 4) + 1))
        if not heights or min(heights) < 1 or max(heights) > length:
            from offline_data.shared.errors import InputError

            raise InputError(f"Caser heights must be in 1..{length} (history_len), got "
                             f"{heights}")
        self.horizontal = nn.ModuleList(nn.Conv2d(1, n_h, (h, self.embed_dim))
                                        for h in heights)
        self.vertical = nn.Conv2d(1, n_v, (length, 1))
        self.fc = nn.Linear(n_h * len(heights) + n_v * self.embed_dim, self.hidden_dim)
        self.user = UserEmbedding(spec.n_users, spec.user_feature_dim, self.embed_dim)
        self._set_state_dim(self.hidden_dim + self.embed_dim)

    def encode(self, batch: Batch) -> Tensor:

        """The state: (B, state_dim)."""
        embedded = self.items(batch.items, batch.feedback, batch.mask)
        image = chronological(embedded, batch.mask, align="right").unsqueeze(1)  # B,1,L,d
        pooled = [torch.relu(conv(image)).squeeze(3).amax(dim=2) for conv in self.horizontal]
        vertical = self.vertical(image).flatten(1)
        z = torch.relu(self.fc(torch.cat([*pooled, vertical], dim=1)))
        return torch.cat([z, self.user(batch.user, batch.user_x)], dim=1)


class _CausalBlock(nn.Module):
    """Pre-norm self-attention block (queries normalised, as in SASRec) and a point-wise
    feed-forward layer."""

    def __init__(self, dim: int, n_heads: int, ff_dim: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.norm_q = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, n_heads, dropout=dropout,
                                               batch_first=True)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff_dim), nn.ReLU(), nn.Dropout(dropout),
                                nn.Linear(ff_dim, dim), nn.Dropout(dropout))

    def forward(self, x: Tensor, blocked: Tensor) -> Tensor:
        """x (B, L, d); blocked (B * heads, L, L) bool, True where attention is not
        allowed."""
        q = self.norm_q(x)
        attended, _ = self.attention(q, x, x, attn_mask=blocked, need_weights=False)
        x = q + attended
        return x + self.ff(self.norm_ff(x))


class SASRecEncoder(_UserOption):
    """SASRec state (Kang & McAuley, ICDM 2018, "Self-Attentive Sequential
    Recommendation").

    History embeddings (item + feedback) from oldest to newest, right-aligned so the most
    recent is at position L - 1, plus learned positional embeddings, pass `n_blocks`
    causal self-attention blocks; the state is the output at the most recent position
    (embed_dim; zeros for an empty history). Each position may also attend to itself, so
    empty slots never attend over an empty set (no NaN).
    """

    def __init__(self, spec: ObsSpec, embed_dim: int = 32, hidden_dim: int = 64,
                 n_blocks: int = 2, n_heads: int = 2, dropout: float = 0.0,
                 with_user: bool = False, use_candidates: bool = True) -> None:
        super().__init__(spec, embed_dim, hidden_dim, use_candidates)
        if self.embed_dim % n_heads:
            n_heads = 1
        self.n_heads = n_heads
        self.positions = nn.Embedding(spec.history_len, self.embed_dim)
        nn.init.normal_(self.positions.weight, std=self.embed_dim ** -0.5)
        self.blocks = nn.ModuleList(_CausalBlock(self.embed_dim, n_heads, self.hidden_dim,
                                                 dropout) for _ in range(n_blocks))
        self.norm = nn.LayerNorm(self.embed_dim)
        self.dropout = nn.Dropout(dropout)
        self._set_state_dim(self.embed_dim + self._user_option(with_user))

    def encode(self, batch: Batch) -> Tensor:

        """The state: (B, state_dim)."""
        length = self.spec.history_len
        embedded = self.items(batch.items, batch.feedback, batch.mask)
        seq = chronological(embedded, batch.mask, align="right")
        mask = chronological(batch.mask[..., None], batch.mask, align="right")  # B, L, 1
        x = self.dropout((seq + self.positions.weight[None]) * mask)
        keys = mask[..., 0] > 0.5
        eye = torch.eye(length, dtype=torch.bool, device=x.device)
        causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        allowed = causal[None] & (keys[:, None, :] | eye[None])
        blocked = (~allowed).repeat_interleave(self.n_heads, dim=0)
        for block in self.blocks:
            x = block(x, blocked) * mask
        state = self.norm(x[:, -1]) * mask[:, -1]
        return self._with_user(state, batch)
