"""`RecVectorEnv`: many users stepped by one batched simulator call per step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space

from offline_data.shared.errors import InputError
from offline_data.shared.numbers import as_int, is_integral
from recgym import render
from recgym.core import RecCore
from recgym.env_config import EnvConfig
from recgym.envs.base import ResetNeededError, as_seed
from recgym.rng import key_from
from simulators.interface import UserSimulator

VECTOR_RENDER_MODES = ("ansi", "rgb_array")
VECTOR_METADATA: dict[str, Any] = {"render_modes": list(VECTOR_RENDER_MODES),
                                   "render_fps": render.RENDER_FPS,
                                   "autoreset_mode": "NextStep"}
"""`RecVectorEnv.metadata`."""


class RecVectorEnv(VectorEnv):
    """A natively batched `gymnasium.vector.VectorEnv` of `num_envs` users.

    Gymnasium's next-step autoreset: after an episode ends in a sub-environment, the next
    `step` resets it (its action is ignored) and returns the first observation of the new
    episode with reward 0. Sub-environment i seeded with `seed + i` follows exactly the same
    trajectory as a single `RecEnv` reset with that seed. `reset_rows` starts chosen
    sub-environments at once, for adapters with another autoreset (SB3's same-step one).

    `render_mode` "ansi" or "rgb_array": `render()` returns a tuple with one frame per
    sub-environment (a text view or a picture, as `RecEnv` renders; meant for a few
    sub-environments). "human" (printing every user at every step) is not offered.
    """

    metadata: dict[str, Any] = VECTOR_METADATA

    def __init__(self, simulator: UserSimulator, num_envs: int,
                 config: EnvConfig | None = None, render_mode: str | None = None,
                 **env_kwargs: Any) -> None:
        self.config = (config or EnvConfig()).replace(**env_kwargs)
        self.render_mode = render.check_render_mode(render_mode, VECTOR_RENDER_MODES)
        self.simulator = simulator
        self.num_envs = as_int(num_envs, "num_envs", minimum=1)
        self.core = RecCore(simulator, self.config, self.num_envs)
        self.single_observation_space = self.core.spec.observation_space()
        self.single_action_space = self.core.spec.action_space()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.reward_names = list(self.core.reward_names)
        self._generators = [seeding.np_random(None)[0] for _ in range(self.num_envs)]
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        self._started = False
        self._last: tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]] | None = None

    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset every sub-environment; `seed` is an integer (env i gets seed + i) or one
        seed (or None) per env; `options={"user_id": ids}` picks the users."""
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif is_integral(seed):
            first = as_int(seed, "seed", minimum=0)
            seeds = [first + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)  # type: ignore[arg-type]
        users = None if not options or options.get("user_id") is None else options["user_id"]
        index = np.arange(self.num_envs)
        self.reset_rows(index, seeds, users)
        return self.core.observation(), self._info(index, None)

    def reset_rows(self, index: Sequence[int] | np.ndarray,
                   seeds: Sequence[int | None] | None = None, user_ids: Any = None) -> None:
        """Start new episodes in sub-environments `index` now (the first call must start
        all of them). `seeds`, one per row (None keeps that row's generator), reseeds
        their generators first; `user_ids`, one per row, picks the users (default: drawn).
        The rows then behave exactly as after `reset(seed=...)`; read their observations
        with `core.observation()`."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        if seeds is not None:
            seeds = list(seeds)
            if len(seeds) != len(index):
                raise InputError(f"reset got {len(seeds)} seeds for {len(index)} envs; give "
                                 "one seed (or None) per env, or one integer")
            for i, s in zip(index, seeds, strict=True):
                if s is not None:
                    self._generators[i] = seeding.np_random(as_seed(s))[0]
        keys = np.array([key_from(self._generators[i]) for i in index], dtype=np.uint64)
        self.core.reset(index, keys, user_ids=user_ids)
        self._needs_reset[index] = False
        self._started = True
        if self._last is not None:
            self._last[1][index] = False

    def step(self, actions: Any) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray,
                                          np.ndarray, dict[str, Any]]:
        """Step every sub-environment (those whose episode ended are reset instead)."""
        if not self._started:
            raise ResetNeededError("call reset() before step()")
        n = self.num_envs
        resetting = np.flatnonzero(self._needs_reset)
        stepping = np.flatnonzero(~self._needs_reset)
        rewards = np.zeros(n)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        info_rows = None
        if len(resetting):
            self.reset_rows(resetting)
        if len(stepping):
            actions = np.asarray(actions)
            part = actions if len(stepping) == n else actions[stepping]
            reward, term, trunc, info_rows = self.core.step(
                part, None if len(stepping) == n else stepping)
            rewards[stepping], terminated[stepping], truncated[stepping] = reward, term, trunc
        self._needs_reset = terminated | truncated
        info = self._info(stepping, info_rows)
        if self.render_mode is not None:
            stepped = np.zeros(n, dtype=bool)
            stepped[stepping] = True
            self._last = (rewards, stepped, info)
        return self.core.observation(), rewards, terminated, truncated, info

    @property
    def resetting_next(self) -> np.ndarray:
        """(num_envs,) bool: sub-environments whose episode just ended, so the next `step`
        resets them (their action is ignored and no transition happens)."""
        return self._needs_reset.copy()

    def render(self) -> tuple[Any, ...] | None:
        """One frame per sub-environment (see the class docstring); None without a
        render mode or before the first reset."""
        if self.render_mode is None or not self._started:
            return None
        frames: list[str | np.ndarray] = []
        for row in range(self.num_envs):
            last = None
            if self._last is not None and self._last[1][row]:
                rewards, _, info = self._last
                last = render.StepRecord(info["slate"][row], info["slate_feedback"][row],
                                         info["reward_vector"][row], float(rewards[row]))
            view = render.view_of(self.core, row, last, ended=bool(self._needs_reset[row]))
            frames.append(render.picture(view) if self.render_mode == "rgb_array"
                          else render.text(view))
        return tuple(frames)

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
        self._last = None

    def _info(self, stepped: np.ndarray, rows: dict[str, np.ndarray] | None) -> dict[str, Any]:
        """Vector info: arrays over all sub-environments, with `_key` masks of those that
        stepped."""
        n = self.num_envs
        info: dict[str, Any] = {"user_id": self.core.user.copy(),
                                "_user_id": np.ones(n, dtype=bool),
                                "reward_names": tuple(self.reward_names)}
        for key, values in self.core.member_info().items():
            info[key], info[f"_{key}"] = values.copy(), np.ones(n, dtype=bool)
        if rows is None:
            return info
        mask = np.zeros(n, dtype=bool)
        mask[stepped] = True
        for key, values in rows.items():
            full = np.zeros((n, *values.shape[1:]), dtype=values.dtype)
            if values.dtype.kind == "f":
                full[:] = np.nan if key == "return_gap_h" else 0.0
            full[stepped] = values
            info[key], info[f"_{key}"] = full, mask.copy()
        return info

    def item_embeddings(self) -> np.ndarray:
        """(n_items, d) item embeddings of the simulator; `MissingFeatureError` when it has
        none (as `RecEnv.item_embeddings`)."""
        return self.core.item_embeddings()
