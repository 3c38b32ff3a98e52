"""The auxiliary head that predicts a simulator-set member's parameters from the context
vector, its training on each PPO rollout, and R², the share of the parameters' variance
the context explains."""

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

    def __init__(self, context_dim: int, n_params: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(context_dim, 64), nn.ReLU(), nn.Linear(64, n_params))
        self.register_buffer("mean", torch.zeros(n_params))
        self.register_buffer("scale", torch.ones(n_params))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

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


def param_columns(names: tuple[str, ...]) -> list[int]:
    """Columns of `SimulatorSet.params` for the parameter `names`."""
    return [PARAM_NAMES.index(name) for name in names]


def r_squared(predicted: np.ndarray, target: np.ndarray,
              reference: np.ndarray | float | None = None) -> dict[str, float]:
    """R² per column and pooled over columns: 1 - SSE / SST, SST the squared deviations
    of the targets from `reference` (default: their own mean). With the training members'
    mean as `reference`, this is the out-of-sample R² of held-out members: the share of
    their deviation from the training average that the predictions explain (it stays
    defined when the held-out members are few and alike)."""
    predicted, target = np.asarray(predicted, np.float64), np.asarray(target, np.float64)
    centre = target.mean(axis=0) if reference is None else np.asarray(reference, np.float64)
    sse = ((predicted - target) ** 2).sum(axis=0)
    sst = ((target - centre) ** 2).sum(axis=0)
    per = np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0), np.nan)
    pooled = 1.0 - sse.sum() / sst.sum() if sst.sum() > 0 else float("nan")
    return {"pooled": float(pooled), **{str(i): float(v) for i, v in enumerate(per)}}


class ParamHeadTrainer(BaseCallback):
    """Trains the parameter head on every PPO rollout: the member each stored observation
    came from is read from the environment as the rollout is collected, its parameters are
    the targets (see `Sim2RecAgent.train_param_head`).

    `last_r2` is the pooled R² on the latest rollout, before the head's update on it.
    """

    def __init__(self, agent: Any) -> None:
        super().__init__()
        self.agent = agent
        self.records: list[np.ndarray] = []
        self.current: np.ndarray | None = None
        self.last_r2 = float("nan")

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
        obs = {key: value.reshape(len(members), *value.shape[2:])
               for key, value in stored.items()}
        self.last_r2 = self.agent.train_param_head(obs, members)
