"""Sim2Rec's environment-parameter extractor and the features extractor that puts it
beside a recgym state encoder.

The extractor reads the recent trajectory the observation already carries (the items
shown, the feedback to each, the session step and index) and the user's features (what
is typical for this user, against which the trajectory is read): an LSTM over the
history, oldest to newest, then an MLP with a tanh output, a context vector that says which kind
of world the user lives in. Being a function of the observation, the policy stays
stateless: `predict(obs)` works for one observation or a batch, in any environment with
the same spaces.
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from torch import Tensor, nn

from agents.sim2rec.param_head import ParamHead
from recgym.encoders.base import CONTEXT_DIM, chronological, prepare, symlog
from recgym.encoders.sb3 import RecFeaturesExtractor
from recgym.spaces import ObsSpec


class ContextExtractor(nn.Module):
    """History (items, feedback) -> LSTM; with the user's features and the session step
    and index -> MLP [hidden...] -> tanh context vector."""

    def __init__(self, spec: ObsSpec, item_dim: int = 16, lstm_units: int = 64,
                 hidden: tuple[int, ...] = (64, 64), context_dim: int = 64) -> None:
        super().__init__()
        self.spec = spec
        self.items = nn.Embedding(spec.n_items + 1, item_dim, padding_idx=spec.n_items)
        self.lstm = nn.LSTM(item_dim + spec.n_signals + 1, lstm_units, batch_first=True)
        self.user = nn.Linear(spec.user_feature_dim, 16)
        layers: list[nn.Module] = []
        width = lstm_units + 16 + CONTEXT_DIM  # the user's features; session step and index
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers += [nn.Linear(width, context_dim), nn.Tanh()]
        self.mlp = nn.Sequential(*layers)
        self.context_dim = int(context_dim)

    def forward(self, obs: dict[str, Tensor]) -> Tensor:
        """(B, context_dim) context of a batch of (id-form) observations."""
        batch = prepare(obs, self.spec)
        steps = torch.cat([self.items(batch.items), symlog(batch.feedback),
                           batch.mask[..., None]], dim=-1) * batch.mask[..., None]
        ordered = chronological(steps, batch.mask, align="right")  # newest last
        _, (hidden, _) = self.lstm(ordered)
        user = torch.relu(self.user(batch.user_x))
        return self.mlp(torch.cat([hidden[-1], user, batch.context], dim=1))


class ContextFeatures(RecFeaturesExtractor):
    """A recgym state encoder's features with the context vector appended:
    `features_dim` = encoder features + `context_dim`. `context(obs)` gives the context
    alone; `param_head` predicts `n_params` member parameters from it (it is not part of
    the features)."""

    def __init__(self, observation_space: spaces.Space, encoder: str = "drr_att",
                 context: dict[str, Any] | None = None, n_params: int = 1,
                 **encoder_kwargs: Any) -> None:
        super().__init__(observation_space, encoder, **encoder_kwargs)
        self.context_net = ContextExtractor(self.spec, **(context or {}))
        self.param_head = ParamHead(self.context_net.context_dim, n_params)
        self._features_dim = self.encoder.features_dim + self.context_net.context_dim

    def _ids(self, observations: Any) -> dict[str, Tensor]:
        if self.flat:
            return self.spec.unflatten(observations.reshape(observations.shape[0], -1))
        return self.ids(observations)

    def context(self, observations: Any) -> Tensor:
        """(B, context_dim) context of preprocessed SB3 observations."""
        return self.context_net(self._ids(observations))

    def forward(self, observations: Any) -> Tensor:
        """(B, features_dim): state features, then the context."""
        obs = self._ids(observations)
        return torch.cat([self.encoder(obs), self.context_net(obs)], dim=1)
