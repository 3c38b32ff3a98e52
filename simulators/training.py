"""A small, seeded training loop with early stopping on a validation split."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from offline_data.shared.errors import InputError

LossFn = Callable[[torch.Tensor], torch.Tensor]
"""Maps a batch of row indices to the batch's mean loss."""


def pick_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda when present, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def fit_rows(
    model: nn.Module,
    loss_fn: LossFn,
    train_rows: torch.Tensor,
    val_rows: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    patience: int,
    seed: int,
    desc: str,
    progress: bool,
    val_fn: LossFn | None = None,
    average_span: float = 1.0,
) -> dict[str, float]:
    """Train `model` on mini-batches of `train_rows`, keep the weights with the lowest
    validation loss (`val_fn`, default `loss_fn`), stop after `patience` epochs without
    improvement.

    The weights validated and kept are an exponential moving average of the trained ones
    over about `average_span` epochs (Polyak averaging): it smooths the noise of the last
    steps, so early stopping is steadier and the kept model generalises better.

    Returns the best validation loss, its epoch and the epochs run.
    """
    if len(train_rows) == 0 or len(val_rows) == 0:
        raise InputError(f"{desc}: needs training and validation rows, got {len(train_rows)} "
                         f"and {len(val_rows)}; use a longer log")
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    ema_decay = average_decay(len(train_rows), batch_size, average_span)
    params = [p for p in model.parameters() if p.requires_grad]
    averaged = [p.detach().clone() for p in params]
    best = float("inf")
    best_state = copy.deepcopy(model.state_dict())
    best_epoch, waited, ran = 0, 0, 0
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False, unit="epoch")
    for epoch in bar:
        train_epoch(model, loss_fn, train_rows, optimiser, generator, batch_size=batch_size,
                    averaged=averaged, decay=ema_decay, desc=desc, epoch=epoch)
        current = [p.detach().clone() for p in params]
        _assign(params, averaged)
        val = evaluate_rows(model, val_fn or loss_fn, val_rows, batch_size * 4)
        ran = epoch + 1
        if val < best - 1e-5:
            best, best_epoch, waited = val, ran, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
        _assign(params, current)
        bar.set_postfix(val_loss=f"{val:.4f}", best=f"{best:.4f}")
        if waited >= patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    return {"val_loss": best, "best_epoch": best_epoch, "epochs_run": ran}


def average_decay(train_rows: int, batch_size: int, average_span: float) -> float:
    """The per-step decay of the weights' moving average: a memory of about
    `average_span` epochs of `train_rows` rows in batches of `batch_size`."""
    steps_per_epoch = -(-train_rows // batch_size)
    return max(0.0, 1.0 - 1.0 / max(average_span * steps_per_epoch, 1.0))


def train_epoch(model: nn.Module, loss_fn: LossFn, rows: torch.Tensor,
                optimiser: torch.optim.Optimizer, generator: torch.Generator, *,
                batch_size: int, averaged: list[torch.Tensor], decay: float, desc: str,
                epoch: int) -> None:
    """One epoch over `rows` in mini-batches of a seeded random order; after each step
    `averaged` (the trainable parameters' moving average) moves towards the weights. A
    loss that is not finite stops training with an error naming `desc` and the epoch
    (counted from 0)."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    order = rows[torch.randperm(len(rows), generator=generator).to(rows.device)]
    for batch in order.split(batch_size):
        loss = loss_fn(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"{desc}: the training loss became {float(loss)} in epoch {epoch + 1}; "
                "lower the learning rate (lr) or check the data for extreme values")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            for mean, param in zip(averaged, params, strict=True):
                mean.lerp_(param, 1.0 - decay)


@torch.no_grad()
def _assign(params: list[nn.Parameter], values: list[torch.Tensor]) -> None:
    for p, v in zip(params, values, strict=True):
        p.copy_(v)


@torch.no_grad()
def evaluate_rows(model: nn.Module, loss_fn: LossFn, rows: torch.Tensor, batch_size: int) -> float:
    """Mean loss over `rows` (row-weighted), in eval mode."""
    model.eval()
    total, count = 0.0, 0
    for batch in rows.split(batch_size):
        total += float(loss_fn(batch)) * len(batch)
        count += len(batch)
    return total / max(count, 1)
