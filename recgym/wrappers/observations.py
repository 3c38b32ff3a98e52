"""Observation wrappers: a flat `Box` for MLP policies, and id fields as `Box` for SB3."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from offline_data.shared.errors import InputError
from recgym.envs.base import rec_env

ID_KEYS = ("user_id", "history_items", "candidates")


class FlattenHistory(gym.ObservationWrapper):
    """A flat `Box` observation for MLP policies.

    `items="embedding"` (default) replaces every history item (and candidate) by its item
    embedding (`env.item_embeddings()`, zeros for empty slots) and drops the user id:
    [user features, history embeddings, feedback, mask, session step, session index,
    candidate embeddings]. `items="id"` keeps ids as numbers in the `ObsSpec.flatten`
    layout, for recgym encoders that unflatten it (d3rlpy).
    """

    def __init__(self, env: gym.Env, items: str = "embedding") -> None:
        super().__init__(env)
        if items not in ("embedding", "id"):
            raise InputError(f"items must be 'embedding' or 'id', got {items!r}")
        self.items = items
        base = rec_env(env, "FlattenHistory")
        self.spec_sizes = base.core.spec
        if not isinstance(env.observation_space, spaces.Dict):
            raise InputError(f"FlattenHistory needs a Dict observation space, got "
                             f"{env.observation_space}")
        self._dict_space = env.observation_space
        if items == "embedding":
            table = base.item_embeddings()
            self.table = np.vstack([table, np.zeros((1, table.shape[1]), np.float32)])
            dim = len(self.observation_sample())
        else:
            dim = self.spec_sizes.flat_dim
        self.observation_space = spaces.Box(-np.inf, np.inf, (dim,), np.float32)

    def observation_sample(self) -> np.ndarray:
        """A flattened zero observation (used to size the space)."""
        zero = {k: np.zeros(v.shape or (), dtype=v.dtype) for k, v in
                self._dict_space.spaces.items()}
        zero["history_items"] = np.full_like(zero["history_items"], self.spec_sizes.n_items)
        return self.observation(zero)

    def observation(self, observation: dict[str, Any]) -> np.ndarray:
        """Dict observation -> flat float32 vector."""
        if self.items == "id":
            batch = {k: np.asarray(v)[None, ...] for k, v in observation.items()}
            return self.spec_sizes.flatten(batch)[0]
        parts = [np.asarray(observation["user_features"], np.float32).ravel(),
                 self.table[np.asarray(observation["history_items"])].ravel(),
                 np.asarray(observation["history_feedback"], np.float32).ravel(),
                 np.asarray(observation["history_mask"], np.float32).ravel(),
                 np.log1p(np.asarray(observation["session_step"], np.float32)).ravel(),
                 np.asarray(observation["session_index"], np.float32).ravel()]
        if "candidates" in observation:
            parts.append(self.table[np.asarray(observation["candidates"])].ravel())
        return np.concatenate(parts).astype(np.float32)


class IdsAsBox(gym.ObservationWrapper):
    """Declares the id fields (`user_id`, `history_items`, `candidates`) as float `Box`es.

    stable-baselines3 one-hot encodes `Discrete` / `MultiDiscrete` observations, which for
    a catalogue of thousands of items makes huge inputs; with this wrapper the ids reach
    the features extractor (`recgym.encoders.sb3.RecFeaturesExtractor`) as numbers.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        if not isinstance(env.observation_space, spaces.Dict):
            raise InputError(f"IdsAsBox needs a Dict observation space, got "
                             f"{env.observation_space}")
        fields = dict(env.observation_space.spaces)
        for key in ID_KEYS:
            if key not in fields:
                continue
            space = fields[key]
            if isinstance(space, spaces.Discrete):
                fields[key] = spaces.Box(0.0, float(space.n - 1), (1,), np.float32)
            elif isinstance(space, spaces.MultiDiscrete):
                fields[key] = spaces.Box(0.0, float(int(np.max(space.nvec)) - 1), space.shape,
                                         np.float32)
        self.observation_space = self._boxes = spaces.Dict(fields)

    def observation(self, observation: dict[str, Any]) -> dict[str, Any]:
        """Ids as float32 arrays."""
        out = dict(observation)
        for key in ID_KEYS:
            if key in out:
                out[key] = np.asarray(out[key], np.float32).reshape(
                    self._boxes[key].shape or ())
        return out
