"""`DT4IERAgent` ('dt4ier') and `PlainDTAgent` ('dt'): decision transformers over the
sessions of logged episodes, conditioned on a 2-D return-to-go (immediate, long-term)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from agents.base import Agent, Callback, batch_of, is_batched, step_counts, unwrap_env
from agents.offline.base import spec_of
from agents.offline.data import check_dataset, spec_differences
from agents.offline.dt4ier.batches import SessionTensors, contrastive_loss, list_loss
from agents.offline.dt4ier.config import DT4IERConfig, PlainDTConfig
from agents.offline.dt4ier.model import (
    DecisionTransformer,
    RewardNet,
    SessionBatch,
    reward_net_loss,
)
from agents.offline.dt4ier.tracker import EpisodeMemory, Memories
from agents.online.baselines.common import as_action
from agents.torch_random import OwnTorchRandom
from offline_data.shared.errors import InputError
from recgym.masking import seen_mask
from recgym.offline import TrajectoryDataset
from recgym.offline.sessions import (
    RETENTION,
    immediate_index,
    session_start_observations,
    sessions_of,
)
from recgym.spaces import ObsSpec

logger = logging.getLogger(__name__)


@dataclass
class Windows:
    """Arrays of B windows of T sessions: the transformer's input before scaling."""

    rtg: np.ndarray
    """(B, T, 2) raw returns-to-go."""
    state: np.ndarray
    obs: np.ndarray
    """(B, T, flat_dim) the observation at each session's start."""
    action: np.ndarray
    time: np.ndarray
    valid: np.ndarray

    @classmethod
    def empty(cls, b: int, t: int, history: int, list_size: int, spec: ObsSpec) -> Windows:
        """Windows of padding, to be filled."""
        return cls(rtg=np.zeros((b, t, 2), np.float32),
                   state=np.full((b, t, history), spec.n_items, np.int64),
                   obs=np.zeros((b, t, spec.flat_dim), np.float32),
                   action=np.full((b, t, list_size), spec.n_items, np.int64),
                   time=np.zeros((b, t), np.int64), valid=np.zeros((b, t), bool))


class DT4IERAgent(OwnTorchRandom, Agent):
    """DT4IER: a decision transformer over sessions whose return-to-go is 2-D (the
    immediate signal's rate, the retention reward), balanced per user by a RewardNet,
    embedded by an AutoDis-style bucket encoder, trained with cross-entropy on the logged
    item lists plus a contrastive term against low-performing sessions.

    `fit(dataset, n)` does n gradient steps on a `TrajectoryDataset` (the RewardNet first
    trains `reward_net_steps` steps, once). `predict(obs)` is stateful: it follows each
    sub-environment's episode, decodes `list_size` distinct items when a session starts
    (recently seen items masked) and serves them `slate_size` a step; `recgym.evaluate`
    hands it the rewards (`record_rewards`), from which it lowers the return-to-go still
    to reach (without them only the immediate part is lowered, from the observed
    feedback). The target at an episode's start is `rtg_prompt` x the largest return-to-go
    in the training data.
    """

    name: ClassVar[str] = "dt4ier"
    config_class: ClassVar[type] = DT4IERConfig
    config: DT4IERConfig
    offline: ClassVar[bool] = True

    def __init__(self, spec: ObsSpec, config: Any = None) -> None:
        super().__init__(spec, config)
        if spec.n_candidates is not None:
            raise InputError(f"{self.name} ranks all {spec.n_items} items; candidate mode "
                             f"(n_candidates={spec.n_candidates}) is not supported")
        c = self.config
        self.init_torch_random(c.torch_device())
        self.rng = np.random.default_rng(c.seed)
        self.act_rng = torch.Generator().manual_seed(c.seed + 1)
        with self.torch_random():
            torch.manual_seed(c.seed)
            self.model = DecisionTransformer(spec, c).to(self.device)
            self.reward_net = RewardNet(spec.user_feature_dim).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=c.lr)
        self.reward_optimizer = torch.optim.Adam(self.reward_net.parameters(), lr=1e-3)
        self.scale = np.ones(2, dtype=np.float32)
        """The largest return-to-go of the training data (immediate, long-term)."""
        self.reward_names: tuple[str, ...] = ()
        self.reward_net_done = 0
        self.losses: dict[str, float] = {}
        self._data: tuple[TrajectoryDataset, SessionTensors] | None = None
        self._memories: Memories | None = None

    @classmethod
    def create(cls, env: Any, config: Any = None) -> Agent:
        """A new agent for a dataset (its sessions are built and checked now, and fix the
        return scale) or for the environment it will act in (then `fit` fixes it)."""
        agent = cls(spec_of(env), config)
        if isinstance(env, TrajectoryDataset):
            agent.sessions(env)
        return agent

    # ------------------------------------------------------------------ data
    def sessions(self, dataset: TrajectoryDataset) -> SessionTensors:
        """The dataset's sessions on the device (built once per dataset object); the first
        dataset fixes the return scale and the reward names."""
        if self._data is None or self._data[0] is not dataset:
            c = self.config
            sessions = sessions_of(dataset, history=c.history, list_size=c.list_size,
                                   immediate_signal=c.immediate_signal)
            first = self.spec.flatten(session_start_observations(dataset, sessions))
            tensors = SessionTensors.of(sessions, first, c, self.device)
            if not self.reward_names:
                self.reward_names = tuple(dataset.reward_names)
                returns = sessions.returns_to_go[sessions.position == 0]
                self.scale = np.maximum(returns.max(axis=0), 1e-6).astype(np.float32)
            elif tuple(dataset.reward_names) != self.reward_names:
                raise InputError(f"{self.name}: the dataset's rewards "
                                 f"{list(dataset.reward_names)} differ from the ones it was "
                                 f"trained on {list(self.reward_names)}")
            self._data = (dataset, tensors)
        return self._data[1]

    def rtg_weights(self, features: torch.Tensor) -> torch.Tensor:
        """(M, 2) factors of the scaled return-to-go: 2 x the RewardNet's weights (1 and 1
        for equal weights), or ones without user weighting."""
        if not self.config.user_weights:
            return torch.ones(len(features), 2, device=self.device)
        return 2.0 * self.reward_net(features)

    # ------------------------------------------------------------------ training
    def fit(self, dataset: Any, total_steps: int, callbacks: Sequence[Callback] = (),
            budget: int | None = None) -> DT4IERAgent:
        """`total_steps` more gradient steps on `dataset` (a `TrajectoryDataset` of this
        agent's spec)."""
        steps, _ = step_counts(total_steps, budget)
        data = self.sessions(check_dataset(self.name, self.spec, dataset))
        c = self.config
        scale = torch.as_tensor(self.scale, device=self.device)
        with self.torch_random():
            if c.user_weights and self.reward_net_done < c.reward_net_steps:
                self._fit_reward_net(data, scale)
            self.model.train()
            sums: dict[str, float] = {}
            for _ in range(steps):
                for key, value in self._update(data, scale).items():
                    sums[key] = sums.get(key, 0.0) + value
                self.num_steps += 1
        if steps:
            kept = {k: v for k, v in self.losses.items() if k == "reward_net"}
            self.losses = {**kept, **{k: v / steps for k, v in sums.items()}}
        self.run_callbacks(callbacks)
        return self

    def _fit_reward_net(self, data: SessionTensors, scale: torch.Tensor) -> None:
        features = data.episode_features()
        returns = data.episode_returns() / scale
        if self.spec.user_feature_dim == 0 or not (features != 0).any(dim=1).all():
            missing = int((~(features != 0).any(dim=1)).sum())
            logger.warning("%s: %d of %d episodes' users have no user features: they get "
                           "one global weighting of the two returns", self.name, missing,
                           len(features))
        self.reward_net.train()
        c = self.config
        while self.reward_net_done < c.reward_net_steps:
            rows = torch.as_tensor(self.rng.integers(0, len(features), c.batch_size),
                                   device=self.device)
            loss = reward_net_loss(self.reward_net(features[rows]), returns[rows], c.balance)
            self.reward_optimizer.zero_grad()
            loss.backward()
            self.reward_optimizer.step()
            self.reward_net_done += 1
            self.losses["reward_net"] = float(loss.detach())
        self.reward_net.eval()

    def _update(self, data: SessionTensors, scale: torch.Tensor) -> dict[str, float]:
        c = self.config
        rows, valid = data.sample(self.rng, c.batch_size, c.context)
        with torch.no_grad():
            weights = self.rtg_weights(data.features[rows.reshape(-1)]).reshape(
                *rows.shape, 2)
        batch = data.batch(rows, valid, weights, scale)
        hidden = self.model.session_states(batch)[valid]
        action = batch.action[valid]
        ce, logits = list_loss(self.model, hidden, action)
        loss = ce
        out = {"cross_entropy": float(ce.detach())}
        if c.contrastive:
            contra = contrastive_loss(self.model, logits, action, data.low[rows][valid],
                                      c.temperature)
            loss = loss + c.contrastive_weight * contra
            out["contrastive"] = float(contra.detach())
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        return out

    # ------------------------------------------------------------------ acting
    def target(self) -> np.ndarray:
        """(2,) the return-to-go an episode starts from: the prompt x the data's largest."""
        return self.config.rtg_prompt * self.scale

    def observe(self, env: Any) -> None:
        """Refuse an environment of other spaces or rewards (evaluation calls this first)."""
        base = unwrap_env(env)
        differ = spec_differences(self.spec, base.core.spec)
        if differ:
            raise InputError(f"{self.name} was trained on a dataset of another environment "
                             f"({', '.join(differ)} differ); evaluate it in an environment "
                             "built with the dataset's simulator and settings")
        names = tuple(getattr(base, "reward_names", ()))
        if self.reward_names and names and names != self.reward_names:
            raise InputError(f"{self.name}: the environment's rewards {list(names)} differ "
                             f"from the dataset's {list(self.reward_names)}")

    def record_rewards(self, reward_vectors: np.ndarray, done: np.ndarray) -> None:
        """Take the reward vectors of the step just taken (the long-term part lowers the
        return-to-go at the session's end); `done` marks ended episodes."""
        if self._memories is None or len(self._memories) != len(reward_vectors):
            return
        if RETENTION in self.reward_names:
            index = self.reward_names.index(RETENTION)
            self._memories.add_long_term(np.asarray(reward_vectors)[:, index])
        self._memories.end(done)

    def reset_memory(self) -> None:
        """Forget the episodes followed so far (the next observations start new ones)."""
        self._memories = None

    def predict(self, obs: dict[str, Any], deterministic: bool = True) -> Any:
        """The next slate of each sub-environment (one observation or a batch)."""
        if not self.reward_names:
            raise InputError(f"{self.name} has not been trained: fit it on a dataset first")
        batch = batch_of(obs)
        size = len(batch["history_items"])
        if self._memories is None or len(self._memories) != size:
            self._memories = Memories(
                size, self.target(), self.config.history,
                immediate_index(self.spec.signal_names, self.config.immediate_signal),
                self.spec.slate_size, self.spec.n_items, self.config.replan)
        memories = self._memories
        new_session, refill = memories.observe(batch, self.spec.flatten(batch))
        need = np.flatnonzero(new_session | refill)
        if len(need):
            self._decode(memories, batch, need, deterministic)
        return as_action(memories.serve(), is_batched(dict(obs)), self.spec.slate_size)

    def _decode(self, memories: Memories, batch: dict[str, np.ndarray], rows: np.ndarray,
                deterministic: bool) -> None:
        """Decode a list for each of `rows` from its episode's sessions so far."""
        chosen = [memories.episodes[i] for i in rows]
        banned = np.zeros((len(rows), self.spec.n_items), dtype=bool)
        if self.config.exclude_seen:
            banned |= seen_mask({k: v[rows] for k, v in batch.items()}, self.spec.n_items)
        for j, memory in enumerate(chosen):
            banned[j, memory.served] = True
        features = torch.as_tensor(batch["user_features"][rows], dtype=torch.float32,
                                   device=self.device)
        hidden = self.last_states(chosen, features)
        length = max(self.config.list_size, self.spec.slate_size)
        self.model.eval()
        items = self.model.decode(hidden, length,
                                  torch.as_tensor(banned, device=self.device),
                                  sample=not deterministic, generator=self.act_rng)
        for memory, decoded in zip(chosen, items.cpu().numpy(), strict=True):
            if len(memory.actions[-1]) == 0:
                memory.actions[-1] = decoded[:self.config.list_size]
            memory.queue = decoded.tolist()

    @torch.no_grad()
    def last_states(self, memories: list[EpisodeMemory], features: torch.Tensor
                    ) -> torch.Tensor:
        """(M, d) the transformer's state at each followed episode's newest session."""
        c = self.config
        width = min(max(len(m.rtgs) for m in memories), c.context)
        m = len(memories)
        windows = Windows.empty(m, width, c.history, c.list_size, self.spec)
        for j, memory in enumerate(memories):
            t = min(len(memory.rtgs), width)
            first = len(memory.rtgs) - t
            windows.rtg[j, :t] = np.stack(memory.rtgs[first:])
            windows.state[j, :t] = np.stack(memory.states[first:])
            windows.obs[j, :t] = np.stack(memory.observations[first:])
            for col, listed in enumerate(memory.actions[first:]):
                windows.action[j, col, :len(listed)] = listed
            windows.time[j, :t] = np.arange(first, first + t)
            windows.valid[j, :t] = True
        hidden = self.window_states(windows, features.unsqueeze(1).expand(
            m, width, features.shape[-1]))
        last = torch.as_tensor(windows.valid.sum(axis=1) - 1, device=self.device)
        return hidden[torch.arange(m, device=self.device), last]

    @torch.no_grad()
    def window_states(self, windows: Windows, features: torch.Tensor) -> torch.Tensor:
        """(B, T, d) the transformer's state at each session token of `windows` (raw
        returns-to-go, scaled and weighted here) with user `features` (B, T, F)."""
        self.model.eval()
        weights = self.rtg_weights(features.reshape(-1, features.shape[-1])).reshape(
            *features.shape[:2], 2)
        scale = torch.as_tensor(self.scale, device=self.device)

        def tensor(x: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(x, device=self.device)

        return self.model.session_states(SessionBatch(
            rtg=tensor(windows.rtg) / scale * weights, state=tensor(windows.state),
            features=features, obs=tensor(windows.obs), action=tensor(windows.action),
            time=tensor(windows.time),
            valid=tensor(windows.valid)))

    @torch.no_grad()
    def rank_sessions(self, dataset: TrajectoryDataset, k: int, batch_size: int = 256
                      ) -> np.ndarray:
        """(M, k) the list decoded at the start of each session of `dataset` (offline
        evaluation): the context is the episode's logged sessions, the return-to-go the
        prompt lowered by the logged rewards; recently seen items masked."""
        if not self.reward_names:
            raise InputError(f"{self.name} has not been trained: fit it on a dataset first")
        c = self.config
        sessions = sessions_of(check_dataset(self.name, self.spec, dataset),
                               history=c.history, list_size=c.list_size,
                               immediate_signal=c.immediate_signal, min_sessions=1)
        episode_start, _ = sessions.episode_bounds()
        earned = np.cumsum(sessions.rewards, axis=0) - sessions.rewards
        earned -= earned[episode_start][sessions.episode]
        rtg = np.maximum(self.target()[None, :] - earned, 0.0).astype(np.float32)
        # non-overlapping windows of `context` sessions, in session order
        window = sessions.episode * (sessions.position.max() // c.context + 1) + (
            sessions.position // c.context)
        starts = np.flatnonzero(np.r_[True, window[1:] != window[:-1]])
        lengths = np.diff(np.r_[starts, sessions.n_sessions])
        first_obs = session_start_observations(dataset, sessions)
        flat_obs = self.spec.flatten(first_obs)
        banned_all = (seen_mask(first_obs, self.spec.n_items) if c.exclude_seen
                      else np.zeros((sessions.n_sessions, self.spec.n_items), bool))
        out = []
        for begin in range(0, len(starts), batch_size):
            chunk_starts = starts[begin:begin + batch_size]
            chunk_lengths = lengths[begin:begin + batch_size]
            width = int(chunk_lengths.max())
            valid = np.arange(width)[None, :] < chunk_lengths[:, None]
            rows = np.where(valid, chunk_starts[:, None] + np.arange(width)[None, :], 0)
            windows = Windows(rtg=rtg[rows], state=sessions.state[rows], obs=flat_obs[rows],
                              action=sessions.action[rows], time=sessions.position[rows],
                              valid=valid)
            features = torch.as_tensor(sessions.user_features[rows], device=self.device)
            hidden = self.window_states(windows, features)[
                torch.as_tensor(valid, device=self.device)]
            chosen = rows[valid]
            out.append(self.model.decode(
                hidden, k, torch.as_tensor(banned_all[chosen], device=self.device)
            ).cpu().numpy())
        return np.concatenate(out)

    # ------------------------------------------------------------------ persistence
    def weights(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "reward_net": self.reward_net.state_dict(),
                "scale": self.scale.copy(), "reward_names": list(self.reward_names)}

    def load_weights(self, weights: dict[str, Any]) -> None:
        self.model.load_state_dict(weights["model"])
        self.reward_net.load_state_dict(weights["reward_net"])
        self.scale = np.asarray(weights["scale"], np.float32)
        self.reward_names = tuple(weights["reward_names"])

    def training_state(self) -> dict[str, Any]:
        return {**super().training_state(), **self.torch_random_state(),
                "rng": self.rng.bit_generator.state,
                "act_rng": self.act_rng.get_state().numpy().copy(),
                "optimizer": self.optimizer.state_dict(),
                "reward_optimizer": self.reward_optimizer.state_dict(),
                "reward_net_done": self.reward_net_done, "losses": dict(self.losses)}

    def load_training_state(self, state: dict[str, Any], env: Any = None) -> None:
        super().load_training_state(state, env)
        self.load_torch_random_state(state)
        self.rng.bit_generator.state = state["rng"]
        self.act_rng.set_state(torch.from_numpy(np.asarray(state["act_rng"], np.uint8)))
        self.optimizer.load_state_dict(state["optimizer"])
        self.reward_optimizer.load_state_dict(state["reward_optimizer"])
        self.reward_net_done = int(state["reward_net_done"])
        self.losses = {k: float(v) for k, v in state.get("losses", {}).items()}


class PlainDTAgent(DT4IERAgent):
    """A plain decision transformer with a 2-D return-to-go: DT4IER with user weights,
    the reward encoder and the contrastive term off (`PlainDTConfig`)."""

    name: ClassVar[str] = "dt"
    config_class: ClassVar[type] = PlainDTConfig


