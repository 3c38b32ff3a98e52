"""`RecEnv`: a Gymnasium environment of one user at a time over any user simulator."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from offline_data.shared.errors import InputError
from offline_data.shared.numbers import as_int
from recgym import render
from recgym.core import RecCore
from recgym.env_config import EnvConfig
from recgym.rng import key_from
from recgym.spaces import ObsSpec
from simulators.interface import UserSimulator


class ResetNeededError(InputError, gym.error.ResetNeeded):
    """`step` was called before `reset` or after the episode ended (an `InputError`, and
    Gymnasium's `ResetNeeded`)."""


def rec_env(env: gym.Env, what: str) -> RecEnv:
    """The `RecEnv` under `env`'s wrappers; an `InputError` naming `what` needed it when
    `env` is not a recgym environment."""
    base = env.unwrapped
    if not isinstance(base, RecEnv):
        raise InputError(f"{what} needs a recgym environment (gym.make(\"RecGym/...\")), got "
                         f"{type(base).__name__}")
    return base


def as_seed(seed: object) -> int | None:
    """A reset seed of any integral type as an `int` (None stays None)."""
    return None if seed is None else as_int(seed, "seed", minimum=0)


METADATA: dict[str, Any] = {"render_modes": list(render.RENDER_MODES),
                            "render_fps": render.RENDER_FPS}
"""`RecEnv.metadata`: its render modes and frame rate."""


class RecEnv(gym.Env[dict, Any]):
    """Recommendation to one simulated user per episode (see the registered ids for the
    documented variants: `RecGym/Synthetic-v0`, `RecGym/Logged-v0`, ...).

    The episode spans up to `max_sessions` sessions of one user: leaving ends a session, a
    return gap is sampled, a gap beyond `churn_after_h` terminates the episode (churn), and
    the session budget or `max_steps` truncates it. `info` carries `reward_vector` (every
    immediate and long-term signal, names in `reward_names`), `left_session`, `churned`,
    `slate` (item ids shown), `slate_feedback` (each shown item's own signals, shape
    (slate_size, n_signals)) and, when the session ended, `return_gap_h`. Stepping before
    `reset` or after the episode ended raises `ResetNeededError`.

    `render_mode`: "ansi" (`render()` returns a text view: the user, the recent history
    with its feedback, the last slate with each item's response, the reward vector),
    "human" (the same text is printed at every reset and step) or "rgb_array" (`render()`
    returns a small uint8 (H, W, 3) picture of the same; see `recgym.render`).
    """

    metadata: dict[str, Any] = METADATA

    def __init__(self, simulator: UserSimulator, config: EnvConfig | None = None,
                 render_mode: str | None = None, **env_kwargs: Any) -> None:
        self.config = (config or EnvConfig()).replace(**env_kwargs)
        self.render_mode = render.check_render_mode(render_mode)
        self.simulator = simulator
        self.core = RecCore(simulator, self.config, 1)
        self.observation_space = self.core.spec.observation_space()
        self.action_space = self.core.spec.action_space()
        self.reward_names = list(self.core.reward_names)
        self._ended = True  # no episode yet: step needs a reset first
        self._last: render.StepRecord | None = None

    @property
    def spec_sizes(self) -> ObsSpec:
        """The `ObsSpec` (sizes of the spaces; its flat layout)."""
        return self.core.spec

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode; `options={"user_id": u}` picks the user (default: drawn).
        Seeds and user ids may be of any integral type."""
        super().reset(seed=as_seed(seed))
        user = None if not options or options.get("user_id") is None else options["user_id"]
        self.core.reset(np.array([0]), np.array([key_from(self.np_random)]), user_ids=user)
        self._ended = False
        self._last = None
        if self.render_mode == "human":
            self.render()
        return self.core.row_observation(0), self._reset_info()

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Recommend `action` (an item id, a slate of item ids, or candidate indices)."""
        if self._ended:
            raise ResetNeededError("the episode has ended (or was never started): call "
                                   "reset() before step()")
        reward, terminated, truncated, info = self.core.step_one(action)
        info["reward_names"] = self.reward_names
        info["user_id"] = int(self.core.user[0])
        self._ended = terminated or truncated
        if self.render_mode is not None:
            self._last = render.StepRecord(info["slate"], info["slate_feedback"],
                                           info["reward_vector"], reward)
            if self.render_mode == "human":
                self.render()
        return self.core.row_observation(0), reward, terminated, truncated, info

    def render(self) -> str | np.ndarray | None:  # type: ignore[override]
        """The current state as text ("ansi"), printed ("human", returns None) or as a
        picture ("rgb_array"); None without a render mode."""
        if self.render_mode is None or self.core.state is None:
            return None
        view = render.view_of(self.core, 0, self._last, ended=self._ended)
        if self.render_mode == "rgb_array":
            return render.picture(view)
        text = render.text(view)
        if self.render_mode == "human":
            print(text + "\n")
            return None
        return text

    def _reset_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"user_id": int(self.core.user[0]),
                                "reward_names": self.reward_names}
        rows = self.core.member_info()
        if rows:
            info["member"] = int(rows["member"][0])
            info["member_params"] = rows["member_params"][0]
        return info

    def get_state(self) -> dict[str, Any]:
        """The episode state and random streams, for checkpoints (`set_state` continues
        exactly from here)."""
        return {"arrays": self.core.get_state(),
                "np_random": self.np_random.bit_generator.state, "ended": self._ended}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what `get_state` returned."""
        self.core.set_state(state["arrays"])
        self.np_random.bit_generator.state = state["np_random"]
        self._ended = bool(state.get("ended", False))
        self._last = None

    def item_embeddings(self) -> np.ndarray:
        """(n_items, d) item embeddings for embedding-space actions (`ContinuousAction`);
        `simulators.interface.MissingFeatureError` when the simulator has none."""
        return self.core.item_embeddings()
