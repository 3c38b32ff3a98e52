"""Settings of DT4IER and of the plain decision transformer (the same model with the three
DT4IER parts switched off)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from agents.settings import store_ints
from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from offline_data.shared.numbers import is_real
from recgym.encoders import ENCODERS, unknown_encoder


@dataclass(frozen=True)
class DT4IERConfig(ConfigMixin):
    """DT4IER (Liu et al., SIGIR 2024): a decision transformer over sessions with a 2-D
    return-to-go (immediate, long-term). Defaults follow the paper where it is explicit
    (2 layers, 8 heads, embedding 128, 100 reward buckets, lambda 0.5, alpha 0.1, prompt
    0.8); `list_size` is the length of the item list decoded per session."""

    user_weights: bool = True
    """User-specific balancing of the two returns (RewardNet on user features)."""
    reward_encoder: bool = True
    """AutoDis-style soft bucketing of the return-to-go (else one linear layer)."""
    contrastive: bool = True
    """Add the contrastive term against low-performing sessions to the loss."""
    history: int = 30
    """H: clicked items in a session's state (zero-padded)."""
    obs_encoder: str | None = "drr_ave"
    """recgym state encoder of the environment's observation at the session's start (its
    recent items with their feedback, the user), added to the state; None: the paper's
    state (the clicked items) plus the user's features."""
    list_size: int = 10
    """N: items decoded per session (served `slate_size` a step; decoded again when a
    session outlasts them)."""
    context: int = 30
    """Sessions the transformer attends over."""
    embed_dim: int = 128
    layers: int = 2
    heads: int = 8
    dropout: float = 0.3
    buckets: int = 100
    """Meta-embeddings of the reward encoder."""
    balance: float = 0.5
    """lambda of the RewardNet loss -(w_s R_s + w_l R_l) + lambda |w_s R_s - w_l R_l|."""
    contrastive_weight: float = 0.1
    """alpha: loss = cross-entropy + alpha x contrastive."""
    low_fraction: float = 0.6
    """A session is low-performing when both its rewards are below this fraction of their
    maxima in the data."""
    temperature: float = 0.5
    """Temperature of the contrastive similarities."""
    replan: bool = False
    """Decode again at every step of a session, the session's state and observation
    replaced by the current ones (served items masked), so the list adapts within the
    session; off: one list per session, as in the paper."""
    rtg_prompt: float = 0.8
    """Target return-to-go at inference, as a fraction of the largest in the data."""
    immediate_signal: str | None = None
    """The signal whose per-item rate is the immediate reward (None: the log's primary
    signal, the first, e.g. click)."""
    lr: float = 1e-3
    batch_size: int = 32
    """Episodes per gradient step (the RewardNet uses the same size)."""
    reward_net_steps: int = 300
    """Gradient steps of the RewardNet before the transformer trains."""
    exclude_seen: bool = True
    """Never recommend an item of the user's recent history."""
    seed: int = 0
    device: str = "auto"
    """'auto' (cuda when present, else cpu), 'cpu', 'cuda' or 'cuda:N'."""

    def __post_init__(self) -> None:
        store_ints(self, {"history": 1, "list_size": 1, "context": 1, "embed_dim": 1,
                          "layers": 1, "heads": 1, "buckets": 2, "batch_size": 2,
                          "reward_net_steps": 0, "seed": 0})
        for name in ("rtg_prompt", "lr", "temperature"):
            value = getattr(self, name)
            if not is_real(value) or not value > 0 or value == float("inf"):
                raise InputError(f"{name} must be a positive number, got {value!r}"
                                 + ("; the prompt is a fraction of the largest return-to-go "
                                    "in the data (0.8 was best in the paper)"
                                    if name == "rtg_prompt" else ""))
        for name in ("balance", "contrastive_weight"):
            value = getattr(self, name)
            if not is_real(value) or value < 0:
                raise InputError(f"{name} must be a number >= 0, got {value!r}")
        for name in ("dropout", "low_fraction"):
            value = getattr(self, name)
            if not is_real(value) or not 0 <= value < 1:
                raise InputError(f"{name} must be in [0, 1), got {value!r}")
        if self.obs_encoder is not None and self.obs_encoder not in ENCODERS:
            raise unknown_encoder(self.obs_encoder, "obs_encoder", ", or None")
        if self.embed_dim % self.heads:
            raise InputError(f"embed_dim ({self.embed_dim}) must be a multiple of heads "
                             f"({self.heads})")
        if not isinstance(self.device, str) or not (
                self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise InputError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got "
                             f"{self.device!r}")

    @property
    def plain(self) -> bool:
        """All three DT4IER parts off: a plain decision transformer with a 2-D RTG."""
        return not (self.user_weights or self.reward_encoder or self.contrastive)

    def torch_device(self) -> str:
        """The device to build the networks on (`device`, with 'auto' resolved)."""
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device


@dataclass(frozen=True)
class PlainDTConfig(DT4IERConfig):
    """A plain decision transformer with a 2-D return-to-go: DT4IER's code with user
    weights, the reward encoder and the contrastive term off."""

    user_weights: bool = False
    reward_encoder: bool = False
    contrastive: bool = False
