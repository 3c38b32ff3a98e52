"""The `fit` loop of the baselines that learn by acting in an environment (most popular,
LinUCB): `Explorer`, its `ExplorerConfig` and the `Rollout` it steps."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.base import Agent, Callback, batch_of, step_counts, unwrap_env
from agents.online.baselines.common import as_action
from agents.settings import store_ints, store_plain
from offline_data.shared.config import ConfigMixin
from recgym.envs.vector import RecVectorEnv
from recgym.spaces import ObsSpec


@dataclass(frozen=True)
class ExplorerConfig(ConfigMixin):
    """Settings shared by the baselines that learn from the environment in `fit`."""

    exclude_seen: bool = True
    """Never recommend an item of the user's recent history (as deployed recommenders
    filter what was just shown)."""
    seed: int = 0
    """Seed of the agent's random choices (exploration, tie-breaking) and of the
    environment reset in `fit`."""
    n_envs: int = 8
    """Parallel users when `fit` is given an environment id."""
    env_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    """Environment arguments when `fit` is given an environment id."""

    def __post_init__(self) -> None:
        store_ints(self, {"seed": 0, "n_envs": 1})
        store_plain(self, "env_kwargs")


class Rollout:
    """Steps an environment (a vector env, or a single env seen as a batch of one) for
    the agents that explore in it; keeps the last batched observation."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.base = unwrap_env(env)
        self.vector = isinstance(self.base, RecVectorEnv)
        self.n = int(self.base.num_envs) if isinstance(self.base, RecVectorEnv) else 1
        self.obs: dict[str, np.ndarray] | None = None

    def start(self, seed: int) -> None:
        """Reset the environment with `seed`."""
        obs, _ = self.env.reset(seed=seed)
        self.obs = batch_of(obs)

    def step(self, choice: np.ndarray, slate_size: int
             ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Act; returns the observation right after the step (before any reset of a single
        env) and which rows actually stepped (vector rows being reset did not)."""
        action = as_action(choice, self.vector, slate_size)
        obs, _, terminated, truncated, info = self.env.step(action)
        if self.vector:
            after = {k: np.asarray(v) for k, v in obs.items()}
            stepped = np.asarray(info.get("_slate", np.zeros(self.n, dtype=bool)), dtype=bool)
            self.obs = after
            return after, stepped
        after = batch_of(obs)
        self.obs = batch_of(self.env.reset()[0]) if terminated or truncated else after
        return after, np.ones(1, dtype=bool)

    def state(self) -> dict[str, Any]:
        """The last observation and (vector env) the environment's state."""
        out: dict[str, Any] = {}
        if self.obs is not None:
            out["last_obs"] = {k: np.array(v) for k, v in self.obs.items()}
        if isinstance(self.base, RecVectorEnv) and self.obs is not None:
            out["env"] = self.base.get_state()
        return out

    def restore(self, state: dict[str, Any], seed: int) -> None:
        """Continue from `state` (exactly for a vector env; a single env restarts)."""
        if isinstance(self.base, RecVectorEnv) and "env" in state and "last_obs" in state:
            self.env.reset(seed=seed)  # the core must exist before set_state
            self.base.set_state(state["env"])
            self.obs = {k: np.array(v) for k, v in state["last_obs"].items()}
        else:
            self.obs = None


class Explorer(Agent):
    """Base of the agents that learn by acting: `fit` explores with `_explore` and learns
    from each step with `_learn`; the training state resumes exactly in a vector env."""

    config: ExplorerConfig

    def __init__(self, spec: ObsSpec, config: Any = None) -> None:
        super().__init__(spec, config)
        self.rng = np.random.default_rng(self.config.seed)
        self._rollout: Rollout | None = None
        self._pending: dict[str, Any] | None = None

    @abstractmethod
    def _explore(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Choices (B, k) to act with while learning."""

    @abstractmethod
    def _learn(self, before: dict[str, np.ndarray], after: dict[str, np.ndarray],
               stepped: np.ndarray) -> None:
        """Learn from one vector step (`stepped`: the rows that really stepped)."""

    def attach(self, env: Any) -> Any:
        """Connect a training environment (an instance, or an id built with the config's
        `n_envs` / `env_kwargs`); returns it."""
        env = self.training_env(env)
        if self._rollout is None or self._rollout.env is not env:
            self.check_spaces(env)
            self._rollout = Rollout(env)
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._rollout.restore(pending, self.config.seed)
        return env

    def fit(self, env: Any, total_steps: int, callbacks: Sequence[Callback] = (),
            budget: int | None = None) -> Explorer:
        """Act and learn for `total_steps` more environment steps (a vector step counts
        `num_envs`; rounded up to whole vector steps). `budget` is unused: nothing here
        follows a schedule."""
        total_steps, _ = step_counts(total_steps, budget)
        self.attach(env)
        rollout = self._rollout
        assert rollout is not None
        if rollout.obs is None:
            rollout.start(self.config.seed)
        target = self.num_steps + total_steps
        while self.num_steps < target:
            before = rollout.obs
            assert before is not None
            after, stepped = rollout.step(self._explore(before), self.spec.slate_size)
            self._learn(before, after, stepped)
            self.num_steps += rollout.n
        self.run_callbacks(callbacks)
        return self

    def training_state(self) -> dict[str, Any]:
        """Step count, random state, and the environment's state and last observation
        (a `RecVectorEnv` resumes exactly; a single env restarts its episode)."""
        state = {"num_steps": self.num_steps, "rng": self.rng.bit_generator.state}
        if self._rollout is not None:
            state.update(self._rollout.state())
        return state

    def load_training_state(self, state: dict[str, Any], env: Any = None) -> None:
        """Restore `training_state`; without `env` the environment part waits for the next
        `attach` / `fit`."""
        super().load_training_state(state, env)
        self.rng.bit_generator.state = state["rng"]
        self._pending = {k: state[k] for k in ("env", "last_obs") if k in state}
        self._rollout = None
        if env is not None:
            self.attach(env)
