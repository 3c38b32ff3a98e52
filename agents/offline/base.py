"""The base of the offline agents: learn from a `TrajectoryDataset`, act like every recgym
agent (`predict` on the environment's observations, recently seen items masked), give
item probabilities to off-policy evaluation, save and resume exactly."""

from __future__ import annotations

import difflib
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from agents.base import Agent, Callback, is_batched, step_counts, unwrap_env
from agents.offline import d3rlpy_internals as internals
from agents.offline.config import OfflineConfig
from agents.offline.data import (
    Transitions,
    check_dataset,
    flat_observations,
    spec_differences,
)
from agents.online.baselines.common import as_action
from agents.torch_random import OwnTorchRandom
from offline_data.shared.errors import InputError
from recgym.encoders.d3rlpy import RecEncoderFactory
from recgym.masking import seen_mask
from recgym.offline import TrajectoryDataset
from recgym.spaces import ObsSpec
from recgym.wrappers.continuous import top_k_by_score


def spec_of(source: Any) -> ObsSpec:
    """The `ObsSpec` of a dataset, an environment (its spaces) or a spec."""
    if isinstance(source, TrajectoryDataset):
        return source.spec
    if isinstance(source, ObsSpec):
        return source
    try:
        return unwrap_env(source).core.spec
    except InputError:
        raise InputError(f"an offline agent is made from a TrajectoryDataset (or the "
                         f"environment it will act in), got {type(source).__name__}") from None


class BatchSampler(Protocol):
    """What `D3rlpyAgent.fit` draws its mini-batches from."""

    def sample(self, rng: np.random.Generator, batch_size: int) -> Any:
        """A mini-batch d3rlpy's `update` takes, drawn with `rng`."""
        ...


class OfflineAgent(Agent):
    """Base of the agents that learn from logged episodes instead of an environment.

    `fit(dataset, n_steps)` takes a `recgym.offline.TrajectoryDataset` (from
    `episodes_from_log`) and does `n_steps` more gradient steps; `predict(obs)` acts on
    the observations of the environment whose settings built the dataset (`observe(env)`
    refuses another). Subclasses give `item_scores` (higher is better) and, for
    stochastic policies, `stochastic = True` (then the scores are logits).
    """

    config_class: ClassVar[type] = OfflineConfig
    config: OfflineConfig
    offline: ClassVar[bool] = True
    """Learns from a dataset (`recgym offline`), not in an environment (`recgym train`)."""
    stochastic: ClassVar[bool] = False
    """The policy is a softmax over `item_scores` (BC, discrete SAC) rather than greedy."""
    slates: ClassVar[bool] = False
    """Whether the agent can fill slates (ranks items); discrete d3rlpy agents cannot."""

    def __init__(self, spec: ObsSpec, config: Any = None) -> None:
        super().__init__(spec, config)
        if spec.n_candidates is not None:
            raise InputError(f"{self.name} chooses among all {spec.n_items} items; "
                             f"candidate mode (n_candidates={spec.n_candidates}) is not "
                             "supported: leave n_candidates out")
        if spec.slate_size != 1 and not self.slates:
            raise InputError(f"{self.name} learns one item per step, but the dataset has "
                             f"slate_size {spec.slate_size}; build it with "
                             "episodes_from_log(log, EnvConfig(slate_size=1, ...)) or use "
                             "iql, which ranks slates")
        self.act_rng = np.random.default_rng([self.config.seed, 1])
        self.losses: dict[str, float] = {}

    @classmethod
    def create(cls, env: Any, config: Any = None) -> Agent:
        """A new agent for a dataset (or the environment it will act in: its spaces)."""
        return cls(spec_of(env), config)

    # ------------------------------------------------------------------ acting
    @abstractmethod
    def item_scores(self, flat: np.ndarray) -> np.ndarray:
        """(B, n_items) scores (logits when `stochastic`) of flat observations, before
        masking."""

    def masked_scores(self, obs: Any) -> tuple[np.ndarray, bool]:
        """((B, n_items) scores with recently seen items at -inf, batched?) of one
        observation or a batch."""
        flat, batch = flat_observations(self.name, self.spec, obs)
        scores = self.item_scores(flat).astype(np.float64)
        if self.config.exclude_seen:
            seen = seen_mask(batch, self.spec.n_items)
            seen[seen.all(axis=1)] = False  # nothing left: rank everything
            scores = np.where(seen, -np.inf, scores)
        return scores, is_batched(dict(obs))

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """The best item(s) for one observation or a batch; stochastic policies sample
        from their probabilities when not `deterministic`."""
        scores, batched = self.masked_scores(obs)
        if self.stochastic and not deterministic:
            probs = softmax(scores)
            cumulative = probs.cumsum(axis=1)
            draws = (1.0 - self.act_rng.random((len(probs), 1))) * cumulative[:, -1:]
            chosen = np.minimum((cumulative < draws).sum(axis=1), self.spec.n_items - 1)
            return as_action(chosen[:, None], batched, 1)
        return as_action(top_k_by_score(scores, self.spec.slate_size), batched,
                         self.spec.slate_size)

    def action_probabilities(self, observations: dict[str, np.ndarray]) -> np.ndarray:
        """(B, n_items) probability of each item as the next action (rows sum to 1):
        the softmax of the policy (BC, discrete SAC) or one-hot on the greedy item, both
        after masking; the `recgym.offline.policy.StochasticPolicy` protocol."""
        if self.spec.slate_size != 1:
            raise InputError(f"{self.name}: action probabilities are per item, but this "
                             f"agent recommends slates of {self.spec.slate_size}")
        scores, _ = self.masked_scores(observations)
        if self.stochastic:
            return softmax(scores)
        probs = np.zeros_like(scores)
        probs[np.arange(len(scores)), scores.argmax(axis=1)] = 1.0
        return probs

    def observe(self, env: Any) -> None:
        """Refuse an environment whose spaces are not the dataset's (evaluation calls
        this before acting)."""
        differ = spec_differences(self.spec, unwrap_env(env).core.spec)
        if differ:
            raise InputError(f"{self.name} was trained on a dataset of another environment "
                             f"({', '.join(differ)} differ); evaluate it in an environment "
                             "built with the dataset's simulator and settings "
                             "(dataset.env_config)")

    # ------------------------------------------------------------------ persistence
    def training_state(self) -> dict[str, Any]:
        return {**super().training_state(), "act_rng": self.act_rng.bit_generator.state,
                "losses": dict(self.losses)}

    def load_training_state(self, state: dict[str, Any], env: Any = None) -> None:
        super().load_training_state(state, env)
        self.act_rng.bit_generator.state = state["act_rng"]
        self.losses = {k: float(v) for k, v in state.get("losses", {}).items()}


class D3rlpyAgent(OwnTorchRandom, OfflineAgent):
    """An offline agent over one d3rlpy algorithm, whose networks read the flat
    observation layout through a recgym encoder (`RecEncoderFactory`).

    Training samples mini-batches with the agent's own generator and calls d3rlpy's
    `update` once per gradient step; the torch random state used in training is the
    agent's own too, so runs are repeatable and a run split into `fit` calls (or saved
    with its training state and loaded) equals one uninterrupted run bit for bit (on CPU).
    """

    algo_class: ClassVar[Callable[..., Any]]
    """The d3rlpy config class."""
    all_steps: ClassVar[bool] = False
    """Learn from every step (behaviour cloning) rather than transitions only."""

    def __init__(self, spec: ObsSpec, config: Any = None) -> None:
        super().__init__(spec, config)
        self.init_torch_random(self.config.torch_device())
        self.rng = np.random.default_rng(self.config.seed)
        self._data: tuple[TrajectoryDataset, Transitions] | None = None
        self.algo = self._build()

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def algo_settings(self) -> dict[str, Any]:
        """Fields of the d3rlpy config set from this agent's config."""

    def action_size(self) -> int:
        """Width of d3rlpy's action: the number of items (discrete agents)."""
        return self.spec.n_items

    def actions_of(self, dataset: TrajectoryDataset) -> np.ndarray:
        """(S, action_dim) actions as d3rlpy learns them: the logged item ids."""
        return np.asarray(dataset.actions, np.float32).reshape(-1, 1)

    # ------------------------------------------------------------------ building
    def encoder_factory(self) -> RecEncoderFactory:
        """The recgym encoder as a d3rlpy encoder factory over this agent's spec."""
        c = self.config
        return RecEncoderFactory(encoder=c.encoder, spec=self.spec.to_dict(),
                                 embed_dim=c.embed_dim, hidden_dim=c.hidden_dim)

    def _build(self) -> Any:
        settings = {**self.algo_settings(), **self.config.algo_kwargs}
        known = [f.name for f in fields(self.algo_class)]  # type: ignore[arg-type]
        unknown = sorted(set(settings) - set(known))
        if unknown:
            close = difflib.get_close_matches(unknown[0], known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"{self.name}: algo_kwargs {unknown} are not fields of d3rlpy's "
                             f"{self.algo_class.__name__}{hint}")
        try:
            algo = self.algo_class(**settings).create(device=self.device)
            with self.torch_random():
                torch.manual_seed(self.config.seed)
                algo.create_impl((self.spec.flat_dim,), self.action_size())
        except (TypeError, ValueError, AssertionError, RuntimeError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"{self.name}: d3rlpy refused the settings "
                             f"{sorted(settings)} ({str(exc).splitlines()[0][:200]}); check "
                             "the agent's config and algo_kwargs") from None
        return algo

    # ------------------------------------------------------------------ training
    def transitions(self, dataset: TrajectoryDataset) -> Transitions:
        """The dataset as flat transitions (built once per dataset object)."""
        if self._data is None or self._data[0] is not dataset:
            self._data = (dataset, Transitions.of(dataset, self.actions_of(dataset),
                                                  self.all_steps))
        return self._data[1]

    def training_data(self, dataset: TrajectoryDataset) -> BatchSampler:
        """What `fit` samples mini-batches from: the dataset's flat transitions (transformer
        agents sample trajectory slices instead)."""
        return self.transitions(dataset)

    def fit(self, dataset: Any, total_steps: int,
            callbacks: Sequence[Callback] = (), budget: int | None = None) -> D3rlpyAgent:
        """`total_steps` more gradient steps on `dataset` (a `TrajectoryDataset` of this
        agent's spec); callbacks run once after them; `budget` is accepted and unused (no
        schedules)."""
        steps, _ = step_counts(total_steps, budget)
        data = self.training_data(check_dataset(self.name, self.spec, dataset))
        sums: dict[str, float] = {}
        self.algo.set_grad_step(self.num_steps)
        with self.torch_random():
            for _ in range(steps):
                losses = self.algo.update(data.sample(self.rng, self.config.batch_size))
                for key, value in losses.items():
                    sums[key] = sums.get(key, 0.0) + float(value)
                self.num_steps += 1
        if steps:
            self.losses = {k: v / steps for k, v in sums.items()}
        self.run_callbacks(callbacks)
        return self

    # ------------------------------------------------------------------ acting
    def tensor(self, flat: np.ndarray) -> torch.Tensor:
        """Flat observations on the agent's device."""
        return torch.as_tensor(flat, dtype=torch.float32, device=self.device)

    def item_scores(self, flat: np.ndarray) -> np.ndarray:
        self.algo.impl.modules.set_eval()
        with torch.no_grad():
            return self.network_scores(self.tensor(flat)).float().cpu().numpy()

    @abstractmethod
    def network_scores(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_items) scores of flat observations from the networks."""

    def d3rlpy_predict(self, flat: np.ndarray) -> np.ndarray:
        """d3rlpy's own `predict` (no masking), for checks."""
        return np.asarray(self.algo.predict(np.asarray(flat, np.float32)))

    # ------------------------------------------------------------------ persistence
    def weights(self) -> dict[str, Any]:
        modules, _ = internals.parts(self.algo)
        return {"networks": {k: m.state_dict() for k, m in modules.items()}}

    def load_weights(self, weights: dict[str, Any]) -> None:
        modules, _ = internals.parts(self.algo)
        saved = weights["networks"]
        if set(saved) != set(modules):
            raise ValueError(f"networks {sorted(saved)}, expected {sorted(modules)}")
        for key, module in modules.items():
            module.load_state_dict(saved[key])

    def training_state(self) -> dict[str, Any]:
        _, optimizers = internals.parts(self.algo)
        return {**super().training_state(), "rng": self.rng.bit_generator.state,
                **self.torch_random_state(),
                "optimizers": {k: o.state_dict() for k, o in optimizers.items()}}

    def load_training_state(self, state: dict[str, Any], env: Any = None) -> None:
        super().load_training_state(state, env)
        _, optimizers = internals.parts(self.algo)
        for key, optimizer in optimizers.items():
            optimizer.load_state_dict(state["optimizers"][key])
        self.rng.bit_generator.state = state["rng"]
        self.load_torch_random_state(state)


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (B, n) scores that may hold -inf (never all of a row)."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=1, keepdims=True)
