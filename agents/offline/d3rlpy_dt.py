"""d3rlpy's discrete decision transformer as a recgym offline agent ('d3rlpy_dt'): the
plain decision-transformer baseline of DT4IER, with one scalar return-to-go.

Training slices the dataset's episodes (built as d3rlpy `Episode`s from its own bounds)
into windows of `context_size` steps with d3rlpy's `BasicTrajectorySlicer`, drawn with the
agent's own generator, and calls d3rlpy's `update` once per gradient step (as every
`D3rlpyAgent`). Acting keeps one context per sub-environment of a vector environment.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from d3rlpy import algos as d3
from d3rlpy.algos import TransformerInput
from d3rlpy.dataset import BasicTrajectorySlicer, Episode, TrajectoryMiniBatch

from agents.base import Agent, unwrap_env
from agents.offline import d3rlpy_internals as internals
from agents.offline.base import D3rlpyAgent, spec_of
from agents.offline.config import OfflineConfig
from agents.settings import store_ints
from offline_data.shared.errors import InputError
from recgym.offline import TrajectoryDataset
from recgym.rewards import weight_vector
from recgym.spaces import ObsSpec


@dataclass(frozen=True)
class D3rlpyDTConfig(OfflineConfig):
    """Settings of `DecisionTransformerAgent` (d3rlpy `DiscreteDecisionTransformer`).

    `encoder`, `embed_dim` and `hidden_dim` build the recgym state encoder of each step's
    observation; its output, `hidden_dim` wide, is the transformer's width. `lr` is the
    peak learning rate (d3rlpy warms it up over its first 10,240 tokens, then decays it).
    `gamma` is not used: the return-to-go is the undiscounted rest of the episode's
    return. `algo_kwargs` reach d3rlpy's config (e.g. {"attn_dropout": 0.0}).
    """

    context_size: int = 20
    """Steps of the episode so far the transformer reads (states, actions,
    returns-to-go)."""
    num_layers: int = 2
    """Transformer blocks."""
    num_heads: int = 2
    """Attention heads (must divide `hidden_dim`)."""
    rtg_prompt: float = 0.8
    """The return-to-go the agent is prompted with at an episode's start, as a fraction of
    the highest episode return in the training data (> 0)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        store_ints(self, {"context_size": 1, "num_layers": 1, "num_heads": 1})
        if self.hidden_dim % self.num_heads:
            raise InputError(f"num_heads ({self.num_heads}) must divide hidden_dim "
                             f"({self.hidden_dim}), the transformer's width; change one of "
                             "them")
        fraction = self.rtg_prompt
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (
                np.isfinite(fraction) and fraction > 0):
            raise InputError(f"rtg_prompt must be a number > 0 (the prompt, as "
                             f"a fraction of the best logged episode return; e.g. 0.8), got "
                             f"{fraction!r}")


def d3rlpy_episodes(dataset: TrajectoryDataset) -> list[Episode]:
    """The dataset's episodes as d3rlpy `Episode`s, built from its own bounds (d3rlpy's
    episode builder drops some one-step episodes: 5,321 of the KuaiRand-Pure sample's
    12,399)."""
    flat = dataset.flat_observations()
    actions = dataset.actions.astype(np.int64).reshape(-1, 1)
    rewards = dataset.rewards.astype(np.float32).reshape(-1, 1)
    starts, stops = dataset.episode_bounds()
    return [Episode(observations=flat[a:b], actions=actions[a:b], rewards=rewards[a:b],
                    terminated=bool(dataset.terminals[b - 1]))
            for a, b in zip(starts, stops, strict=True)]


@dataclass(frozen=True, eq=False)
class TrajectorySlices:
    """A dataset's episodes (d3rlpy's) and the windows of `context_size` steps the
    transformer trains on: each ends at a step drawn uniformly from all steps, padded at
    the front where the episode started later, returns-to-go and rewards divided by
    `return_scale`."""

    episodes: list[Any]
    starts: np.ndarray
    """(E,) index of each episode's first step among all steps."""
    n_steps: int
    context_size: int
    return_scale: float

    @classmethod
    def of(cls, dataset: TrajectoryDataset, context_size: int, return_scale: float,
           max_timestep: int) -> TrajectorySlices:
        """The slices of `dataset` (its episodes must fit in `max_timestep` steps)."""
        episodes = d3rlpy_episodes(dataset)
        sizes = np.array([episode.size() for episode in episodes], np.int64)
        if sizes.max() > max_timestep:
            raise InputError(f"d3rlpy_dt: an episode of {dataset.source!r} has "
                             f"{sizes.max()} steps, more than the environment's max_steps "
                             f"({max_timestep}); build the dataset with the settings of the "
                             "environment the agent will act in")
        return cls(episodes=episodes, starts=np.r_[0, np.cumsum(sizes)[:-1]],
                   n_steps=int(sizes.sum()), context_size=context_size,
                   return_scale=return_scale)

    def sample(self, rng: np.random.Generator, batch_size: int) -> TrajectoryMiniBatch:
        """`batch_size` windows ending at steps drawn uniformly with replacement by
        `rng`."""
        steps = rng.integers(0, self.n_steps, batch_size)
        owners = np.searchsorted(self.starts, steps, side="right") - 1
        slicer = BasicTrajectorySlicer()
        batch = TrajectoryMiniBatch.from_partial_trajectories([
            slicer(self.episodes[e], int(s - self.starts[e]), self.context_size)
            for s, e in zip(steps, owners, strict=True)])
        scale = np.float32(1.0 / self.return_scale)
        return dataclasses.replace(batch, rewards=batch.rewards * scale,
                                   returns_to_go=batch.returns_to_go * scale)


class Contexts:
    """The last `size` steps of the current episode of each of `n` sub-environments, as
    the transformer reads them (padded at the front, `masks` 1 where filled), and the
    return each still has to earn (`remaining`, in reward units)."""

    def __init__(self, n: int, size: int, flat_dim: int, device: str) -> None:
        self.n = n
        self.observations = torch.zeros(n, size, flat_dim, device=device)
        self.actions = torch.zeros(n, size, 1, device=device)
        self.returns_to_go = torch.zeros(n, size, 1, device=device)
        self.timesteps = torch.zeros(n, size, dtype=torch.long, device=device)
        self.masks = torch.zeros(n, size, device=device)
        self.remaining = np.zeros(n)
        self.steps = np.zeros(n, np.int64)
        self.started = np.zeros(n, dtype=bool)

    def push(self, flat: torch.Tensor, new_episode: np.ndarray, target: float, scale: float,
             max_timestep: int) -> None:
        """Append each row's observation; rows that start an episode (or have none yet)
        are emptied first and prompted with `target`."""
        fresh = new_episode | ~self.started
        if fresh.any():
            rows = torch.as_tensor(np.flatnonzero(fresh), device=self.masks.device)
            for tensor in (self.observations, self.actions, self.returns_to_go,
                           self.timesteps, self.masks):
                tensor[rows] = 0
            self.remaining[fresh] = target
            self.steps[fresh] = 0
            self.started[fresh] = True
        self.steps += 1
        device = self.masks.device

        def shifted(tensor: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
            return torch.cat((tensor[:, 1:], last.to(tensor.dtype)[:, None]), dim=1)

        self.observations = shifted(self.observations, flat)
        self.actions = shifted(self.actions, torch.zeros(self.n, 1, device=device))
        rtg = torch.as_tensor(self.remaining / scale, dtype=torch.float32, device=device)
        self.returns_to_go = shifted(self.returns_to_go, rtg[:, None])
        self.timesteps = shifted(self.timesteps, torch.as_tensor(
            np.minimum(self.steps, max_timestep), device=device))
        self.masks = shifted(self.masks, torch.ones(self.n, device=device))

    def record_actions(self, actions: np.ndarray) -> None:
        """The items chosen at the last pushed step."""
        self.actions[:, -1, 0] = torch.as_tensor(np.asarray(actions, np.float32),
                                                 device=self.actions.device)

    def transformer_input(self, row: int) -> TransformerInput:
        """Row `row`'s context (its filled steps) as d3rlpy's `TransformerInput`, for
        d3rlpy's own `predict`."""
        filled = int(self.masks[row].sum().item())

        def part(tensor: torch.Tensor) -> np.ndarray:
            return tensor[row, tensor.shape[1] - filled:].cpu().numpy()

        return TransformerInput(
            observations=part(self.observations),
            actions=part(self.actions)[:, 0].astype(np.int64),
            rewards=np.zeros((filled, 1), np.float32), returns_to_go=part(self.returns_to_go),
            timesteps=part(self.timesteps).astype(np.int32))


class DecisionTransformerAgent(D3rlpyAgent):
    """Decision transformer (d3rlpy `DiscreteDecisionTransformer`, Chen et al. 2021) over
    item ids: a causal transformer over (return-to-go, state, action) tokens of the last
    `context_size` steps, trained by cross-entropy on the logged items, every state
    through the recgym encoder (`RecEncoderFactory`).

    The return-to-go is one scalar: the rest of the episode's return in the dataset's
    scalar reward (the immediate signals plus the weighted retention, by the dataset's
    `reward_weights`), divided by the largest absolute episode return of the training data.
    Acting, each episode starts with the prompt `rtg_prompt` x the highest
    training episode return, less the rewards received since (`record_rewards`, which
    `recgym.evaluate` calls after each step with the environment's reward vectors; weighed
    with the dataset's `reward_weights`).

    `predict` takes a vector environment's batch of observations (or one) and keeps a
    context per row (sub-environment); a row whose observation is an episode's first
    (`session_index` 0, `session_step` 0, empty history) starts afresh, so the same agent
    may act in new episodes and environments (`observe` clears every context). Recently
    seen items are masked (`exclude_seen`); `deterministic=False` samples from the softmax.
    It has no per-observation item probabilities (`action_probabilities` raises): its
    choice depends on the episode so far.
    """

    name: ClassVar[str] = "d3rlpy_dt"
    config_class: ClassVar[type] = D3rlpyDTConfig
    config: D3rlpyDTConfig
    algo_class = d3.DiscreteDecisionTransformerConfig
    stochastic: ClassVar[bool] = True

    def __init__(self, spec: ObsSpec, config: Any = None) -> None:
        super().__init__(spec, config)
        self.reward_names: tuple[str, ...] | None = None
        """The dataset's reward names (the order of `reward_weights`)."""
        self.reward_weights = np.zeros(0)
        self.best_return = 0.0
        """Highest episode return of the training data (the prompt's reference)."""
        self.return_scale = 1.0
        """Returns-to-go are divided by this (the largest absolute episode return)."""
        self.contexts: Contexts | None = None
        self._slices: tuple[TrajectoryDataset, TrajectorySlices] | None = None

    @classmethod
    def create(cls, env: Any, config: Any = None) -> Agent:
        """A new agent for a dataset (it reads the rewards and returns from it) or the
        environment it will act in (they come with the first `fit`)."""
        agent = cls(spec_of(env), config)
        if isinstance(env, TrajectoryDataset):
            agent.adopt_returns(env)
        return agent

    def algo_settings(self) -> dict[str, Any]:
        c = self.config
        return {"batch_size": c.batch_size, "learning_rate": c.lr,
                "context_size": c.context_size, "max_timestep": self.spec.max_steps,
                "num_heads": c.num_heads, "num_layers": c.num_layers,
                "encoder_factory": self.encoder_factory()}

    # ------------------------------------------------------------------ data
    def adopt_returns(self, dataset: TrajectoryDataset) -> None:
        """Take the reward definition and the return scale from `dataset` (the first one
        only: later datasets must have the same reward names; the scale stays)."""
        names = tuple(dataset.reward_names)
        if self.reward_names is not None:
            if names != self.reward_names:
                raise InputError(f"{self.name}: the dataset's rewards {list(names)} differ "
                                 f"from the ones the agent learnt ({list(self.reward_names)}); "
                                 "fit it on datasets built with the same reward settings")
            return
        returns = dataset.episode_returns()
        if dataset.n_episodes == 0:
            raise InputError(f"{self.name}: the dataset {dataset.source!r} has no episode")
        self.reward_names = names
        self.reward_weights = weight_vector(names, dataset.reward_weights)
        self.best_return = float(returns.max())
        largest = float(np.abs(returns).max())
        self.return_scale = largest if largest > 0 else 1.0

    def training_data(self, dataset: TrajectoryDataset) -> TrajectorySlices:
        """The windows of `dataset` the transformer trains on (the first dataset also sets
        the reward definition and the return scale)."""
        self.adopt_returns(dataset)
        if self._slices is None or self._slices[0] is not dataset:
            self._slices = (dataset, TrajectorySlices.of(
                dataset, self.config.context_size, self.return_scale, self.spec.max_steps))
        return self._slices[1]

    @property
    def target_return(self) -> float:
        """The return-to-go each episode starts with."""
        return self.config.rtg_prompt * self.best_return

    # ------------------------------------------------------------------ acting
    def observe(self, env: Any) -> None:
        """Refuse an environment of other spaces or other rewards than the dataset's, and
        start every context afresh (evaluation calls this before acting)."""
        super().observe(env)
        names = tuple(unwrap_env(env).reward_names)
        if self.reward_names is not None and names != self.reward_names:
            raise InputError(f"{self.name}: the environment's rewards {list(names)} are not "
                             f"the dataset's ({list(self.reward_names)}); evaluate it in an "
                             "environment built with the dataset's simulator and settings")
        self.contexts = None

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """The next item for each row (sub-environment), given its episode so far; see the
        class docstring."""
        if self.reward_names is None:
            raise InputError(f"{self.name} has not seen a dataset: fit it (or make it from "
                             "the dataset) before predicting")
        action = super().predict(obs, deterministic)
        assert self.contexts is not None
        self.contexts.record_actions(np.asarray(action).reshape(-1))
        return action

    def network_scores(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_items) logits of the next item: the flat observations `x` become the next
        step of each row's context (a row whose observation starts an episode starts
        afresh)."""
        if self.contexts is None or self.contexts.n != len(x):
            self.contexts = Contexts(len(x), self.config.context_size, self.spec.flat_dim,
                                     self.device)
        parts = self.spec.unflatten(x)
        new_episode = ((parts["session_index"][:, 0] == 0) & (parts["session_step"][:, 0] == 0)
                       & (parts["history_mask"].sum(dim=1) == 0))
        contexts = self.contexts
        contexts.push(x, new_episode.cpu().numpy(), self.target_return, self.return_scale,
                      self.spec.max_steps)
        return internals.transformer_logits(self.algo, contexts.observations,
                                            contexts.actions, contexts.returns_to_go,
                                            contexts.timesteps, contexts.masks)

    def record_rewards(self, reward_vectors: np.ndarray, done: np.ndarray) -> None:
        """Lower each row's return-to-go by the reward of its last step (the reward
        vectors, in the environment's `reward_names` order, weighed with the dataset's
        `reward_weights`); `done` is not needed (new episodes are told by their first
        observation)."""
        del done
        vectors = np.asarray(reward_vectors, np.float64)
        vectors = vectors.reshape(1, -1) if vectors.ndim == 1 else vectors
        if self.contexts is None:
            return
        if vectors.shape != (self.contexts.n, len(self.reward_weights)):
            raise InputError(f"{self.name}.record_rewards: expected reward vectors of shape "
                             f"({self.contexts.n}, {len(self.reward_weights)}) (one row per "
                             f"observation predicted on, rewards {self.reward_names}), got "
                             f"{vectors.shape}")
        self.contexts.remaining -= vectors @ self.reward_weights

    def action_probabilities(self, observations: dict[str, np.ndarray]) -> np.ndarray:
        """Not available: the transformer's choice depends on the episode so far, not on
        one observation."""
        raise InputError(f"{self.name} chooses from the episode so far (states, items, "
                         "returns-to-go), so it has no item probabilities for single logged "
                         "observations and off-policy estimators cannot evaluate it; "
                         "evaluate it in the environment (recgym.evaluate)")

    def d3rlpy_predict(self, flat: np.ndarray) -> np.ndarray:
        """Not available for a transformer (d3rlpy's `predict` takes one sequence); see
        `d3rlpy_context_logits`."""
        raise InputError(f"{self.name}: d3rlpy's predict takes one context; use "
                         "d3rlpy_context_logits(row) after predict")

    def d3rlpy_context_logits(self, row: int) -> np.ndarray:
        """(n_items,) d3rlpy's own `predict` (no masking) on row `row`'s current context,
        for checks."""
        if self.contexts is None:
            raise InputError(f"{self.name}: no context yet; call predict first")
        self.algo.impl.modules.set_eval()
        return np.asarray(self.algo.predict(self.contexts.transformer_input(row)))

    # ------------------------------------------------------------------ persistence
    def weights(self) -> dict[str, Any]:
        out = super().weights()
        if self.reward_names is not None:
            out["returns"] = {"reward_names": list(self.reward_names),
                              "reward_weights": self.reward_weights.copy(),
                              "best_return": self.best_return,
                              "return_scale": self.return_scale}
        return out

    def load_weights(self, weights: dict[str, Any]) -> None:
        super().load_weights(weights)
        returns = weights.get("returns")
        if returns is not None:
            self.reward_names = tuple(str(n) for n in returns["reward_names"])
            self.reward_weights = np.asarray(returns["reward_weights"], np.float64)
            self.best_return = float(returns["best_return"])
            self.return_scale = float(returns["return_scale"])
        self.contexts = None

    def training_state(self) -> dict[str, Any]:
        return {**super().training_state(),
                "tokens": internals.transformer_tokens(self.algo)}

    def load_training_state(self, state: dict[str, Any], env: Any = None) -> None:
        super().load_training_state(state, env)
        internals.set_transformer_tokens(self.algo, int(state["tokens"]))
