"""The training loop shared by recgym's own off-policy agents (DEERS, DRR): act in a
natively batched vector environment, store transitions, update from a replay buffer."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from stable_baselines3.common.utils import polyak_update

from agents.base import Agent, Callback, batch_of, step_counts
from agents.online.replay import ReplayBuffer
from agents.settings import store_ints, store_plain
from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from recgym.envs.vector import RecVectorEnv
from recgym.spaces import ObsSpec

OBS = "obs."
NEXT = "next."


@dataclass(frozen=True)
class OffPolicyConfig(ConfigMixin):
    """Settings shared by the off-policy agents."""

    encoder: str = "deers"
    """recgym state encoder (see `recgym.encoders`)."""
    embed_dim: int = 32
    hidden_dim: int = 64
    gamma: float = 0.5
    """Discount. Value-based learners over hundreds of items overestimate through the max
    over noisy values; a short horizon keeps that in check (0.9 learned far less here)."""
    lr: float = 1e-3
    batch_size: int = 64
    buffer_size: int = 50_000
    learning_starts: int = 500
    """Environment steps before the first update."""
    train_every: int = 1
    """Vector-environment steps between update rounds."""
    gradient_steps: int = 1
    tau: float = 0.01
    """Soft target-network update rate."""
    prioritized: bool = False
    """Prioritised experience replay."""
    per_alpha: float = 0.6
    per_beta: float = 0.4
    n_envs: int = 8
    """Parallel users when `fit` is given an environment id."""
    seed: int = 0
    exclude_seen: bool = True
    """Never recommend an item of the user's recent history (as deployed recommenders
    filter what was just shown); also applied to the bootstrap targets."""
    env_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        store_ints(self, {"embed_dim": 1, "hidden_dim": 1, "batch_size": 1, "buffer_size": 1,
                          "learning_starts": 0, "train_every": 1, "gradient_steps": 1,
                          "n_envs": 1, "seed": 0})
        store_plain(self, "env_kwargs")
        for name in ("gamma", "tau", "per_alpha", "per_beta"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise InputError(f"{name} must be a number in [0, 1], got {value!r}")
        if not isinstance(self.lr, (int, float)) or self.lr <= 0:
            raise InputError(f"lr must be a positive number, got {self.lr!r}")


class OffPolicyAgent(Agent):
    """Base of DEERS and DRR: subclasses define networks, `act`, `transitions` and
    `update`; this class runs the loop and checkpoints everything needed to resume
    exactly (networks, optimisers, replay, random states, the environment)."""

    config_class: ClassVar[type] = OffPolicyConfig
    config: OffPolicyConfig

    def __init__(self, spec: ObsSpec, config: Any = None) -> None:
        super().__init__(spec, config)
        c = self.config
        torch.manual_seed(c.seed)
        self.rng = np.random.default_rng(c.seed)
        self.buffer = ReplayBuffer(c.buffer_size, c.prioritized, c.per_alpha)
        self.env: RecVectorEnv | None = None
        self.last_obs: dict[str, np.ndarray] | None = None
        self.autoreset: np.ndarray | None = None
        self.vector_steps = 0
        self.budget = 0
        self.losses: dict[str, float] = {}
        self._pending_env_state: dict[str, Any] | None = None

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def act(self, obs: dict[str, np.ndarray], explore: bool) -> tuple[np.ndarray, np.ndarray]:
        """(environment actions, actions as stored in the replay buffer) for a batch."""

    @abstractmethod
    def update(self, batch: dict[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        """One gradient step on sampled transitions; returns TD errors (priorities)."""

    def transitions(self, obs: dict[str, np.ndarray], actions: np.ndarray,
                    next_obs: dict[str, np.ndarray], info: dict[str, Any],
                    rows: np.ndarray) -> dict[str, np.ndarray]:
        """Extra per-transition arrays to store (e.g. DEERS' competitor items)."""
        return {}

    def modules(self) -> dict[str, torch.nn.Module]:
        """Networks, by name (saved in `weights.pt`)."""
        return {}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimisers, by name (saved with the training state)."""
        return {}

    # ------------------------------------------------------------------ training loop
    def attach(self, env: Any) -> RecVectorEnv:
        """Connect the training environment (an id or a `RecVectorEnv`)."""
        base = self.training_vector_env(env)
        if base is not self.env:
            self.env = base
            if self._pending_env_state is not None:
                base.set_state(self._pending_env_state)
                self._pending_env_state = None
            else:
                self.last_obs, _ = base.reset(seed=self.config.seed)
                self.autoreset = np.zeros(base.num_envs, dtype=bool)
        return base

    def fit(self, env: Any, total_steps: int, callbacks: Sequence[Callback] = (),
            budget: int | None = None) -> OffPolicyAgent:
        """Train for `total_steps` more environment steps (whole vector steps)."""
        total_steps, budget = step_counts(total_steps, budget)
        vec = self.attach(env)
        c = self.config
        self.budget = max(self.budget, budget or (self.num_steps + total_steps))
        target = self.num_steps + total_steps
        obs = self.last_obs
        assert obs is not None and self.autoreset is not None
        while self.num_steps < target:
            actions, stored = self.act(obs, explore=True)
            next_obs, reward, terminated, _, info = vec.step(actions)
            rows = np.flatnonzero(~self.autoreset)  # rows reset this step carry no transition
            if len(rows):
                batch = {f"{OBS}{k}": v[rows] for k, v in obs.items()}
                batch.update({f"{NEXT}{k}": v[rows] for k, v in next_obs.items()})
                batch["action"] = stored[rows]
                batch["reward"] = reward[rows].astype(np.float32)
                batch["done"] = terminated[rows].astype(np.float32)
                batch.update(self.transitions(obs, stored, next_obs, info, rows))
                self.buffer.add(batch)
            self.autoreset = vec.resetting_next
            obs = next_obs
            self.num_steps += vec.num_envs
            self.vector_steps += 1
            if (self.num_steps >= c.learning_starts and len(self.buffer) >= c.batch_size
                    and self.vector_steps % c.train_every == 0):
                for _ in range(c.gradient_steps):
                    sample, index, weights = self.buffer.sample(c.batch_size, self.rng,
                                                                c.per_beta)
                    errors = self.update(sample, weights)
                    if c.prioritized:
                        self.buffer.update_priorities(index, errors)
        self.last_obs = obs
        self.run_callbacks(callbacks)
        return self

    def progress(self) -> float:
        """Share of the planned budget done (for schedules)."""
        return min(1.0, self.num_steps / max(self.budget, 1))

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def unpack(batch: dict[str, np.ndarray]) -> tuple[dict[str, torch.Tensor],
                                                       dict[str, torch.Tensor],
                                                       torch.Tensor, torch.Tensor]:
        """Sampled transitions as tensors: (observations, next observations, reward,
        done)."""
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix):]: torch.as_tensor(v) for k, v in batch.items()
                    if k.startswith(prefix)}

        return (part(OBS), part(NEXT), torch.as_tensor(batch["reward"]),
                torch.as_tensor(batch["done"]))

    def soft_update(self, target: torch.nn.Module, source: torch.nn.Module) -> None:
        """target <- tau * source + (1 - tau) * target."""
        polyak_update(source.parameters(), target.parameters(), self.config.tau)

    def tensors(self, obs: dict[str, Any]) -> dict[str, torch.Tensor]:
        """A batch of observations as float / long tensors for the encoders."""
        batch = batch_of(obs)
        return {k: torch.as_tensor(np.asarray(v)) for k, v in batch.items()}

    # ------------------------------------------------------------------ persistence
    def weights(self) -> dict[str, Any]:
        return {name: module.state_dict() for name, module in self.modules().items()}

    def load_weights(self, weights: dict[str, Any]) -> None:
        for name, module in self.modules().items():
            module.load_state_dict(weights[name])

    def training_state(self) -> dict[str, Any]:
        state = {
            "num_steps": self.num_steps, "vector_steps": self.vector_steps,
            "budget": self.budget, "rng": self.rng.bit_generator.state,
            "buffer": self.buffer.state(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
            "last_obs": self.last_obs, "autoreset": self.autoreset,
        }
        if self.env is not None:
            state["env"] = self.env.get_state()
        return state

    def load_training_state(self, state: dict[str, Any], env: Any = None) -> None:
        super().load_training_state(state, env)
        self.vector_steps = int(state["vector_steps"])
        self.budget = int(state["budget"])
        self.rng.bit_generator.state = state["rng"]
        self.buffer.load(state["buffer"])
        for name, optimizer in self.optimizers().items():
            optimizer.load_state_dict(state["optimizers"][name])
        self.last_obs = state["last_obs"]
        self.autoreset = state["autoreset"]
        self._pending_env_state = state.get("env")
        self.env = None
        if env is not None:
            self.attach(env)


def linear_schedule(start: float, end: float, fraction: float, progress: float) -> float:
    """`start` -> `end` over the first `fraction` of training, then `end`."""
    if fraction <= 0:
        return end
    return end + (start - end) * max(0.0, 1.0 - progress / fraction)

