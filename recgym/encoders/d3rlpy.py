"""d3rlpy adapter: any recgym state encoder as a d3rlpy `EncoderFactory`.

d3rlpy sees flat vector observations in the `ObsSpec.flatten` layout (ids as numbers, e.g.
from `offline_data`'s MDPDataset conversion or `FlattenHistory(env, items="id")`); the
encoders built here unflatten them and run the recgym encoder.

>>> from recgym.encoders.d3rlpy import RecEncoderFactory
>>> factory = RecEncoderFactory(encoder="sasrec", spec=spec.to_dict())  # doctest: +SKIP
>>> cql = d3rlpy.algos.DiscreteCQLConfig(encoder_factory=factory).create()  # doctest: +SKIP

Importing this module registers the factory under the type "recgym", which d3rlpy needs
before it can load a saved algorithm that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from d3rlpy.models.encoders import EncoderFactory, register_encoder_factory
from d3rlpy.models.torch import Encoder, EncoderWithAction
from torch import nn

from offline_data.shared.errors import InputError
from recgym.encoders import as_spec, make_encoder
from recgym.spaces import ObsSpec


def _check_shape(observation_shape: Any, spec: ObsSpec) -> None:
    shape = tuple(observation_shape)
    if len(shape) != 1 or isinstance(shape[0], (list, tuple)) or shape[0] != spec.flat_dim:
        raise InputError(f"the recgym encoder expects flat observations of {spec.flat_dim} "
                         f"values (ObsSpec.flatten), got shape {shape}; build the dataset "
                         "from ObsSpec.flatten of this environment's observations")


class RecEncoder(Encoder):
    """Flat observation (B, flat_dim) -> recgym state features, optionally through a ReLU
    layer of `head_dim` units (d3rlpy's Q-functions and policies put a linear layer on
    top)."""

    def __init__(self, spec: ObsSpec, encoder: str, head_dim: int | None = None,
                 **encoder_kwargs: Any) -> None:
        super().__init__()
        self.spec = spec
        self.state = make_encoder(encoder, spec, **encoder_kwargs)
        self.head = (nn.Sequential(nn.Linear(self.state.features_dim, head_dim), nn.ReLU())
                     if head_dim else nn.Identity())
        self.features_dim = head_dim or self.state.features_dim

    def forward(self, x: Any) -> torch.Tensor:
        """(B, flat_dim) -> (B, features_dim)."""
        return self.head(self.state(self.spec.unflatten(x.reshape(x.shape[0], -1))))


class RecEncoderWithAction(EncoderWithAction):
    """Flat observation and action -> features: the encoded state concatenated with the
    action (one-hot when discrete) through a ReLU layer of `out_dim` units."""

    def __init__(self, spec: ObsSpec, encoder: str, action_size: int, discrete_action: bool,
                 out_dim: int, **encoder_kwargs: Any) -> None:
        super().__init__()
        self.spec = spec
        self.action_size = int(action_size)
        self.discrete_action = bool(discrete_action)
        self.state = make_encoder(encoder, spec, **encoder_kwargs)
        self.mlp = nn.Sequential(
            nn.Linear(self.state.features_dim + self.action_size, out_dim), nn.ReLU())
        self.features_dim = int(out_dim)

    def forward(self, x: Any, action: torch.Tensor) -> torch.Tensor:
        """(B, flat_dim), (B, action_size) or discrete (B,) / (B, 1) -> (B, out_dim)."""
        state = self.state(self.spec.unflatten(x.reshape(x.shape[0], -1)))
        if self.discrete_action and not (action.dim() == 2
                                         and action.shape[1] == self.action_size > 1):
            action = F.one_hot(action.reshape(-1).long().clamp(0, self.action_size - 1),
                               num_classes=self.action_size)
        return self.mlp(torch.cat([state, action.to(state.dtype)], dim=1))


@dataclass()
class RecEncoderFactory(EncoderFactory):
    """d3rlpy encoder factory for the recgym state encoders.

    Args:
        encoder: name of the encoder (`recgym.encoders.ENCODERS`).
        spec: the environment's `ObsSpec.to_dict()` (sizes and the flat layout).
        embed_dim: item / user embedding width.
        hidden_dim: hidden width of the encoder, of the state head and of the
            state-action layer.
        head: put a ReLU layer of `hidden_dim` units on the state features (recommended:
            d3rlpy's heads on top are linear).
        encoder_kwargs: further architecture options of the encoder.
    """

    encoder: str = "drr_att"
    spec: dict = field(default_factory=dict)
    embed_dim: int = 32
    hidden_dim: int = 64
    head: bool = True
    encoder_kwargs: dict = field(default_factory=dict)

    def obs_spec(self) -> ObsSpec:
        """The `ObsSpec` of `spec`."""
        if not self.spec:
            raise InputError("RecEncoderFactory needs spec= (ObsSpec.to_dict() of the "
                             "environment, e.g. env.unwrapped.spec_sizes.to_dict())")
        return as_spec(self.spec)

    def _kwargs(self) -> dict[str, Any]:
        return {"embed_dim": self.embed_dim, "hidden_dim": self.hidden_dim,
                **self.encoder_kwargs}

    def create(self, observation_shape: Any) -> RecEncoder:
        """State encoder for flat observations of `observation_shape`."""
        spec = self.obs_spec()
        _check_shape(observation_shape, spec)
        return RecEncoder(spec, self.encoder, self.hidden_dim if self.head else None,
                          **self._kwargs())

    def create_with_action(self, observation_shape: Any, action_size: int,
                           discrete_action: bool = False) -> RecEncoderWithAction:
        """State-action encoder (Q-functions of continuous-action algorithms)."""
        spec = self.obs_spec()
        _check_shape(observation_shape, spec)
        return RecEncoderWithAction(spec, self.encoder, action_size, discrete_action,
                                    self.hidden_dim, **self._kwargs())

    @staticmethod
    def get_type() -> str:
        """The name d3rlpy stores with saved configs."""
        return "recgym"


def _register() -> None:
    from d3rlpy.models.encoders import EncoderFactory as Base
    from d3rlpy.serializable_config import CONFIG_STORAGE

    if RecEncoderFactory.get_type() not in CONFIG_STORAGE[Base].config_list:
        register_encoder_factory(RecEncoderFactory)


_register()

__all__ = ["RecEncoder", "RecEncoderFactory", "RecEncoderWithAction"]
