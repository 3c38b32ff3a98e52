"""Shared parts of the state encoders: observation preparation, item and user embeddings,
ordering of the history, and the `StateEncoder` base class."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from recgym.spaces import ObsSpec

CONTEXT_DIM = 2
"""Width of the context appended by every encoder: log(1 + session_step),
log(1 + session_index)."""


def symlog(x: Tensor) -> Tensor:
    """sign(x) * log(1 + |x|): keeps binary signals small and tames large continuous ones
    (watch time in seconds) without clipping."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


def as_ids(x: Tensor, high: int) -> Tensor:
    """Numeric ids (long, or float from a flat layout) -> long ids clamped to 0..high."""
    if x.is_floating_point():
        x = torch.round(x)
    return x.long().clamp(0, high)


@dataclass
class Batch:
    """One batch of observations in the form the encoders use.

    `items` (B, L) long, empty slots hold `n_items`; `feedback` (B, L, S) float, zero in
    empty slots; `mask` (B, L) float (1 = filled); `user` (B,) long; `user_x` (B, F)
    float; `context` (B, 2) float; `candidates` (B, C) long or None. Index 0 of L is the
    most recent interaction.
    """

    items: Tensor
    feedback: Tensor
    mask: Tensor
    user: Tensor
    user_x: Tensor
    context: Tensor
    candidates: Tensor | None


def prepare(obs: Mapping[str, Tensor], spec: ObsSpec) -> Batch:
    """Cast and clean a dict of batched tensors (ids may be long or float numbers)."""
    items = obs["history_items"]
    batch = items.shape[0]
    length, n_sig = spec.history_len, spec.n_signals
    items = as_ids(items.reshape(batch, length), spec.n_items)
    ref = obs.get("history_feedback")
    dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float32
    mask = obs.get("history_mask")
    filled = items < spec.n_items
    if mask is not None:
        filled = filled & (mask.reshape(batch, length) > 0.5)
    items = torch.where(filled, items, torch.full_like(items, spec.n_items))
    maskf = filled.to(dtype)
    if ref is None:
        feedback = torch.zeros(batch, length, n_sig, dtype=dtype, device=items.device)
    else:
        feedback = ref.reshape(batch, length, n_sig).to(dtype) * maskf[..., None]
    zeros = torch.zeros(batch, dtype=dtype, device=items.device)
    user = obs.get("user_id")
    user = zeros.long() if user is None else as_ids(user.reshape(batch), spec.n_users - 1)
    user_x = obs.get("user_features")
    user_x = (torch.zeros(batch, spec.user_feature_dim, dtype=dtype, device=items.device)
              if user_x is None else user_x.reshape(batch, -1).to(dtype))
    context = []
    for key in ("session_step", "session_index"):
        value = obs.get(key)
        value = zeros if value is None else value.reshape(batch, -1)[:, 0].to(dtype)
        context.append(torch.log1p(value.clamp(min=0.0)))
    candidates = obs.get("candidates")
    if candidates is not None and spec.n_candidates is not None:
        candidates = as_ids(candidates.reshape(batch, spec.n_candidates), spec.n_items - 1)
    else:
        candidates = None
    return Batch(items, feedback, maskf, user, user_x, torch.stack(context, dim=1), candidates)


class ItemEmbedding(nn.Module):
    """Item id embedding (the empty id `n_items` is a zero padding row) plus a linear map of
    the (symlog-scaled) feedback vector, added where the architecture wants feedback.
    Empty slots come out as zero vectors."""

    def __init__(self, n_items: int, n_signals: int, embed_dim: int) -> None:
        super().__init__()
        self.n_items = int(n_items)
        self.embedding = nn.Embedding(self.n_items + 1, embed_dim, padding_idx=self.n_items)
        nn.init.normal_(self.embedding.weight, std=1.0 / math.sqrt(embed_dim))
        with torch.no_grad():
            self.embedding.weight[self.n_items].zero_()
        self.feedback = nn.Linear(n_signals, embed_dim, bias=False)

    def forward(self, items: Tensor, feedback: Tensor | None = None,
                mask: Tensor | None = None) -> Tensor:
        """(B, L) ids [, (B, L, S) feedback, (B, L) mask] -> (B, L, embed_dim)."""
        out = self.embedding(items)
        if feedback is not None:
            out = out + self.feedback(symlog(feedback))
        if mask is not None:
            out = out * mask[..., None]
        return out


class UserEmbedding(nn.Module):
    """User representation: an embedding of `user_id` plus a projection of the user
    features."""

    def __init__(self, n_users: int, feature_dim: int, embed_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(max(int(n_users), 1), embed_dim)
        nn.init.normal_(self.embedding.weight, std=1.0 / math.sqrt(embed_dim))
        self.features = nn.Linear(max(int(feature_dim), 1), embed_dim)

    def forward(self, user: Tensor, user_x: Tensor) -> Tensor:
        """(B,) ids and (B, F) features -> (B, embed_dim)."""
        return self.embedding(user) + self.features(user_x)


def chronological(x: Tensor, mask: Tensor, align: str = "left") -> Tensor:
    """Reorder the filled slots of `x` (B, L, ...) from oldest to newest.

    The observation is most recent first; `align="left"` puts the filled slots first
    (oldest at index 0, newest at index n - 1, then the empty ones), as a recurrent network
    reads them; `align="right"` puts the empty slots first so the newest interaction is
    always at index L - 1 (convolutions, causal attention). Works for any mask, not only
    a filled prefix.
    """
    length = mask.shape[1]
    pos = torch.arange(length, device=mask.device).expand_as(mask)
    filled = mask > 0.5
    oldest_first = length - 1 - pos
    if align == "left":
        key = torch.where(filled, oldest_first, length + pos)
    elif align == "right":
        key = torch.where(filled, length + oldest_first, pos)
    else:
        raise ValueError(f"align must be 'left' or 'right', got {align!r}")
    order = key.argsort(dim=1)
    index = order.reshape(*order.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the last axis restricted to `mask`; all-zero weights (not NaN) for a
    row with nothing to attend to."""
    filled = mask > 0.5
    weights = torch.softmax(scores.masked_fill(~filled, -1e9), dim=-1)
    return weights * filled.to(weights.dtype)


class StateEncoder(nn.Module, ABC):
    """Base of every recgym state encoder.

    Subclasses build their layers in `__init__`, call `self._set_state_dim(width)` and
    implement `encode(batch) -> (B, width)`. `forward` takes a dict of batched tensors
    (see `prepare`) and returns (B, features_dim): the encoded state, the session context
    and, in candidate mode with `use_candidates`, the embeddings of the candidates (the
    action indexes them, so the policy must see them).
    """

    features_dim: int

    def __init__(self, spec: ObsSpec, embed_dim: int = 32, hidden_dim: int = 64,
                 use_candidates: bool = True) -> None:
        super().__init__()
        if embed_dim < 1 or hidden_dim < 1:
            from offline_data.shared.errors import InputError

            raise InputError(f"embed_dim and hidden_dim must be positive, got {embed_dim} "
                             f"and {hidden_dim}")
        self.spec = spec
        self.embed_dim = int(embed_dim)
        self.hidden_dim = int(hidden_dim)
        self.items = ItemEmbedding(spec.n_items, spec.n_signals, self.embed_dim)
        self.use_candidates = bool(use_candidates and spec.n_candidates)
        self.state_dim = 0
        self.features_dim = 0

    def _set_state_dim(self, width: int) -> None:
        self.state_dim = int(width)
        extra = (self.spec.n_candidates or 0) * self.embed_dim if self.use_candidates else 0
        self.features_dim = self.state_dim + CONTEXT_DIM + extra

    @abstractmethod
    def encode(self, batch: Batch) -> Tensor:
        """The architecture's state: (B, state_dim)."""

    def forward(self, obs: Mapping[str, Tensor]) -> Tensor:
        """Dict of batched tensors -> (B, features_dim)."""
        batch = prepare(obs, self.spec)
        parts = [self.encode(batch), batch.context]
        if self.use_candidates:
            if batch.candidates is None:
                from offline_data.shared.errors import InputError

                raise InputError("this encoder was built for candidate mode but the "
                                 "observation has no 'candidates'")
            parts.append(self.items(batch.candidates).flatten(1))
        return torch.cat(parts, dim=1)
