"""`RecVectorEnv`: many users stepped by one batched simulator call per step."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space

from recgym.core import RecCore
from recgym.env_config import EnvConfig
from recgym.rng import key_from
from simulators.interface import UserSimulator


class RecVectorEnv(VectorEnv):
    """A natively batched `gymnasium.vector.VectorEnv` of `num_envs` users.

    Gymnasium's next-step autoreset: after an episode ends in a sub-environment, the next
    `step` resets it (its action is ignored) and returns the first observation of the new
    episode with reward 0. Sub-environment i seeded with `seed + i` follows exactly the same
    trajectory as a single `RecEnv` reset with that seed.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": [], "autoreset_mode": "NextStep"}

    def __init__(self, simulator: UserSimulator, num_envs: int,
                 config: EnvConfig | None = None, **env_kwargs: Any) -> None:
        self.config = (config or EnvConfig()).replace(**env_kwargs)
        self.simulator = simulator
        self.num_envs = int(num_envs)
        self.core = RecCore(simulator, self.config, self.num_envs)
        self.single_observation_space = self.core.spec.observation_space()
        self.single_action_space = self.core.spec.action_space()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.reward_names = list(self.core.reward_names)
        self._generators = [seeding.np_random(None)[0] for _ in range(self.num_envs)]
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        self._started = False

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset every sub-environment; `seed` is an int (env i gets seed + i) or a list."""
        seeds = ([seed + i for i in range(self.num_envs)] if isinstance(seed, int)
                 else seed if seed is not None else [None] * self.num_envs)
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset got {len(seeds)} seeds for {self.num_envs} envs")
        for i, s in enumerate(seeds):
            if s is not None:
                self._generators[i] = seeding.np_random(s)[0]
        users = None if not options or options.get("user_id") is None else options["user_id"]
        index = np.arange(self.num_envs)
        self.core.reset(index, self._keys(index), user_ids=users)
        self._needs_reset[:] = False
        self._started = True
        return self.core.observation(), self._info(index, None)

    def step(self, actions: Any) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray,
                                          np.ndarray, dict[str, Any]]:
        """Step every sub-environment (those whose episode ended are reset instead)."""
        if not self._started:
            raise RuntimeError("call reset() before step()")
        n = self.num_envs
        resetting = np.flatnonzero(self._needs_reset)
        stepping = np.flatnonzero(~self._needs_reset)
        rewards = np.zeros(n)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        info_rows = None
        if len(resetting):
            self.core.reset(resetting, self._keys(resetting))
        if len(stepping):
            actions = np.asarray(actions)
            part = actions if len(stepping) == n else actions[stepping]
            reward, term, trunc, info_rows = self.core.step(
                part, None if len(stepping) == n else stepping)
            rewards[stepping], terminated[stepping], truncated[stepping] = reward, term, trunc
        self._needs_reset = terminated | truncated
        return (self.core.observation(), rewards, terminated, truncated,
                self._info(stepping, info_rows))

    @property
    def resetting_next(self) -> np.ndarray:
        """(num_envs,) bool: sub-environments whose episode just ended, so the next `step`
        resets them (their action is ignored and no transition happens)."""
        return self._needs_reset.copy()

    def get_state(self) -> dict[str, Any]:
        """Arrays and generator states that make `set_state` continue exactly from here."""
        return {"arrays": {**self.core.get_state(), "needs_reset": self._needs_reset.copy()},
                "generators": [g.bit_generator.state for g in self._generators],
                "started": self._started}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what `get_state` returned."""
        arrays = dict(state["arrays"])
        self._needs_reset = np.array(arrays.pop("needs_reset"), dtype=bool)
        self.core.set_state(arrays)
        for generator, saved in zip(self._generators, state["generators"], strict=True):
            generator.bit_generator.state = saved
        self._started = bool(state["started"])

    def _keys(self, index: np.ndarray) -> np.ndarray:
        return np.array([key_from(self._generators[i]) for i in index], dtype=np.uint64)

    def _info(self, stepped: np.ndarray, rows: dict[str, np.ndarray] | None) -> dict[str, Any]:
        """Vector info: arrays over all sub-environments, with `_key` masks of those that
        stepped."""
        n = self.num_envs
        info: dict[str, Any] = {"user_id": self.core.user.copy(),
                                "_user_id": np.ones(n, dtype=bool),
                                "reward_names": tuple(self.reward_names)}
        members = self.core.members()
        if members is not None:
            info["member"], info["_member"] = members.copy(), np.ones(n, dtype=bool)
        if rows is None:
            return info
        mask = np.zeros(n, dtype=bool)
        mask[stepped] = True
        for key, values in rows.items():
            if key == "member":
                continue
            full = np.zeros((n, *values.shape[1:]), dtype=values.dtype)
            if values.dtype.kind == "f":
                full[:] = np.nan if key == "return_gap_h" else 0.0
            full[stepped] = values
            info[key], info[f"_{key}"] = full, mask.copy()
        return info

    def item_embeddings(self) -> np.ndarray:
        """(n_items, d) item embeddings of the simulator."""
        return np.asarray(self.simulator.item_embeddings(), np.float32)
