"""Fitted Q evaluation (Le et al., 2019) of any target policy, on a dataset's flat
observations with a recgym state encoder.

Why not d3rlpy's `DiscreteFQE`: it bootstraps with the greedy action of a d3rlpy
Q-learning algorithm (`algo.predict_best_action`), so it cannot evaluate stochastic
targets (uniform random, epsilon-greedy, softmax) or policies that are not d3rlpy
algorithms (baselines, oracles, any agent), whose targets need E_pi[Q(s', .)] over the
target's probabilities; and d3rlpy keeps no transition out of the last step of a
timed-out episode, so the reward of that step (in recgym it pays the last session's
retention) never enters its targets. This module regresses
`Q(s, a) <- r + gamma * (1 - end) * sum_a' pi(a'|s') Q_target(s', a')` over every logged
step, where `end` is a terminal or a timeout: the value is that of the episodes as the
dataset cuts them (the environment's return for datasets built with its settings).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from recgym.encoders import make_encoder
from recgym.offline.dataset import TrajectoryDataset
from recgym.offline.targets import TargetProbabilities
from recgym.spaces import ObsSpec

INFERENCE_BATCH = 4096


@dataclass(frozen=True)
class FQEConfig(ConfigMixin):
    """Settings of fitted Q evaluation."""

    encoder: str = "gru4rec"
    """recgym state encoder of the Q network (`recgym.encoders.ENCODERS`)."""
    embed_dim: int = 32
    """Item embedding width of the encoder."""
    hidden_dim: int = 64
    """Hidden width of the encoder and of the Q head."""
    encoder_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    """Further options of the encoder."""
    user_ids: bool = False
    """Embed user ids (encoders that use the user): with one episode per user the Q
    network could memorise each user's logged return; by default every id maps to one
    shared embedding and only the user features tell users apart."""
    n_steps: int = 20_000
    """Gradient steps."""
    batch_size: int = 256
    """Steps per gradient step."""
    learning_rate: float = 1e-3
    """Adam learning rate."""
    target_update: int = 200
    """Gradient steps between copies of the network into the target network (each copy
    is one FQE iteration: with gamma 1, n_steps / target_update should exceed the
    typical episode length)."""
    seed: int = 0
    """Seed of the network's initial weights and of the mini-batches."""
    device: str = "auto"
    """Torch device; "auto" picks cuda when present."""

    def __post_init__(self) -> None:
        for name in ("n_steps", "batch_size", "target_update", "embed_dim", "hidden_dim"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(f"FQEConfig.{name} must be a positive integer, got {value!r}")
        if not self.learning_rate > 0:
            raise InputError(f"FQEConfig.learning_rate must be positive, got "
                             f"{self.learning_rate!r}")


class QNetwork(nn.Module):
    """Flat observation (B, flat_dim) -> Q value of every item (B, n_items)."""

    def __init__(self, spec: ObsSpec, config: FQEConfig) -> None:
        super().__init__()
        self.spec = spec
        seen = spec if config.user_ids else replace(spec, n_users=1)  # ids clamp to 0
        self.encoder = make_encoder(config.encoder, seen, embed_dim=config.embed_dim,
                                    hidden_dim=config.hidden_dim, **config.encoder_kwargs)
        self.head = nn.Sequential(nn.Linear(self.encoder.features_dim, config.hidden_dim),
                                  nn.ReLU(), nn.Linear(config.hidden_dim, spec.n_items))

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        """(B, flat_dim) -> (B, n_items)."""
        return self.head(self.encoder(self.spec.unflatten(flat)))


class FittedQ:
    """A Q function fitted by `fit_fqe`, answering in reward units."""

    def __init__(self, network: QNetwork, scale: float, device: torch.device,
                 losses: list[float]) -> None:
        self.network, self.scale, self.device = network, scale, device
        self.losses = losses
        """Mean squared TD error (in scaled units) over each FQE iteration."""

    @torch.no_grad()
    def q_values(self, flat: np.ndarray) -> np.ndarray:
        """(B, n_items) Q of every item at flat observations (B, flat_dim)."""
        self.network.eval()
        out = [self.network(torch.as_tensor(flat[i:i + INFERENCE_BATCH], device=self.device))
               for i in range(0, len(flat), INFERENCE_BATCH)]
        return torch.cat(out).cpu().numpy().astype(np.float64) * self.scale

    def evaluate(self, dataset: TrajectoryDataset, probabilities: TargetProbabilities
                 ) -> tuple[np.ndarray, np.ndarray]:
        """(Q(s_t, a_t), E_pi[Q(s_t, .)]) at every step of `dataset`, in chunks."""
        flat = dataset.flat_observations()
        actions = dataset.actions

        def both(rows: np.ndarray, probs: np.ndarray) -> np.ndarray:
            q = self.q_values(flat[rows])
            return np.stack([q[np.arange(len(rows)), actions[rows]], (q * probs).sum(1)], 1)

        values = probabilities.reduce(both)
        return values[:, 0], values[:, 1]


def pick_device(name: str) -> torch.device:
    """`auto`: cuda when present, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def fit_fqe(dataset: TrajectoryDataset, rewards: np.ndarray,
            probabilities: TargetProbabilities, gamma: float,
            config: FQEConfig | None = None) -> FittedQ:
    """Fit Q of the target policy behind `probabilities` on `dataset` with `rewards`
    (S,), by mini-batch TD regression against a periodically copied target network."""
    config = config or FQEConfig()
    device = pick_device(config.device)
    n = dataset.n_steps
    # Q in units of the mean absolute episode return, so the regression sees values ~1
    scale = float(np.abs(np.bincount(dataset.episode, weights=rewards)).mean()) or 1.0
    x = torch.as_tensor(dataset.flat_observations(), device=device)
    a = torch.as_tensor(dataset.actions, dtype=torch.int64, device=device)
    r = torch.as_tensor(rewards / scale, dtype=torch.float32, device=device)
    ends = dataset.terminals | dataset.timeouts
    go_on = torch.as_tensor(~ends, dtype=torch.float32, device=device) * float(gamma)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        net = QNetwork(dataset.spec, config).to(device)
        target = QNetwork(dataset.spec, config).to(device)
    target.load_state_dict(net.state_dict())
    optimiser = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    rng = np.random.default_rng(config.seed)
    losses: list[float] = []
    running = 0.0
    for step in range(1, config.n_steps + 1):
        picked = rng.integers(0, n, config.batch_size)
        following = np.minimum(picked + 1, n - 1)
        rows, after = torch.as_tensor(picked, device=device), torch.as_tensor(following,
                                                                               device=device)
        with torch.no_grad():
            pi = torch.as_tensor(probabilities.rows(following), device=device)
            future = (target(x[after]) * pi).sum(dim=1)
            y = r[rows] + go_on[rows] * future
        q = net(x[rows]).gather(1, a[rows, None]).squeeze(1)
        loss = torch.mean((q - y) ** 2)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        running += float(loss.detach())
        if step % config.target_update == 0:
            target.load_state_dict(net.state_dict())
            losses.append(running / config.target_update)
            running = 0.0
    return FittedQ(net, scale, device, losses)
