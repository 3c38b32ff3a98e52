"""Torch networks of a fitted simulator: the multi-task response model and the small
user-context models behind leaving and returning."""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from simulators.sim_config import SimulatorConfig

HEAD_WIDTH = 32
LOG_SIGMA_MIN, LOG_SIGMA_MAX = -2.0, 3.0
"""Bounds of a continuous head's log standard deviation (standardised units). The lower
bound keeps an exactly predictable value (a watch ratio of 0 without a click) from driving
the Gaussian likelihood to minus infinity and swamping the other signals' losses."""


def mlp(sizes: list[int], final_activation: bool = True) -> nn.Sequential:
    """Linear layers with ReLU between them (and after the last when asked)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if final_activation or i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Encoded(NamedTuple):
    """The response model's view of a batch of rows: one representation per signal, and
    the per-signal user + item biases."""

    reps: list[torch.Tensor]
    bias: torch.Tensor


class ResponseNet(nn.Module):
    """Multi-task response model over user, item, features and recent history.

    Inputs per row: `user` and `item` ids (id n_users / n_items means unknown), the last
    `history_len` items (`hist_items`, padded with n_items + 1) with their feedback
    (`hist_feedback`), `context` = (log1p step in session, log1p session index, log1p items
    consumed so far, log1p hours since the previous interaction), and `profile`: the mean
    item features of everything the user consumed (primary signal 1) so far, a long-term
    interest summary beyond the short history, plus where the item itself appears in the
    history (repeated exposure), how many categories (one-hot item feature columns, marked
    by `item_categories`) each recent item shares with it, also counted only where it was
    taken (topic fatigue), and how many hours ago it was shown (`hist_hours`). A shared
    bottom or an MMoE gives one representation per signal. The primary (binary) signal has
    its own head; every other head has one output set per value of the primary signal and
    answers with the one for the value given, so dependences such as "a like needs a click"
    are learnt exactly and sampling stays consistent. Binary heads output a
    logit, continuous heads a mean and a log standard deviation (standardised units).
    """

    user_x: torch.Tensor
    item_x: torch.Tensor
    item_categories: torch.Tensor

    def __init__(
        self,
        n_users: int,
        n_items: int,
        user_x: torch.Tensor,
        item_x: torch.Tensor,
        binary: list[bool],
        primary: int,
        config: SimulatorConfig,
        item_categories: torch.Tensor | np.ndarray | None = None,
    ) -> None:
        super().__init__()
        d = config.embed_dim
        self.n_users, self.n_items = n_users, n_items
        self.primary = primary
        self.binary = list(binary)
        self.use_features = config.use_features and (user_x.shape[1] + item_x.shape[1]) > 0
        self.use_history = config.use_history
        self.arch = config.arch
        n_signals = len(binary)
        fu, fi = user_x.shape[1], item_x.shape[1]
        self.register_buffer("user_x", torch.cat([user_x, torch.zeros(1, fu)]))
        self.register_buffer("item_x", torch.cat([item_x, torch.zeros(2, fi)]))
        categories = (torch.zeros(fi) if item_categories is None
                      else torch.as_tensor(item_categories, dtype=torch.float32))
        self.register_buffer("item_categories", categories, persistent=False)
        self.user_emb = nn.Embedding(n_users + 1, d)
        self.item_emb = nn.Embedding(n_items + 2, d, padding_idx=n_items + 1)
        nn.init.normal_(self.user_emb.weight, std=0.05)
        nn.init.normal_(self.item_emb.weight, std=0.05)
        with torch.no_grad():
            self.item_emb.weight[n_items + 1].zero_()
        in_dim = 3 * d
        if self.use_features:
            in_dim += fu + fi
        if self.use_history:
            self.feedback_proj = nn.Linear(n_signals, d)
            in_dim += 2 * d + n_signals + 5 + 3 * config.history_len
            if self.use_features:
                in_dim += 4 * fi + 2 * config.history_len
        self.dropout = nn.Dropout(config.feature_dropout)
        sizes = [in_dim, *config.hidden]
        if self.arch == "mmoe":
            self.experts = nn.ModuleList(mlp(sizes) for _ in range(config.n_experts))
            self.gates = nn.ModuleList(nn.Linear(in_dim, config.n_experts)
                                       for _ in range(n_signals))
        else:
            self.bottom = mlp(sizes)
        width = config.hidden[-1]
        # per-signal user and item biases, added to each head's logit / mean: additive
        # propensities (a user who clicks a lot, a catchy item) are learnt directly
        self.user_bias = nn.Embedding(n_users + 1, n_signals)
        self.item_bias = nn.Embedding(n_items + 2, n_signals)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)
        self.heads = nn.ModuleList()
        for s, is_binary in enumerate(binary):
            out = 1 if is_binary else 2
            # a dependent head has one output set per value of the primary signal
            branches = 1 if s == primary else 2
            self.heads.append(mlp([width, HEAD_WIDTH, branches * out], final_activation=False))

    def inputs(
        self,
        user: torch.Tensor,
        item: torch.Tensor,
        hist_items: torch.Tensor,
        hist_feedback: torch.Tensor,
        context: torch.Tensor,
        profile: torch.Tensor,
        hist_hours: torch.Tensor,
        seen_item: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The concatenated input vector of each row. `seen_item` is the item compared with
        the history (default `item`; training passes the id before id dropout, so hiding
        an id does not hide that the item was just shown)."""
        u, i = self.user_emb(user), self.item_emb(item)
        parts = [u, i, u * i]
        if self.use_features:
            item_x = self.item_x[item]
            parts += [self.user_x[user], item_x]
        if self.use_history:
            mask = (hist_items != self.n_items + 1).float()
            count = mask.sum(1, keepdim=True).clamp(min=1.0)
            weights = (mask / count).unsqueeze(-1)
            hist = self.item_emb(hist_items) + self.feedback_proj(hist_feedback)
            hist_vec = (hist * weights).sum(1)
            # where the item itself appears in the history, and whether it was taken then:
            # repeated exposure is one of the strongest effects on a response
            compared = item if seen_item is None else seen_item
            repeat = (hist_items == compared[:, None]).float() * mask
            parts += [hist_vec, i * hist_vec, (hist_feedback * weights).sum(1), context,
                      mask.mean(1, keepdim=True), repeat,
                      repeat * hist_feedback[:, :, self.primary],
                      torch.log1p(hist_hours.clamp(min=0.0)) * mask]
            if self.use_features:
                hist_item_x = self.item_x[hist_items]
                hist_x = (hist_item_x * weights).sum(1)
                # categories each recent item shares with this one (the same topic, ...)
                alike = (hist_item_x * (item_x * self.item_categories)[:, None, :]).sum(-1) * mask
                parts += [hist_x, hist_x * item_x, profile, profile * item_x, alike,
                          alike * hist_feedback[:, :, self.primary]]
        return self.dropout(torch.cat(parts, dim=1))

    def represent(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One representation per signal (the same tensor for a shared bottom)."""
        if self.arch == "mmoe":
            experts = torch.stack([e(x) for e in self.experts], dim=1)  # (N, E, H)
            return [(torch.softmax(g(x), dim=1).unsqueeze(-1) * experts).sum(1)
                    for g in self.gates]
        shared = self.bottom(x)
        return [shared] * len(self.heads)

    def encode(
        self,
        user: torch.Tensor,
        item: torch.Tensor,
        hist_items: torch.Tensor,
        hist_feedback: torch.Tensor,
        context: torch.Tensor,
        profile: torch.Tensor,
        hist_hours: torch.Tensor,
        seen_item: torch.Tensor | None = None,
    ) -> Encoded:
        """Inputs (as `inputs`) -> per-signal representations and biases."""
        reps = self.represent(self.inputs(user, item, hist_items, hist_feedback, context,
                                          profile, hist_hours, seen_item))
        return Encoded(reps, self.user_bias(user) + self.item_bias(item))

    def primary_logit(self, rows: Encoded) -> torch.Tensor:
        """Logit of the primary signal, shape (N,)."""
        p = self.primary
        return self.heads[p](rows.reps[p]).squeeze(1) + rows.bias[:, p]

    def conditional(self, rows: Encoded, primary_value: torch.Tensor
                    ) -> list[torch.Tensor | None]:
        """Outputs of the other heads given the primary signal's value, 0 or 1 (None for
        primary); the bias shifts each head's first output (its logit or mean)."""
        value = primary_value.unsqueeze(1)
        rest = 1.0 - value
        out: list[torch.Tensor | None] = []
        for s, head in enumerate(self.heads):
            if s == self.primary:
                out.append(None)
                continue
            both = head(rows.reps[s])
            half = both.shape[1] // 2
            raw = both[:, :half] * rest + both[:, half:] * value
            out.append(torch.cat([raw[:, :1] + rows.bias[:, s:s + 1], raw[:, 1:]], dim=1))
        return out


LEAVE_CONTEXT = 3
"""Session context of the leave model: see `leave_context`."""


def leave_context(steps: np.ndarray, session_index: np.ndarray) -> list[np.ndarray]:
    """Steps taken (log-scaled, and linear up to 50: fatigue grows step by step) and the
    session index, as columns for the leave model."""
    steps = np.asarray(steps, dtype=np.float64)
    return [np.log1p(steps), np.minimum(steps, 50.0) / 10.0,
            np.log1p(np.asarray(session_index, dtype=np.float64))]


class UserContextNet(nn.Module):
    """A small MLP over a user's id embedding, user features and per-row context; used for
    the leave hazard (one logit) and the return-gap distribution (one logit per bucket)."""

    user_x: torch.Tensor

    def __init__(
        self, n_users: int, user_x: torch.Tensor, context_dim: int, out_dim: int,
        embed_dim: int = 8, width: int = 64,
    ) -> None:
        super().__init__()
        self.register_buffer("user_x", torch.cat([user_x, torch.zeros(1, user_x.shape[1])]))
        self.user_emb = nn.Embedding(n_users + 1, embed_dim)
        nn.init.normal_(self.user_emb.weight, std=0.05)
        self.net = mlp([embed_dim + user_x.shape[1] + context_dim, width, width, out_dim],
                       final_activation=False)

    def forward(self, user: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, out_dim)."""
        return self.net(torch.cat([self.user_emb(user), self.user_x[user], context], dim=1))
