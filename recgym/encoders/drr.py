"""The DRR state representations (Liu et al., "Deep Reinforcement Learning based
Recommendation with Explicit User-Item Interactions Modeling", arXiv:1810.12027;
Knowledge-Based Systems 2020): DRR-p, DRR-u, DRR-ave and DRR-att, and DRR-n (no state
module, the paper's DDPG baseline).

The history items enter as item embedding plus the feedback projection (our histories hold
negative as well as positive interactions, so the feedback must be visible), each scaled by
a learned weight per position w_i (the paper's weighted layer); empty slots are zero
vectors, so their products vanish.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from recgym.encoders.base import Batch, StateEncoder, UserEmbedding, masked_softmax
from recgym.spaces import ObsSpec


class _DRRBase(StateEncoder):
    """Position-weighted history embeddings w_i e_i over the `n_recent` most recent slots,
    and the user representation."""

    def __init__(self, spec: ObsSpec, embed_dim: int, hidden_dim: int, n_recent: int | None,
                 use_user: bool, use_candidates: bool) -> None:
        super().__init__(spec, embed_dim, hidden_dim, use_candidates)
        self.n_recent = min(int(n_recent or spec.history_len), spec.history_len)
        self.position_weight = nn.Parameter(torch.ones(self.n_recent))
        self.user = (UserEmbedding(spec.n_users, spec.user_feature_dim, self.embed_dim)
                     if use_user else None)

    def weighted_items(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """(w_i e_i (B, n, d), mask (B, n)) for the n most recent slots."""
        n = self.n_recent
        mask = batch.mask[:, :n]
        items = self.items(batch.items[:, :n], batch.feedback[:, :n], mask)
        return items * self.position_weight[None, :, None], mask

    def user_vector(self, batch: Batch) -> Tensor:
        """u: (B, d)."""
        assert self.user is not None
        return self.user(batch.user, batch.user_x)


def _pairwise(items: Tensor) -> Tensor:
    """Element-wise products of every pair a < b of the n item vectors: (B, n(n-1)/2, d)."""
    a, b = torch.triu_indices(items.shape[1], items.shape[1], offset=1, device=items.device)
    return items[:, a] * items[:, b]


class DRRNEncoder(_DRRBase):
    """DRR-n: no state module, the weighted vectors w_i e_i of the `n_recent` most recent
    history items side by side (the paper's DDPG baseline); state width n * embed_dim."""

    def __init__(self, spec: ObsSpec, embed_dim: int = 32, hidden_dim: int = 64,
                 n_recent: int | None = None, use_candidates: bool = True) -> None:
        super().__init__(spec, embed_dim, hidden_dim,
                         n_recent or min(spec.history_len, 10), False, use_candidates)
        self._set_state_dim(self.n_recent * self.embed_dim)

    def encode(self, batch: Batch) -> Tensor:
        """The state: (B, state_dim)."""
        items, _ = self.weighted_items(batch)
        return items.flatten(1)


class DRRPEncoder(_DRRBase):
    """DRR-p: the item vectors w_i e_i and the pairwise products w_a e_a ⊗ w_b e_b of the
    `n_recent` most recent history items (default min(L, 10), to bound the quadratic
    width); state width (n + n(n-1)/2) * embed_dim. No user term."""

    def __init__(self, spec: ObsSpec, embed_dim: int = 32, hidden_dim: int = 64,
                 n_recent: int | None = None, use_candidates: bool = True) -> None:
        super().__init__(spec, embed_dim, hidden_dim,
                         n_recent or min(spec.history_len, 10), False, use_candidates)
        n = self.n_recent
        self._set_state_dim((n + n * (n - 1) // 2) * self.embed_dim)

    def encode(self, batch: Batch) -> Tensor:

        """The state: (B, state_dim)."""
        items, _ = self.weighted_items(batch)
        return torch.cat([items.flatten(1), _pairwise(items).flatten(1)], dim=1)


class DRRUEncoder(_DRRBase):
    """DRR-u: the user-item products u ⊗ w_i e_i together with the pairwise item products
    w_a e_a ⊗ w_b e_b (as in the paper) of the `n_recent` most recent history items
    (default min(L, 10)); state width (n + n(n-1)/2) * embed_dim."""

    def __init__(self, spec: ObsSpec, embed_dim: int = 32, hidden_dim: int = 64,
                 n_recent: int | None = None, use_candidates: bool = True) -> None:
        super().__init__(spec, embed_dim, hidden_dim,
                         n_recent or min(spec.history_len, 10), True, use_candidates)
        n = self.n_recent
        self._set_state_dim((n + n * (n - 1) // 2) * self.embed_dim)

    def encode(self, batch: Batch) -> Tensor:

        """The state: (B, state_dim)."""
        items, _ = self.weighted_items(batch)
        user_items = self.user_vector(batch)[:, None, :] * items
        return torch.cat([user_items.flatten(1), _pairwise(items).flatten(1)], dim=1)


class DRRAveEncoder(_DRRBase):
    """DRR-ave: a weighted average pooling p of the history items (the learned position
    weights, averaged over the filled slots), then [u, u ⊗ p, p] (3 * embed_dim)."""

    def __init__(self, spec: ObsSpec, embed_dim: int = 32, hidden_dim: int = 64,
                 n_recent: int | None = None, use_candidates: bool = True) -> None:
        super().__init__(spec, embed_dim, hidden_dim, n_recent, True, use_candidates)
        self._set_state_dim(3 * self.embed_dim)

    def pool(self, batch: Batch, user: Tensor) -> Tensor:
        """p: (B, d); zeros for an empty history."""
        items, mask = self.weighted_items(batch)
        return items.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1.0)

    def encode(self, batch: Batch) -> Tensor:

        """The state: (B, state_dim)."""
        user = self.user_vector(batch)
        pooled = self.pool(batch, user)
        return torch.cat([user, user * pooled, pooled], dim=1)


class DRRAttEncoder(DRRAveEncoder):
    """DRR-att: as DRR-ave, but p is an attention pooling of the history items conditioned
    on the user: a_i = softmax_i(v^T tanh(W_e w_i e_i + W_u u)) over the filled slots,
    p = sum_i a_i w_i e_i (zeros for an empty history)."""

    def __init__(self, spec: ObsSpec, embed_dim: int = 32, hidden_dim: int = 64,
                 n_recent: int | None = None, use_candidates: bool = True) -> None:
        super().__init__(spec, embed_dim, hidden_dim, n_recent, use_candidates)
        self.attn_items = nn.Linear(self.embed_dim, self.hidden_dim, bias=False)
        self.attn_user = nn.Linear(self.embed_dim, self.hidden_dim)
        self.attn_score = nn.Linear(self.hidden_dim, 1, bias=False)

    def attention(self, items: Tensor, mask: Tensor, user: Tensor) -> Tensor:
        """Attention weights (B, n) of the weighted items (B, n, d) given u (B, d)."""
        hidden = torch.tanh(self.attn_items(items) + self.attn_user(user)[:, None, :])
        return masked_softmax(self.attn_score(hidden).squeeze(-1), mask)

    def pool(self, batch: Batch, user: Tensor) -> Tensor:

        """p: the attention-pooled history (B, d); zeros for an empty history."""
        items, mask = self.weighted_items(batch)
        weights = self.attention(items, mask, user)
        return (weights[..., None] * items).sum(dim=1)
