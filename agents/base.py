"""The one interface every recgym agent has: `fit`, `predict`, `save`, `load`."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

import recgym
from agents.checkpoint import load_state, save_state
from agents.settings import config_from_dict, config_to_dict
from offline_data.shared.atomic import atomic_directory
from offline_data.shared.errors import InputError
from offline_data.shared.jsonfile import read_json_object
from offline_data.shared.numbers import as_int
from recgym.envs.base import RecEnv
from recgym.envs.vector import RecVectorEnv
from recgym.spaces import ObsSpec

AGENT_FILE = "agent.json"
WEIGHTS_FILE = "weights.pt"
TRAINING_FILE = "training.pt"
FORMAT = "recgym-agent"
VERSION = 1

Callback = Callable[["Agent", int], bool]
"""Called after each training chunk with (agent, steps so far); return False to stop."""


def is_batched(obs: dict[str, Any]) -> bool:
    """True for a vector env's observation (a leading batch axis)."""
    return np.asarray(obs["history_items"]).ndim == 2


def batch_of(obs: dict[str, Any]) -> dict[str, np.ndarray]:
    """A batched view of an observation (adds the batch axis to a single one)."""
    if is_batched(obs):
        return {k: np.asarray(v) for k, v in obs.items()}
    return {k: np.asarray(v)[None, ...] for k, v in obs.items()}


def unwrap_env(env: Any) -> RecEnv | RecVectorEnv:
    """The recgym environment under any wrappers."""
    base = getattr(env, "unwrapped", env)
    if not isinstance(base, (RecEnv, RecVectorEnv)):
        raise InputError(f"expected a recgym environment, got {type(base).__name__}")
    return base


def make_env(env: Any, n_envs: int = 1, env_kwargs: dict[str, Any] | None = None,
             vector: bool = True) -> Any:
    """An environment from an instance (returned as is) or an id (`recgym.make_vec` when
    `vector`, else `gym.make`)."""
    if not isinstance(env, str):
        return env
    if vector:
        return recgym.make_vec(env, n_envs, **(env_kwargs or {}))
    return gym.make(env, **(env_kwargs or {}))


class Agent(ABC):
    """Base of all agents.

    - `fit(env, total_steps, callbacks)` trains for `total_steps` more environment steps
      and returns the agent; calling it again continues (schedules follow `budget`, the
      total planned, so a run split into chunks learns exactly as one uninterrupted run);
    - `predict(obs, deterministic)` takes one observation or a batch and returns the action
      (an item id, a slate, or a batch of them);
    - `save(path)` / `agents.load_agent(path)` write and read a folder (`agent.json`,
      `weights.pt` and, with `training_state=True`, `training.pt` to resume training
      exactly).

    Each agent is one subclass with its registered `name` (see `agents.registry`), built by
    `create(env, config)` and, when loaded, by `from_meta(spec, config)` before its weights.
    """

    name: ClassVar[str] = "agent"
    """The name the registry knows the class by (written to `agent.json`)."""
    config_class: ClassVar[type] = dict
    learns: ClassVar[bool] = True
    """False for agents whose `fit` only counts steps (random, the oracle)."""

    def __init__(self, spec: ObsSpec, config: Any = None) -> None:
        self.spec = spec
        self.config = config if config is not None else self.config_class()
        self.num_steps = 0

    # ------------------------------------------------------------------ training
    @abstractmethod
    def fit(self, env: Any, total_steps: int, callbacks: Sequence[Callback] = (),
            budget: int | None = None) -> Agent:
        """Train for `total_steps` more steps."""

    @abstractmethod
    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """Action(s) for one observation or a batch."""

    def training_metrics(self) -> dict[str, float]:
        """Figures about training itself that runs report beside the evaluation (e.g.
        Sim2Rec's parameter-head R²); none by default."""
        return {}

    def run_callbacks(self, callbacks: Sequence[Callback]) -> None:
        """Call each callback with (agent, steps so far) until one returns False."""
        for callback in callbacks:
            if callback(self, self.num_steps) is False:
                break

    # ------------------------------------------------------------------ persistence
    def weights(self) -> dict[str, Any]:
        """Tensors and arrays needed to predict (saved in `weights.pt`)."""
        return {}

    def load_weights(self, weights: dict[str, Any]) -> None:
        """Inverse of `weights` (this agent has none, so any given are a mismatch)."""
        if weights:
            raise InputError(f"{self.name} has no weights, but got {sorted(weights)}")

    def training_state(self) -> dict[str, Any]:
        """Everything else needed to continue training exactly (optimisers, replay,
        counters); saved in `training.pt` with `training_state=True`."""
        return {"num_steps": self.num_steps}

    def load_training_state(self, state: dict[str, Any], env: Any = None) -> None:
        """Inverse of `training_state` (`env` is the training environment, if any)."""
        self.num_steps = int(state["num_steps"])

    def save(self, path: str | Path, *, overwrite: bool = False,
             training_state: bool = False) -> Path:
        """Write the agent to a folder, atomically (never over a folder recgym did not
        write)."""
        meta = {"format": FORMAT, "version": VERSION, "agent": self.name,
                "config": config_to_dict(self.config), "spec": self.spec.to_dict(),
                "num_steps": self.num_steps}
        with atomic_directory(path, overwrite=overwrite, marker=AGENT_FILE) as tmp:
            save_state(tmp / WEIGHTS_FILE, self.weights())
            if training_state:
                save_state(tmp / TRAINING_FILE, self.training_state())
            (tmp / AGENT_FILE).write_text(json.dumps(meta, indent=2))
        return Path(path)

    @classmethod
    def from_meta(cls, spec: ObsSpec, config: Any) -> Agent:
        """A fresh agent of this class for a saved spec and config (before weights)."""
        return cls(spec, config)

    @classmethod
    def create(cls, env: Any, config: Any = None) -> Agent:
        """A new agent for an environment instance (subclasses may read more from it,
        e.g. item embeddings)."""
        return cls(unwrap_env(env).core.spec, config)

    def training_env(self, env: Any) -> Any:
        """The environment to train in: an instance as given, or the one built from an id
        (built once and reused, so fitting again continues with the same users)."""
        if not isinstance(env, str):
            return env
        cached = getattr(self, "_env_from_id", None)
        if cached is not None and cached[0] == env:
            return cached[1]
        built = make_env(env, getattr(self.config, "n_envs", 1),
                         dict(getattr(self.config, "env_kwargs", {}) or {}))
        self._env_from_id = (env, built)
        return built

    def training_vector_env(self, env: Any) -> RecVectorEnv:
        """`training_env`, unwrapped to the `RecVectorEnv` the agent steps; a single
        environment is refused with a clear error."""
        base = unwrap_env(self.training_env(env))
        if not isinstance(base, RecVectorEnv):
            raise InputError(f"{self.name} trains on a vector environment: pass an id or "
                             "recgym.make_vec(...)")
        return base

    def check_spaces(self, env: Any) -> None:
        """Refuse an environment whose spaces are not the ones this agent was built for."""
        if unwrap_env(env).core.spec != self.spec:
            raise InputError(f"{self.name}: the environment's spaces differ from the ones "
                             "this agent was built for; make the agent for this environment")

    def observe(self, env: Any) -> None:
        """Told which environment the agent is about to act in (evaluation calls it; the
        myopic oracle reads the simulator through it, other agents ignore it)."""
        del env


class CountingOnly(Agent):
    """Base of agents with nothing to learn: `fit` only counts the steps."""

    learns: ClassVar[bool] = False

    def fit(self, env: Any, total_steps: int, callbacks: Sequence[Callback] = (),
            budget: int | None = None) -> CountingOnly:
        """Count `total_steps` (nothing to learn)."""
        self.num_steps += step_counts(total_steps, budget)[0]
        self.run_callbacks(callbacks)
        return self


def step_counts(total_steps: Any, budget: Any = None) -> tuple[int, int | None]:
    """`fit`'s `total_steps` (>= 0) and `budget` (>= 1, or None) as plain ints; numpy
    integers are accepted."""
    steps = as_int(total_steps, "total_steps", minimum=0)
    return steps, None if budget is None else as_int(budget, "budget", minimum=1)


def read_meta(path: str | Path) -> dict[str, Any]:
    """The `agent.json` of a saved agent, checked."""
    folder = Path(path)
    meta_path = folder / AGENT_FILE
    if not folder.is_dir():
        raise InputError(f"agent folder not found: {folder}; check the path")
    meta = read_json_object(meta_path, missing=f"{folder}: no {AGENT_FILE}; this is not a "
                            "folder written by Agent.save / `recgym train`")
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise InputError(f"{meta_path}: not a recgym agent of format version {VERSION}")
    return meta


def load_agent_files(cls: type[Agent], path: str | Path, meta: dict[str, Any],
                     env: Any = None) -> Agent:
    """Build an agent of `cls` from a saved folder (weights and, when present, training
    state)."""
    spec = ObsSpec.from_dict(meta["spec"])
    config = config_from_dict(cls.config_class, meta["config"], Path(path) / AGENT_FILE)
    agent = cls.from_meta(spec, config)
    return restore_agent_files(agent, path, meta, load_state(Path(path) / WEIGHTS_FILE), env)


def restore_agent_files(agent: Agent, path: str | Path, meta: dict[str, Any],
                        weights: dict[str, Any], env: Any = None) -> Agent:
    """Load a saved folder's `weights` (already read) into a freshly built `agent`, and its
    step count and, when present, training state; mismatches name the file."""
    folder = Path(path)
    try:
        agent.load_weights(weights)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise InputError(f"{folder / WEIGHTS_FILE}: does not match {AGENT_FILE} "
                         f"({str(exc).splitlines()[0][:200]})") from None
    agent.num_steps = int(meta.get("num_steps", 0))
    if (folder / TRAINING_FILE).is_file():
        try:
            agent.load_training_state(load_state(folder / TRAINING_FILE), env)
        except (KeyError, RuntimeError, ValueError) as exc:
            raise InputError(f"{folder / TRAINING_FILE}: does not match {AGENT_FILE} or the "
                             f"environment ({str(exc).splitlines()[0][:200]})") from None
    return agent
