"""Behaviour models: propensities for logs that did not record them.

A behaviour model is a classifier over the environment's observation: a recgym state
encoder, then a linear layer over every item and a softmax (Plackett-Luce over the
positions of a slate). It is trained with cross-entropy on the logged actions, with
early stopping on held-out episodes, then temperature-scaled on the same held-out
episodes; a second group of held-out episodes measures it (log-loss, top-k accuracy,
calibration; see `recgym.offline.behaviour_metrics`).

>>> from recgym.offline import episodes_from_log, fit_behaviour
>>> data, model = fit_behaviour(episodes_from_log(log))     # doctest: +SKIP
>>> data.behaviour, data.behaviour_report["heldout"]["logloss"]   # doctest: +SKIP
>>> model.save("runs/behaviour"); BehaviourModel.load("runs/behaviour").apply(new_data)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from offline_data.shared.atomic import atomic_directory
from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from offline_data.shared.jsonfile import json_default, read_json_object
from offline_data.shared.numbers import as_int
from recgym.encoders import ENCODERS, make_encoder, unknown_encoder
from recgym.encoders.base import Batch, prepare, symlog
from recgym.offline.behaviour_metrics import (
    SoftmaxMetrics,
    baseline_metrics,
    compare_propensities,
)
from recgym.offline.dataset import TrajectoryDataset
from recgym.spaces import ObsSpec
from simulators.training import fit_rows, pick_device

BEHAVIOUR_FILE = "behaviour.json"
WEIGHTS_FILE = "weights.pt"
FORMAT_VERSION = 1
TEMPERATURE_ELEMENTS = 30_000_000
"""At most this many logits (rows x items) are kept to fit the temperature."""
TRAIN_SAMPLE = 20_000
"""Training steps scored for the report (the gap to the held-out figures shows
over-fitting)."""


class BehaviourFileError(InputError):
    """A saved behaviour model is missing, damaged or of another format."""


@dataclass(frozen=True)
class BehaviourConfig(ConfigMixin):
    """How a behaviour model is built and fitted."""

    encoder: str = "drr_ave"
    """A `recgym.encoders` name: drr_ave, gru4rec, sasrec, ..."""
    embed_dim: int = 32
    hidden_dim: int = 64
    encoder_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    """Further encoder arguments (e.g. {"with_user": True} for gru4rec)."""
    history_bias: bool = True
    """Add a learned bias to the logits of the items in the history (per history slot and
    per feedback signal): logging policies avoid or repeat what they just showed, which a
    state vector scored against every item captures poorly."""
    use_user_id: bool = True
    """Learn an embedding per user id; False: users are known by their features only (so
    the model applies to users it never saw)."""
    epochs: int = 20
    batch_size: int = 1024
    lr: float = 3e-3
    weight_decay: float = 0.0
    patience: int = 2
    """Epochs without a better validation loss before stopping."""
    val_fraction: float = 0.1
    """Episodes held out for early stopping and the temperature."""
    test_fraction: float = 0.1
    """Episodes held out to measure the model (0: report on the validation episodes)."""
    temperature_scaling: bool = True
    seed: int = 0
    device: str = "auto"
    num_threads: int | None = None
    """Torch CPU threads while fitting (None: torch's default). On a machine shared with
    other jobs 1 can be several times faster than threads that wait for each other."""
    cross_fit: int = 0
    """0 or 1: the propensities of the training steps come from the model that learnt
    them (in sample, so over-confident where it over-fits); k >= 2: cross-fitted, each
    step's from a model fitted without its fold of episodes (k more fits)."""
    progress: bool = False

    def __post_init__(self) -> None:
        for name, low in (("embed_dim", 1), ("hidden_dim", 1), ("epochs", 1),
                          ("batch_size", 1), ("patience", 1), ("seed", 0),
                          ("cross_fit", 0)):
            object.__setattr__(self, name, as_int(getattr(self, name), name, minimum=low))
        key = str(self.encoder).lower().replace("-", "_")
        if key not in ENCODERS:
            raise unknown_encoder(self.encoder, "behaviour-model encoder")
        object.__setattr__(self, "encoder", key)
        if not 0.0 < self.val_fraction < 1.0:
            raise InputError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if not 0.0 <= self.test_fraction < 1.0 - self.val_fraction:
            raise InputError(f"test_fraction must be in [0, 1 - val_fraction), got "
                             f"{self.test_fraction}")
        if self.num_threads is not None:
            object.__setattr__(self, "num_threads",
                               as_int(self.num_threads, "num_threads", minimum=1))
        if not self.lr > 0 or self.weight_decay < 0:
            raise InputError(f"lr must be positive and weight_decay >= 0, got {self.lr} and "
                             f"{self.weight_decay}")


class BehaviourNet(nn.Module):
    """Encoder, a linear layer over the items, the history-item bias and a temperature:
    logits (B, n_items)."""

    inverse_temperature: Tensor

    def __init__(self, spec: ObsSpec, config: BehaviourConfig) -> None:
        super().__init__()
        self.spec = spec
        self.encoder = make_encoder(config.encoder, spec, embed_dim=config.embed_dim,
                                    hidden_dim=config.hidden_dim, **config.encoder_kwargs)
        self.head = nn.Linear(self.encoder.features_dim, spec.n_items)
        self.history_bias = HistoryBias(spec) if config.history_bias else None
        self.register_buffer("inverse_temperature", torch.ones(()))

    def forward(self, obs: Mapping[str, Tensor]) -> Tensor:
        """Dict of batched observation tensors -> temperature-scaled logits."""
        logits = self.head(self.encoder(obs))
        if self.history_bias is not None:
            logits = self.history_bias(logits, prepare(obs, self.spec))
        return logits * self.inverse_temperature


class HistoryBias(nn.Module):
    """Adds to the logit of each item in the history a learned weight of its slot plus a
    linear function of its (symlog) feedback; repeated items add up."""

    def __init__(self, spec: ObsSpec) -> None:
        super().__init__()
        self.slot = nn.Parameter(torch.zeros(spec.history_len))
        self.feedback = nn.Linear(spec.n_signals, 1, bias=False)
        nn.init.zeros_(self.feedback.weight)

    def forward(self, logits: Tensor, batch: Batch) -> Tensor:
        """(B, n_items) logits -> the same with the bias added."""
        bias = (self.slot[None, :] + self.feedback(symlog(batch.feedback)).squeeze(-1))
        padded = torch.cat([logits, torch.zeros_like(logits[:, :1])], dim=1)
        padded = padded.scatter_add(1, batch.items, bias * batch.mask)
        return padded[:, :-1]


def action_log_prob(logits: Tensor, actions: Tensor) -> Tensor:
    """(B,) log-probability of the logged actions: the item (B,), or the ordered slate
    (B, k) drawn item by item from the softmax over the items left (Plackett-Luce)."""
    if actions.dim() == 1:
        return -F.cross_entropy(logits, actions, reduction="none")
    total = torch.zeros(len(actions), dtype=logits.dtype, device=logits.device)
    left = logits
    for j in range(actions.shape[1]):
        item = actions[:, j:j + 1]
        total = total + left.gather(1, item).squeeze(1) - torch.logsumexp(left, dim=1)
        if j + 1 < actions.shape[1]:
            left = left.scatter(1, item, float("-inf"))
    return total


class BehaviourModel:
    """A fitted behaviour model: probabilities of every item given an observation.

    Use `fit_behaviour` (or `BehaviourModel.fit` then `apply`) to fit one and give a
    dataset its propensities; `save` / `load` to reuse it on new data of the same id
    spaces (a later part of the same log, or logs of the same simulator).
    """

    def __init__(self, net: BehaviourNet, spec: ObsSpec, config: BehaviourConfig,
                 report: dict[str, Any] | None = None) -> None:
        self.net, self.spec, self.config = net, spec, config
        self.report: dict[str, Any] = dict(report or {})
        self.heldout_rows: np.ndarray | None = None
        """Steps of the fitted dataset held out to measure the model (None when loaded)."""
        self.device = next(net.parameters()).device

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, dataset: TrajectoryDataset, config: BehaviourConfig | None = None
            ) -> BehaviourModel:
        """Fit on `dataset`'s logged actions (seeded; early stopping on held-out episodes)
        and measure the model on other held-out episodes (`report`)."""
        config = config or BehaviourConfig()
        _check_fit_data(dataset, config)
        with _threads(config.num_threads):
            return cls._fit(dataset, config)

    @classmethod
    def _fit(cls, dataset: TrajectoryDataset, config: BehaviourConfig) -> BehaviourModel:
        train, val, test = _split_steps(dataset, config)
        device = pick_device(config.device)
        torch.manual_seed(config.seed)
        net = BehaviourNet(dataset.spec, config).to(device)
        obs = _tensors(dataset.observations, device, config.use_user_id)
        actions = torch.from_numpy(np.ascontiguousarray(dataset.actions)).to(device)

        def loss(rows: Tensor) -> Tensor:
            rows = rows.to(device)
            return -action_log_prob(net(_take(obs, rows)), actions[rows]).mean()

        start = time.perf_counter()
        history = fit_rows(net, loss, torch.from_numpy(train), torch.from_numpy(val),
                           epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
                           weight_decay=config.weight_decay, patience=config.patience,
                           seed=config.seed, desc="behaviour model", progress=config.progress)
        temperature = (_fit_temperature(net, obs, actions, val, config.batch_size)
                       if config.temperature_scaling else 1.0)
        seconds = time.perf_counter() - start
        model = cls(net, dataset.spec, config)
        heldout = test if len(test) else val
        first = dataset.actions if dataset.actions.ndim == 1 else dataset.actions[:, 0]
        sample = np.random.default_rng(config.seed).permutation(train)[:TRAIN_SAMPLE]
        model.report = {
            "model": {"encoder": config.encoder, "config": config.to_dict(),
                      "parameters": sum(p.numel() for p in net.parameters()),
                      "temperature": temperature, "n_items": dataset.spec.n_items},
            "fit": {"seconds": round(seconds, 2), "device": str(device),
                    "epochs_run": history["epochs_run"], "best_epoch": history["best_epoch"],
                    "val_logloss": history["val_loss"], "train_steps": len(train),
                    "val_steps": len(val), "test_steps": len(test)},
            "heldout_split": "test" if len(test) else "validation",
            "heldout": model._metrics(dataset, heldout)[1],
            "train_sample": model._metrics(dataset, np.sort(sample))[1],
            "baselines": baseline_metrics(first[train], first[heldout], dataset.spec.n_items),
        }
        model.heldout_rows = heldout
        return model

    # ------------------------------------------------------------------ use
    def apply(self, dataset: TrajectoryDataset) -> TrajectoryDataset:
        """`dataset` with this model's propensities (`behaviour="fitted"`). The report
        holds the model's own report, its metrics on all of `dataset`'s steps and, when
        the dataset recorded propensities, how the fitted ones compare with them (on
        the held-out steps too, when `dataset` is the one the model was fitted on)."""
        self._check_compatible(dataset)
        with _threads(self.config.num_threads):
            log_p, metrics = self._metrics(dataset, np.arange(dataset.n_steps))
        return self.attach(dataset, log_p, {"all_steps": metrics})

    def attach(self, dataset: TrajectoryDataset, log_p: np.ndarray,
               extra: dict[str, Any]) -> TrajectoryDataset:
        """`dataset` with propensities exp(`log_p`) and this model's report plus `extra`
        and the comparison with recorded propensities (see `apply`)."""
        propensities = np.clip(np.exp(log_p), np.finfo(np.float64).tiny, 1.0)
        report = {**self.report, **extra}
        if dataset.propensities is not None:
            report["recorded_behaviour"] = dataset.behaviour
            report["vs_recorded"] = compare_propensities(propensities, dataset.propensities)
            rows = self.heldout_rows
            if rows is not None and len(rows) and rows.max() < dataset.n_steps:
                report["vs_recorded_heldout"] = compare_propensities(
                    propensities[rows], dataset.propensities[rows])
        return dataset.with_propensities(propensities, behaviour="fitted", report=report)

    def propensities(self, dataset: TrajectoryDataset) -> np.ndarray:
        """(S,) the model's probability of each logged action of `dataset`."""
        self._check_compatible(dataset)
        return np.exp(self._metrics(dataset, np.arange(dataset.n_steps))[0])

    @torch.no_grad()
    def action_probabilities(self, observations: Mapping[str, np.ndarray]) -> np.ndarray:
        """(B, n_items) probability of each item as the (first) action, for a batch of
        observations (a `StochasticPolicy`)."""
        self.net.eval()
        obs = _tensors(observations, self.device, self.config.use_user_id)
        n = len(next(iter(obs.values())))
        parts = [torch.softmax(self.net(_take(obs, rows)).double(), dim=1).cpu().numpy()
                 for rows in torch.arange(n, device=self.device).split(self.config.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.spec.n_items))

    def _metrics(self, dataset: TrajectoryDataset, rows: np.ndarray
                 ) -> tuple[np.ndarray, dict[str, Any]]:
        """(log-probability of each logged action in `rows`, metrics over `rows`)."""
        metrics = SoftmaxMetrics()
        log_p = self.score(dataset, rows, metrics)
        return log_p, metrics.result()

    @torch.no_grad()
    def score(self, dataset: TrajectoryDataset, rows: np.ndarray,
              metrics: SoftmaxMetrics | None = None) -> np.ndarray:
        """(len(rows),) log-probability of the logged actions of `dataset`'s steps `rows`,
        adding them to `metrics` when given."""
        self.net.eval()
        obs = _tensors(dataset.observations, self.device, self.config.use_user_id)
        actions = torch.from_numpy(np.ascontiguousarray(dataset.actions)).to(self.device)
        out = []
        for chunk in torch.from_numpy(rows).to(self.device).split(self.config.batch_size * 2):
            logits = self.net(_take(obs, chunk)).float()
            logged = actions[chunk]
            log_p = action_log_prob(logits, logged)
            if metrics is not None:
                first = logged if logged.dim() == 1 else logged[:, 0]
                metrics.add(torch.log_softmax(logits, dim=1), first, log_p)
            out.append(log_p.double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def _check_compatible(self, dataset: TrajectoryDataset) -> None:
        mine, theirs = self.spec, dataset.spec
        for name in ("n_items", "signal_names", "history_len", "user_feature_dim"):
            if getattr(mine, name) != getattr(theirs, name):
                raise InputError(
                    f"{dataset.source}: the behaviour model was fitted to observations with "
                    f"{name}={getattr(mine, name)!r}, this dataset has "
                    f"{getattr(theirs, name)!r}; fit a behaviour model to this data")
        if self.config.use_user_id and theirs.n_users > mine.n_users:
            raise InputError(
                f"{dataset.source}: the behaviour model knows users 0..{mine.n_users - 1}, "
                f"this dataset has {theirs.n_users}; fit it with use_user_id=False to apply "
                "it to other users")

    # ------------------------------------------------------------------ files
    def save(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Write `behaviour.json` (config, observation spec, report) and `weights.pt`
        (the state dict), atomically; replaces only a folder recgym wrote."""
        meta = {"format_version": FORMAT_VERSION, "config": self.config.to_dict(),
                "spec": self.spec.to_dict(), "report": self.report}
        with atomic_directory(directory, overwrite=overwrite, marker=BEHAVIOUR_FILE) as tmp:
            state = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
            torch.save(state, tmp / WEIGHTS_FILE)
            (tmp / BEHAVIOUR_FILE).write_text(json.dumps(meta, indent=1, default=json_default))
        return Path(directory)

    @classmethod
    def load(cls, directory: str | Path, device: str = "auto") -> BehaviourModel:
        """Read a folder written by `save` (weights with `torch.load(weights_only=True)`)."""
        folder = Path(directory)
        meta = read_json_object(
            folder / BEHAVIOUR_FILE, error=BehaviourFileError, hint="save the model again",
            missing=f"{folder}: no {BEHAVIOUR_FILE}; not a behaviour model written by recgym "
                    "(BehaviourModel.save, `recgym data export --behaviour-model`)")
        if meta.get("format_version") != FORMAT_VERSION:
            raise BehaviourFileError(f"{folder / BEHAVIOUR_FILE}: format version "
                                     f"{meta.get('format_version')!r}, this recgym reads "
                                     f"{FORMAT_VERSION}; fit the behaviour model again")
        try:
            config = BehaviourConfig(**{**meta["config"], "device": device})
            spec = ObsSpec.from_dict(meta["spec"])
        except (KeyError, TypeError) as exc:
            raise BehaviourFileError(f"{folder / BEHAVIOUR_FILE}: bad metadata ({exc}); fit "
                                     "the behaviour model again") from None
        torch.manual_seed(config.seed)
        net = BehaviourNet(spec, config)
        try:
            state = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        except Exception as exc:  # missing, truncated or foreign files raise many types
            raise BehaviourFileError(f"{folder / WEIGHTS_FILE}: not readable as this model's "
                                     f"weights ({type(exc).__name__}); save the model "
                                     "again") from None
        net.to(pick_device(device)).eval()
        return cls(net, spec, config, meta.get("report"))


def fit_behaviour(dataset: TrajectoryDataset, config: BehaviourConfig | None = None
                  ) -> tuple[TrajectoryDataset, BehaviourModel]:
    """Fit a behaviour model to `dataset` and return the dataset with its propensities
    (`behaviour="fitted"`, the report in `behaviour_report`) and the model.

    With `config.cross_fit` k >= 2 the propensities are cross-fitted: each step's comes
    from a model fitted to the other k - 1 folds of episodes (the report's `cross_fit`
    holds their metrics over every step, all out of sample); the returned model is the
    one fitted to the whole dataset, for reuse."""
    from recgym.offline.cross_fit import check_folds, cross_fitted_log_propensities

    config = config or BehaviourConfig()
    if config.cross_fit >= 2:
        check_folds(dataset, config.cross_fit)
    model = BehaviourModel.fit(dataset, config)
    if config.cross_fit < 2:
        return model.apply(dataset), model
    log_p, report = cross_fitted_log_propensities(dataset, config)
    return model.attach(dataset, log_p, {"cross_fit": report}), model


# ---------------------------------------------------------------------- helpers
def _check_fit_data(dataset: TrajectoryDataset, config: BehaviourConfig) -> None:
    if dataset.n_steps == 0:
        raise InputError(f"{dataset.source}: the dataset is empty (no steps); build it from "
                         "a log with interactions")
    needed = 3 if config.test_fraction > 0 else 2
    if dataset.n_episodes < needed:
        raise InputError(
            f"{dataset.source}: a behaviour model holds out episodes for early stopping"
            f"{' and testing' if needed == 3 else ''}, so it needs at least {needed} "
            f"episodes; this dataset has {dataset.n_episodes}. Use a longer log"
            f"{' or test_fraction=0' if needed == 3 else ''}")


def _split_steps(dataset: TrajectoryDataset, config: BehaviourConfig
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step rows of the training, validation and test episodes (a seeded split)."""
    n = dataset.n_episodes
    order = np.random.default_rng(config.seed).permutation(n)
    n_val = max(1, math.ceil(config.val_fraction * n))
    n_test = max(1, math.ceil(config.test_fraction * n)) if config.test_fraction > 0 else 0
    n_val = min(n_val, n - n_test - 1)
    part = np.zeros(n, dtype=np.int8)
    part[order[:n_val]] = 1
    part[order[n_val:n_val + n_test]] = 2
    of_step = part[dataset.episode]
    return (np.flatnonzero(of_step == 0), np.flatnonzero(of_step == 1),
            np.flatnonzero(of_step == 2))


@contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """Run with `count` torch CPU threads (None: leave them), restoring them after."""
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _tensors(observations: Mapping[str, np.ndarray], device: torch.device,
             use_user_id: bool) -> dict[str, Tensor]:
    # a copy only for arrays numpy may not write to (e.g. read from Parquet), which torch
    # would warn about
    out = {key: torch.from_numpy(np.require(value, requirements=["C", "W"])).to(device)
           for key, value in observations.items()}
    if not use_user_id and "user_id" in out:
        out["user_id"] = torch.zeros_like(out["user_id"])
    return out


def _take(obs: Mapping[str, Tensor], rows: Tensor) -> dict[str, Tensor]:
    return {key: value[rows] for key, value in obs.items()}


@torch.no_grad()
def _fit_temperature(net: BehaviourNet, obs: Mapping[str, Tensor], actions: Tensor,
                     rows: np.ndarray, batch_size: int) -> float:
    """Set the net's temperature to minimise the log-loss on `rows` (at most
    `TEMPERATURE_ELEMENTS` logits kept); returns it."""
    from scipy.optimize import minimize_scalar

    net.eval()
    n_items = net.head.out_features
    keep = rows[:max(1000, TEMPERATURE_ELEMENTS // n_items)]
    index = torch.from_numpy(keep).to(actions.device)
    logits = torch.cat([net(_take(obs, chunk)).float() for chunk in index.split(batch_size)])
    logged = actions[index]

    def loss(beta: float) -> float:
        return float(-action_log_prob(logits * beta, logged).double().mean())

    best = minimize_scalar(loss, bounds=(0.05, 5.0), method="bounded",
                           options={"xatol": 1e-3})
    beta = float(best.x) if loss(float(best.x)) < loss(1.0) else 1.0
    net.inverse_temperature.fill_(beta)
    return 1.0 / beta
