"""Sessions on the training device and the mini-batches DT4IER learns from: windows of
`context` consecutive sessions of randomly drawn episodes, and the losses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from agents.offline.dt4ier.config import DT4IERConfig
from agents.offline.dt4ier.model import DecisionTransformer, SessionBatch
from recgym.offline.sessions import Sessions


@dataclass(eq=False)
class SessionTensors:
    """The arrays of `Sessions` as tensors on one device, with what batches need."""

    sessions: Sessions
    rtg: Tensor
    state: Tensor
    action: Tensor
    time: Tensor
    features: Tensor
    obs: Tensor
    """(M, flat_dim) the observation at each session's start."""
    low: Tensor
    """(M,) bool: a low-performing session (both rewards below `low_fraction` of their
    maxima, outcome known)."""
    episode_start: np.ndarray
    episode_length: np.ndarray

    @classmethod
    def of(cls, sessions: Sessions, observations: np.ndarray, config: DT4IERConfig,
           device: str) -> SessionTensors:
        """Move `sessions` and their (M, flat_dim) first `observations` to `device`."""
        rewards = sessions.rewards
        ceiling = config.low_fraction * rewards.max(axis=0)
        low = (rewards[:, 0] < ceiling[0]) & (rewards[:, 1] < ceiling[1]) & \
            sessions.known_outcome
        start, stop = sessions.episode_bounds()

        def tensor(x: np.ndarray, dtype: torch.dtype) -> Tensor:
            return torch.as_tensor(x, dtype=dtype, device=device)

        return cls(sessions=sessions, rtg=tensor(sessions.returns_to_go, torch.float32),
                   state=tensor(sessions.state, torch.long),
                   action=tensor(sessions.action, torch.long),
                   time=tensor(sessions.position, torch.long),
                   features=tensor(sessions.user_features, torch.float32),
                   obs=tensor(observations, torch.float32),
                   low=tensor(low, torch.bool), episode_start=start,
                   episode_length=stop - start)

    def episode_returns(self) -> Tensor:
        """(E, 2) each episode's return (its first session's return-to-go)."""
        return self.rtg[torch.as_tensor(self.episode_start, device=self.rtg.device)]

    def episode_features(self) -> Tensor:
        """(E, F) user features of each episode."""
        return self.features[torch.as_tensor(self.episode_start, device=self.rtg.device)]

    def sample(self, rng: np.random.Generator, batch_size: int, context: int
               ) -> tuple[Tensor, Tensor]:
        """(B, T) session rows of `batch_size` random windows of at most `context`
        sessions, and which of them are real (the rest pad with row 0)."""
        episodes = rng.integers(0, len(self.episode_start), batch_size)
        length = self.episode_length[episodes]
        offset = (rng.random(batch_size) * np.maximum(length - context + 1, 1)).astype(
            np.int64)
        width = int(min(length.max(), context))
        steps = np.arange(width)[None, :]
        valid = steps < np.minimum(length, context)[:, None]
        rows = np.where(valid, self.episode_start[episodes, None] + offset[:, None] + steps,
                        0)
        device = self.rtg.device
        return (torch.as_tensor(rows, device=device),
                torch.as_tensor(valid, device=device))

    def batch(self, rows: Tensor, valid: Tensor, rtg_weights: Tensor, scale: Tensor
              ) -> SessionBatch:
        """The model's input for session `rows` (B, T); returns-to-go scaled by `scale`
        (2,) and weighted by `rtg_weights` (B, T, 2)."""
        return SessionBatch(rtg=self.rtg[rows] / scale * rtg_weights,
                            state=self.state[rows], features=self.features[rows],
                            obs=self.obs[rows],
                            action=self.action[rows], time=self.time[rows], valid=valid)


def list_loss(model: DecisionTransformer, hidden: Tensor, action: Tensor) -> tuple[
        Tensor, Tensor]:
    """Cross-entropy of the logged lists `action` (M, N) decoded from `hidden` (M, d), and
    the logits (M, N, n_items)."""
    logits = model.list_logits(hidden, action)
    filled = action < model.n_items
    target = torch.where(filled, action, torch.zeros_like(action))
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                           reduction="none").reshape(action.shape)
    return (loss * filled).sum() / filled.sum().clamp(min=1), logits


def contrastive_loss(model: DecisionTransformer, logits: Tensor, action: Tensor,
                     low: Tensor, temperature: float) -> Tensor:
    """InfoNCE that pulls each session's predicted list embedding (the expected item
    embedding under its decoded distributions) towards its logged list and pushes it away
    from the lists of the batch's low-performing sessions; 0 when the batch has none or
    only those."""
    if not low.any() or low.all():
        return logits.new_zeros(())
    items = model.items.weight[:model.n_items]
    filled = (action < model.n_items).float().unsqueeze(-1)
    expected = (torch.softmax(logits, -1) @ items * filled).sum(1) / filled.sum(1).clamp(
        min=1.0)
    logged = (model.items(action) * filled).sum(1) / filled.sum(1).clamp(min=1.0)
    predicted = F.normalize(expected[~low], dim=-1)
    positive = (predicted * F.normalize(logged[~low].detach(), dim=-1)).sum(-1, keepdim=True)
    negative = predicted @ F.normalize(logged[low].detach(), dim=-1).T
    scores = torch.cat([positive, negative], dim=1) / temperature
    return -torch.log_softmax(scores, dim=1)[:, 0].mean()
