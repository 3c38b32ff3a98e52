"""Configuration of a simulator fitted to a log (`simulators.fit`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from offline_data.shared.numbers import as_int

ARCHITECTURES = ("shared_bottom", "mmoe")
RETURN_EDGES_H = (0.5, 1, 2, 4, 6, 8, 12, 16, 20, 24, 30, 36, 48, 60, 72, 96, 120, 168, 240,
                  336, 504, 720)
"""Return-gap bucket edges in hours (the last bucket is open: up to 1.5x the last edge)."""


@dataclass(frozen=True)
class Behaviour:
    """Explicit behaviour-pattern perturbations applied when simulating (Sim2Rec).

    The defaults reproduce the fitted model unchanged.
    """

    click_temperature: float = 1.0
    """The primary signal's (calibrated) logit is divided by this (>1: more random, <1:
    sharper)."""
    popularity_bias: float = 0.0
    """Added to the primary logit times the item's standardised log-popularity."""
    leave_scale: float = 1.0
    """Multiplies the odds of leaving after each step."""
    return_scale: float = 1.0
    """Multiplies sampled return gaps."""

    def __post_init__(self) -> None:
        for name in ("click_temperature", "leave_scale", "return_scale"):
            if getattr(self, name) <= 0:
                raise InputError(f"Behaviour.{name} must be positive, got {getattr(self, name)}")


@dataclass(frozen=True)
class SimulatorConfig(ConfigMixin):
    """How `simulators.fit` builds and trains a `LoggedUserSimulator`."""

    signals: tuple[str, ...] | None = None
    """Signals to model (default: all signals of the log)."""
    primary_signal: str | None = None
    """Binary signal the others are conditioned on (default: the log's first binary one)."""
    history_len: int = 10
    """Recent interactions the response model sees."""
    embed_dim: int = 32
    """Size of user / item id embeddings."""
    hidden: tuple[int, ...] = (128, 64)
    """Widths of the shared bottom (or of each expert)."""
    arch: str = "shared_bottom"
    """'shared_bottom' or 'mmoe'."""
    n_experts: int = 4
    """Experts of the MMoE."""
    use_features: bool = True
    """Use user / item feature tables."""
    use_history: bool = True
    """Use the recent-history and session-context inputs."""
    feature_dropout: float = 0.0
    """Dropout on feature and history inputs while training."""
    id_dropout: float = 0.1
    """Share of training rows whose user / item id is hidden (teaches the unknown-id path)."""
    aux_id_dropout: float = 0.3
    """Id dropout of the leave and return models (users only; they overfit quickly)."""
    epochs: int = 30
    batch_size: int = 1024
    lr: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 3
    """Epochs without validation improvement before early stopping."""
    val_fraction: float = 0.1
    """Share of the log's time window, at its end, used for early stopping."""
    aux_epochs: int = 15
    """Epochs of the leave and return models."""
    calibrate: bool = True
    """Fit Platt maps of the binary heads and the leave hazard on the validation slice
    (`simulators.calibration`); the simulator samples with them."""
    return_edges_h: tuple[float, ...] = RETURN_EDGES_H
    seed: int = 0
    device: str = "auto"
    """'auto' (cuda when present), 'cpu' or 'cuda'."""
    progress: bool = True
    """Show a progress bar with epochs and validation loss."""
    behaviour: Behaviour = field(default_factory=Behaviour)

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise InputError(f"arch must be one of {ARCHITECTURES}, got {self.arch!r}")
        # whole numbers may come as numpy integers (np.int64 from an array, a sweep grid);
        # they are stored as plain ints so configs compare, hash and serialise as usual
        for name in ("history_len", "embed_dim", "epochs", "batch_size", "n_experts",
                     "aux_epochs"):
            self._set(name, as_int(getattr(self, name), f"SimulatorConfig.{name}", minimum=1))
        self._set("patience", as_int(self.patience, "SimulatorConfig.patience", minimum=0))
        self._set("seed", as_int(self.seed, "SimulatorConfig.seed"))
        if isinstance(self.hidden, (str, bytes)) or not hasattr(self.hidden, "__iter__"):
            raise InputError(f"SimulatorConfig.hidden must be a sequence of layer widths, got "
                             f"{self.hidden!r}")
        hidden = tuple(as_int(w, "SimulatorConfig.hidden", minimum=1) for w in self.hidden)
        if not hidden:
            raise InputError("SimulatorConfig.hidden needs at least one layer width")
        self._set("hidden", hidden)
        if not 0 < self.val_fraction < 1:
            raise InputError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        for name in ("feature_dropout", "id_dropout", "aux_id_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise InputError(f"SimulatorConfig.{name} must be in [0, 1)")

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # frozen: normalise once, when built

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulatorConfig:
        """Inverse of `to_dict` (lists become tuples)."""
        data = dict(data)
        data["behaviour"] = Behaviour(**data.get("behaviour", {}))
        for key in ("signals", "hidden", "return_edges_h"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)
