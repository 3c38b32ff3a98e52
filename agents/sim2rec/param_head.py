"""The auxiliary head that predicts a simulator-set member's parameters from the context
vector, its training on each PPO rollout, and R²: how much better than a head without
context (which can only predict the training average) it predicts them."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from torch import Tensor, nn

from simulators.sim_set import PARAM_NAMES


class ParamHead(nn.Module):
    """Context -> standardised member parameters (the standardisation, fitted on the
    training members, is kept in buffers so it is saved with the weights)."""

    mean: Tensor
    scale: Tensor
    fitted: Tensor
    target_sum: Tensor
    target_count: Tensor

    def __init__(self, context_dim: int, n_params: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(context_dim, 64), nn.ReLU(), nn.Linear(64, n_params))
        self.register_buffer("mean", torch.zeros(n_params))
        self.register_buffer("scale", torch.ones(n_params))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        # the standardised targets seen in training: their mean is what a head without
        # context would learn to predict (the reference of R²)
        self.register_buffer("target_sum", torch.zeros(n_params, dtype=torch.float64))
        self.register_buffer("target_count", torch.zeros((), dtype=torch.float64))

    def set_standardisation(self, params: np.ndarray) -> None:
        """Fit mean and scale on the training members' parameters (rows); a parameter
        equal across members keeps scale 1."""
        values = torch.as_tensor(np.asarray(params, np.float32))
        std = values.std(dim=0, unbiased=False)
        self.mean.copy_(values.mean(dim=0))
        self.scale.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))
        self.fitted.fill_(True)

    def standardise(self, params: Tensor) -> Tensor:
        """Raw parameters -> the head's target scale."""
        return (params - self.mean) / self.scale

    def forward(self, context: Tensor) -> Tensor:
        """(B, n_params) standardised predictions."""
        return self.net(context)

    def observe_targets(self, target: Tensor) -> None:
        """Count a batch of standardised training targets into the baseline."""
        self.target_sum += target.detach().double().sum(dim=0)
        self.target_count += len(target)

    def baseline(self) -> np.ndarray:
        """The mean standardised training target (zeros before any): the prediction of a
        head without context."""
        count = float(self.target_count)
        return (self.target_sum / max(count, 1.0)).cpu().numpy()


def param_columns(names: tuple[str, ...]) -> list[int]:
    """Columns of `SimulatorSet.params` for the parameter `names`."""
    return [PARAM_NAMES.index(name) for name in names]


def r_squared(predicted: np.ndarray, target: np.ndarray,
              reference: np.ndarray | float | None = None,
              groups: np.ndarray | None = None) -> dict[str, float]:
    """R² per column and pooled over columns: 1 - SSE / SST, SST the squared deviations of
    the targets from `reference` (default: their mean). With a context-free head's
    prediction as `reference` (`ParamHead.baseline`), R² is the share of that head's error
    the context removes: 0 for a head that ignores the context, also on held-out members.
    `groups` (e.g. the member of each row) weights every group equally, so members with
    longer episodes do not dominate."""
    predicted, target = np.asarray(predicted, np.float64), np.asarray(target, np.float64)
    if groups is None:
        weight = np.full(len(target), 1.0 / max(len(target), 1))
    else:
        _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
        weight = 1.0 / (counts[inverse] * len(counts))
    centre = (weight @ target if reference is None
              else np.broadcast_to(np.asarray(reference, np.float64), target.shape[1:]))
    sse = weight @ (predicted - target) ** 2
    sst = weight @ (target - centre) ** 2
    tiny = 1e-9 * max(float(np.max(sst, initial=0.0)), 1e-12)
    per = np.where(sst > tiny, 1.0 - sse / np.where(sst > tiny, sst, 1.0), np.nan)
    valid = sst > tiny
    pooled = 1.0 - sse[valid].sum() / sst[valid].sum() if valid.any() else float("nan")
    return {"pooled": float(pooled), **{str(i): float(v) for i, v in enumerate(per)}}


class ParamHeadTrainer(BaseCallback):
    """Collects, for every PPO rollout, the member each stored observation came from (read
    from the environment as the rollout is collected) and keeps the rollout's observations
    and members as `pending`; the head trains on them after PPO's update
    (`Sim2RecAgent.train_param_head`), so PPO's ratios start from the weights that
    collected the rollout."""

    def __init__(self, agent: Any) -> None:
        super().__init__()
        self.agent = agent
        self.records: list[np.ndarray] = []
        self.current: np.ndarray | None = None
        self.pending: tuple[dict[str, np.ndarray], np.ndarray] | None = None

    def _members_now(self) -> np.ndarray:
        members = self.agent.vec_env.core.members()
        assert members is not None, "the parameter head trains on a SimSet environment"
        return members.copy()

    def _on_rollout_start(self) -> None:
        self.records, self.current = [], self._members_now()

    def _on_step(self) -> bool:
        assert self.current is not None
        self.records.append(self.current)  # the member of the observation just acted on
        self.current = self._members_now()  # the next observation's (after any reset)
        return True

    def _on_rollout_end(self) -> None:
        members = np.stack(self.records).reshape(-1)
        self.records = []
        assert isinstance(self.model, OnPolicyAlgorithm)
        stored = self.model.rollout_buffer.observations
        assert isinstance(stored, dict), "recgym observations are dicts"
        obs = {key: value.reshape(len(members), *value.shape[2:]).copy()
               for key, value in stored.items()}
        self.pending = (obs, members)
