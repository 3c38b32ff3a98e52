"""State encoders for recgym observations.

Each encoder is an `nn.Module` with `features_dim`: it takes a dict of batched tensors
(`history_items` (B, L), `history_feedback` (B, L, S), `history_mask` (B, L), `user_id`
(B,), `user_features` (B, F), `session_step` / `session_index` (B, 1), and `candidates`
(B, C) in candidate mode; ids may be long or float numbers) and returns (B, features_dim).

>>> import recgym, gymnasium as gym
>>> from recgym.encoders import make_encoder, spec_from_space
>>> env = gym.make("RecGym/Synthetic-v0")
>>> encoder = make_encoder("sasrec", spec_from_space(env.observation_space))

Adapters: `recgym.encoders.sb3.RecFeaturesExtractor` (stable-baselines3) and
`recgym.encoders.d3rlpy.RecEncoderFactory` (d3rlpy).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from offline_data.shared.errors import InputError
from recgym.encoders.base import StateEncoder
from recgym.encoders.drr import (
    DRRAttEncoder,
    DRRAveEncoder,
    DRRNEncoder,
    DRRPEncoder,
    DRRUEncoder,
)
from recgym.encoders.sequential import (
    CaserEncoder,
    DEERSEncoder,
    GRU4RecEncoder,
    SASRecEncoder,
)
from recgym.spaces import ObsSpec

ENCODERS: dict[str, type[StateEncoder]] = {
    "deers": DEERSEncoder,
    "drr_n": DRRNEncoder,
    "drr_p": DRRPEncoder,
    "drr_u": DRRUEncoder,
    "drr_ave": DRRAveEncoder,
    "drr_att": DRRAttEncoder,
    "gru4rec": GRU4RecEncoder,
    "caser": CaserEncoder,
    "sasrec": SASRecEncoder,
}
"""Encoder name -> class."""


def as_spec(spec: ObsSpec | Mapping[str, Any]) -> ObsSpec:
    """An `ObsSpec`, or its `to_dict()` form, as an `ObsSpec`."""
    if isinstance(spec, ObsSpec):
        return spec
    if isinstance(spec, Mapping):
        try:
            return ObsSpec.from_dict(spec)
        except TypeError as err:
            raise InputError(f"spec is not an ObsSpec dictionary ({err}); pass "
                             "ObsSpec.to_dict() or an ObsSpec") from err
    raise InputError(f"spec must be an ObsSpec or its to_dict(), got {type(spec).__name__}")


def unknown_encoder(name: object, what: str = "encoder", alternatives: str = ""
                    ) -> InputError:
    """The error for `name`, which is not an encoder of `ENCODERS`: `unknown <what>`, a
    'did you mean' and the known names (followed by `alternatives`, e.g. ', or None')."""
    close = difflib.get_close_matches(str(name).lower().replace("-", "_"), list(ENCODERS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return InputError(f"unknown {what} {name!r}{hint} Known: {', '.join(ENCODERS)}"
                      f"{alternatives}")


def make_encoder(name: str, spec: ObsSpec | Mapping[str, Any], **kwargs: Any) -> StateEncoder:
    """Build the encoder `name` (a key of `ENCODERS`) for observations described by `spec`;
    `kwargs` go to its constructor (`embed_dim`, `hidden_dim`, architecture options)."""
    key = str(name).lower().replace("-", "_")
    if key not in ENCODERS:
        raise unknown_encoder(name)
    cls = ENCODERS[key]
    accepted = [p for p in inspect.signature(cls).parameters if p != "spec"]
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise InputError(f"encoder {key!r} takes no argument(s) {unknown}; it accepts "
                         f"{', '.join(accepted)}")
    return cls(as_spec(spec), **kwargs)


def _box_id_high(space: spaces.Box, key: str) -> int:
    high = np.asarray(space.high, dtype=np.float64)
    if not np.all(np.isfinite(high)):
        raise InputError(f"observation field {key!r} is a Box without finite bounds, so its "
                         "id range is unknown; pass spec= (an ObsSpec) explicitly")
    return round(float(high.max()))


def _bound(space: spaces.Space, default: int) -> int:
    high = float(np.max(space.high)) if isinstance(space, spaces.Box) else np.inf
    return int(high) if np.isfinite(high) else default


def _size(space: spaces.Space) -> int:
    """How many values a (fixed-shape) space holds."""
    if space.shape is None:
        raise InputError(f"{space} has no fixed shape; recgym observations need one")
    return int(np.prod(space.shape))


def spec_from_space(observation_space: spaces.Space) -> ObsSpec:
    """Rebuild an `ObsSpec` from a recgym `Dict` observation space.

    Id fields may be `Discrete` / `MultiDiscrete` (as the environments declare them) or
    `Box` with inclusive bounds 0..largest id (as `recgym.wrappers.IdsAsBox` declares
    them: `history_items` up to n_items, the empty id; `user_id` up to n_users - 1).
    Signal names are generic (`signal_0`, ...); `slate_size` is not part of the
    observation and is set to 1.
    """
    if not isinstance(observation_space, spaces.Dict):
        raise InputError(f"expected a recgym Dict observation space, got "
                         f"{type(observation_space).__name__}; for a flat Box pass spec=")
    fields = observation_space.spaces
    missing = [k for k in ("history_items", "history_feedback") if k not in fields]
    if missing:
        raise InputError(f"observation space lacks {missing}; is this a recgym environment?")
    items = fields["history_items"]
    if isinstance(items, spaces.MultiDiscrete):
        n_items = int(np.max(items.nvec)) - 1
    elif isinstance(items, spaces.Box):
        n_items = _box_id_high(items, "history_items")
    else:
        raise InputError(f"history_items must be MultiDiscrete or Box, got {items}")
    length = int(np.prod(items.shape))
    feedback = fields["history_feedback"]
    if not isinstance(feedback, spaces.Box):
        raise InputError(f"history_feedback must be a Box, got {feedback}")
    n_sig = int(feedback.shape[-1]) if len(feedback.shape) == 2 else 1
    low = np.asarray(feedback.low, np.float64).reshape(length, n_sig)[0]
    high = np.asarray(feedback.high, np.float64).reshape(length, n_sig)[0]
    user = fields.get("user_id")
    if user is None:
        n_users = 1
    elif isinstance(user, spaces.Discrete):
        n_users = int(user.n)
    elif isinstance(user, spaces.Box):
        n_users = _box_id_high(user, "user_id") + 1
    else:
        raise InputError(f"user_id must be Discrete or Box, got {user}")
    user_x = fields.get("user_features")
    candidates = fields.get("candidates")
    return ObsSpec(
        n_users=n_users, n_items=n_items,
        signal_names=tuple(f"signal_{i}" for i in range(n_sig)),
        signal_low=tuple(float(x) for x in low), signal_high=tuple(float(x) for x in high),
        history_len=length,
        user_feature_dim=1 if user_x is None else _size(user_x),
        slate_size=1,
        n_candidates=None if candidates is None else _size(candidates),
        max_steps=_bound(fields.get("session_step", spaces.Discrete(1)), 0),
        max_sessions=_bound(fields.get("session_index", spaces.Discrete(1)), 0))


__all__ = [
    "ENCODERS",
    "CaserEncoder",
    "DEERSEncoder",
    "DRRAttEncoder",
    "DRRAveEncoder",
    "DRRNEncoder",
    "DRRPEncoder",
    "DRRUEncoder",
    "GRU4RecEncoder",
    "SASRecEncoder",
    "StateEncoder",
    "as_spec",
    "make_encoder",
    "spec_from_space",
]
