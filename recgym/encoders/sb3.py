"""stable-baselines3 adapter: any recgym state encoder as a `BaseFeaturesExtractor`.

>>> from stable_baselines3 import PPO
>>> from recgym.encoders.sb3 import RecFeaturesExtractor
>>> model = PPO("MultiInputPolicy", env, policy_kwargs={  # doctest: +SKIP
...     "features_extractor_class": RecFeaturesExtractor,
...     "features_extractor_kwargs": {"encoder": "sasrec"}})

SB3 preprocesses observations before the extractor: `Discrete` / `MultiDiscrete` fields
arrive one-hot encoded, and the extractor turns them back into ids (arg-max per chunk);
id fields declared as `Box` (`recgym.wrappers.IdsAsBox`, which avoids huge one-hots for
large catalogues) arrive as float ids and are rounded. The choice is made once, from the
observation space's type of each field. A flat `Box` observation in the `ObsSpec.flatten`
layout (`recgym.wrappers.FlattenHistory(env, items="id")`) needs `spec=` and is
unflattened.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from offline_data.shared.errors import InputError
from recgym.encoders import as_spec, make_encoder, spec_from_space
from recgym.spaces import ObsSpec


class RecFeaturesExtractor(BaseFeaturesExtractor):
    """A recgym state encoder (`encoder`, a name of `recgym.encoders.ENCODERS`) as an SB3
    features extractor; `encoder_kwargs` go to the encoder (`embed_dim`, `hidden_dim`,
    ...). `spec` (an `ObsSpec` or its dict) is required for a flat `Box` observation and
    overrides the sizes read from a `Dict` space."""

    def __init__(self, observation_space: spaces.Space, encoder: str = "drr_att",
                 spec: ObsSpec | Mapping[str, Any] | None = None,
                 **encoder_kwargs: Any) -> None:
        if isinstance(observation_space, spaces.Box):
            if spec is None:
                raise InputError("a flat Box observation needs spec= (the environment's "
                                 "ObsSpec, env.unwrapped.spec_sizes) to be unflattened")
            obs_spec = as_spec(spec)
            width = int(np.prod(observation_space.shape))
            if width != obs_spec.flat_dim:
                raise InputError(f"the flat observation has {width} values but spec "
                                 f"describes {obs_spec.flat_dim}; pass the spec of this env")
        elif isinstance(observation_space, spaces.Dict):
            obs_spec = as_spec(spec) if spec is not None else spec_from_space(observation_space)
        else:
            raise InputError(f"RecFeaturesExtractor needs a recgym Dict observation or its "
                             f"flat Box, got {type(observation_space).__name__}")
        module = make_encoder(encoder, obs_spec, **encoder_kwargs)
        super().__init__(observation_space, module.features_dim)
        self.encoder = module
        self.spec = obs_spec
        self.flat = isinstance(observation_space, spaces.Box)
        # one-hot chunk widths of the fields SB3 one-hot encodes
        self.one_hot: dict[str, list[int]] = {}
        if isinstance(observation_space, spaces.Dict):
            for key, space in observation_space.spaces.items():
                if isinstance(space, spaces.Discrete):
                    self.one_hot[key] = [int(space.n)]
                elif isinstance(space, spaces.MultiDiscrete):
                    self.one_hot[key] = [int(n) for n in np.asarray(space.nvec).ravel()]

    def ids(self, observations: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Preprocessed SB3 observations -> the encoder's dict (one-hots back to ids)."""
        out = {}
        for key, value in observations.items():
            widths = self.one_hot.get(key)
            if widths is None:
                out[key] = value
                continue
            rows = value.reshape(value.shape[0], -1)
            if len(set(widths)) == 1:
                out[key] = rows.reshape(rows.shape[0], len(widths), widths[0]).argmax(-1)
            else:
                out[key] = torch.stack([chunk.argmax(-1) for chunk in
                                        rows.split(widths, dim=1)], dim=1)
        return out

    def forward(self, observations: Any) -> torch.Tensor:
        """(B, features_dim) features of a batch of preprocessed observations."""
        if self.flat:
            return self.encoder(self.spec.unflatten(observations.reshape(
                observations.shape[0], -1)))
        return self.encoder(self.ids(observations))
