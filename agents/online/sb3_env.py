"""A stable-baselines3 `VecEnv` over a recgym vector environment (no Python loop over
users): SB3's same-step autoreset with `terminal_observation`, id fields as float
`Box`es (no huge one-hots), and optionally DRR-style continuous actions."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from recgym.envs.vector import RecVectorEnv
from recgym.metrics import EpisodeAccumulator
from recgym.wrappers.continuous import ranked_actions
from recgym.wrappers.observations import ID_KEYS
from simulators.interface import make_distinct


def ids_as_box_space(space: spaces.Dict) -> spaces.Dict:
    """The observation space with id fields as float `Box`es (as `IdsAsBox` declares)."""
    fields = dict(space.spaces)
    for key in ID_KEYS:
        if key in fields:
            item = fields[key]
            if isinstance(item, spaces.Discrete):
                fields[key] = spaces.Box(0.0, float(item.n - 1), (1,), np.float32)
            elif isinstance(item, spaces.MultiDiscrete):
                fields[key] = spaces.Box(0.0, float(np.max(item.nvec) - 1), item.shape,
                                         np.float32)
    return spaces.Dict(fields)


def sb3_obs(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A batched recgym observation with id fields as float32 (user ids as (B, 1))."""
    out = dict(obs)
    for key in ID_KEYS:
        if key in out:
            value = np.asarray(out[key], np.float32)
            out[key] = value.reshape(len(value), -1)
    return out


class RecSB3VecEnv(VecEnv):
    """SB3's view of a `RecVectorEnv`. `embeddings` (n_items, d) switches to a
    `Box(-1, 1, (d,))` ranking-vector action scored against them (top-k items, skipping
    the user's recent history with `exclude_seen`)."""

    def __init__(self, env: RecVectorEnv, embeddings: np.ndarray | None = None,
                 exclude_seen: bool = False) -> None:
        self.vec = env
        self.exclude_seen = exclude_seen
        self.core = env.core
        self.embeddings = None if embeddings is None else np.asarray(embeddings, np.float32)
        if self.embeddings is None:
            action_space = env.single_action_space
        else:
            action_space = spaces.Box(-1.0, 1.0, (self.embeddings.shape[1],), np.float32)
        assert isinstance(env.single_observation_space, spaces.Dict)
        super().__init__(env.num_envs, ids_as_box_space(env.single_observation_space),
                         action_space)
        self.accumulator = EpisodeAccumulator(env.num_envs, env.reward_names,
                                              env.config.slate_size)
        self._actions: np.ndarray | None = None

    # ------------------------------------------------------------------ VecEnv API
    def reset(self) -> dict[str, np.ndarray]:
        index = np.arange(self.num_envs)
        self.vec.reset_rows(index, seeds=self._seeds)
        self._reset_seeds()
        self.accumulator.finish(index, np.zeros(self.num_envs, bool))
        return sb3_obs(self.core.observation())

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[dict]]:
        if self._actions is None:
            raise RuntimeError("step_wait() without step_async(actions)")
        actions = self.items(self._actions)
        reward, terminated, truncated, info = self.core.step(actions)
        index = np.arange(self.num_envs)
        self.accumulator.add(index, reward, info["reward_vector"], info["left_session"],
                             info["return_gap_h"], info["churned"])
        done = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        ended = np.flatnonzero(done)
        if len(ended):
            terminal = sb3_obs(self.core.observation(ended))
            metrics = self.accumulator.finish(ended, info["churned"][ended])
            for j, row in enumerate(ended):
                infos[row] = {
                    "terminal_observation": {k: v[j] for k, v in terminal.items()},
                    "TimeLimit.truncated": bool(truncated[row] and not terminated[row]),
                    "episode": {"r": metrics[j]["total_return"], "l": int(metrics[j]["steps"])},
                    "episode_rec": metrics[j],
                }
            self.vec.reset_rows(ended)
        return sb3_obs(self.core.observation()), reward.astype(np.float32), done, infos

    def items(self, actions: np.ndarray) -> np.ndarray:
        """Agent actions -> environment actions: ranking vectors -> top-k items; discrete
        slates, whose positions SB3 samples independently, get repeated items replaced by
        the next free ones."""
        if self.embeddings is None:
            k = self.vec.config.slate_size
            if k == 1:
                return actions
            choices = self.vec.config.n_candidates or self.core.n_items
            return make_distinct(np.asarray(actions).reshape(-1, k), choices)
        # the current histories and candidates, without building a whole observation
        shown = {"history_items": self.core.hist_items, "candidates": self.core.candidates}
        return ranked_actions(actions, self.embeddings, shown, self.vec.config.slate_size,
                              self.core.n_items, self.exclude_seen)

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.vec, attr_name, None)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.vec, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None,
                   **kwargs: Any) -> list[Any]:
        result = getattr(self.vec, method_name)(*args, **kwargs)
        return [result] * len(self._indices(indices))

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def _indices(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)

    # ------------------------------------------------------------------ checkpoints
    def get_state(self) -> dict[str, Any]:
        """The environment state for exact resumption (see `RecVectorEnv.get_state`)."""
        return self.vec.get_state()

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore `get_state`."""
        self.vec.set_state(state)


class SpacesOnlyVecEnv(VecEnv):
    """A stand-in that only carries spaces, to rebuild a saved SB3 model for predicting."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        super().__init__(1, observation_space, action_space)

    def reset(self):
        raise RuntimeError("this model was loaded for predicting; fit it on an environment")

    def step_async(self, actions: np.ndarray) -> None:
        raise RuntimeError("this model was loaded for predicting; fit it on an environment")

    def step_wait(self):
        raise RuntimeError("this model was loaded for predicting")

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [None]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        pass

    def env_method(self, method_name: str, *args: Any, indices: Any = None,
                   **kwargs: Any) -> list[Any]:
        return [None]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False]
