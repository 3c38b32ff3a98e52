"""`RecEnv`: a Gymnasium environment of one user at a time over any user simulator."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from recgym.core import RecCore
from recgym.env_config import EnvConfig
from recgym.rng import key_from
from simulators.interface import UserSimulator


def _first(obs: dict[str, np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {k: v[0] for k, v in obs.items()}
    out["user_id"] = int(out["user_id"])
    return out


class RecEnv(gym.Env[dict, Any]):
    """Recommendation to one simulated user per episode (see the registered ids for the
    documented variants: `RecGym/Synthetic-v0`, `RecGym/Logged-v0`, ...).

    The episode spans up to `max_sessions` sessions of one user: leaving ends a session, a
    return gap is sampled, a gap beyond `churn_after_h` terminates the episode (churn), and
    the session budget or `max_steps` truncates it. `info` carries `reward_vector` (every
    immediate and long-term signal, names in `reward_names`), `left_session`, `churned`,
    `slate` (item ids shown), `slate_feedback` (each shown item's own signals, shape
    (slate_size, n_signals)) and, when the session ended, `return_gap_h`.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, simulator: UserSimulator, config: EnvConfig | None = None,
                 **env_kwargs: Any) -> None:
        self.config = (config or EnvConfig()).replace(**env_kwargs)
        self.simulator = simulator
        self.core = RecCore(simulator, self.config, 1)
        self.observation_space = self.core.spec.observation_space()
        self.action_space = self.core.spec.action_space()
        self.reward_names = list(self.core.reward_names)

    @property
    def spec_sizes(self):
        """The `ObsSpec` (sizes of the spaces; its flat layout)."""
        return self.core.spec

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode; `options={"user_id": u}` picks the user (default: drawn)."""
        super().reset(seed=seed)
        user = None if not options or options.get("user_id") is None else [options["user_id"]]
        self.core.reset(np.array([0]), np.array([key_from(self.np_random)]), user_ids=user)
        return _first(self.core.observation()), self._reset_info()

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Recommend `action` (an item id, a slate of item ids, or candidate indices)."""
        reward, terminated, truncated, info = self.core.step(np.asarray(action)[None, ...])
        out = {k: v[0] for k, v in info.items()}
        out["reward_names"] = self.reward_names
        for key in ("left_session", "churned"):
            out[key] = bool(out[key])
        gap = out.pop("return_gap_h")
        if out["left_session"]:
            out["return_gap_h"] = float(gap)
        out["user_id"] = int(self.core.user[0])
        return (_first(self.core.observation()), float(reward[0]), bool(terminated[0]),
                bool(truncated[0]), out)

    def _reset_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"user_id": int(self.core.user[0]),
                                "reward_names": self.reward_names}
        members = self.core.members()
        if members is not None:
            info["member"] = int(members[0])
        return info

    def get_state(self) -> dict[str, Any]:
        """The episode state and random streams, for checkpoints (`set_state` continues
        exactly from here)."""
        return {"arrays": self.core.get_state(),
                "np_random": self.np_random.bit_generator.state}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what `get_state` returned."""
        self.core.set_state(state["arrays"])
        self.np_random.bit_generator.state = state["np_random"]

    def item_embeddings(self) -> np.ndarray:
        """(n_items, d) item embeddings for embedding-space actions (`ContinuousAction`)."""
        embeddings = getattr(self.simulator, "item_embeddings", None)
        if embeddings is None:
            raise TypeError(f"{type(self.simulator).__name__} provides no item embeddings")
        return np.asarray(embeddings(), np.float32)
