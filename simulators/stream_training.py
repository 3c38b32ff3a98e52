"""Training several models on data that arrives one partition at a time.

The streamed counterpart of `training.fit_rows`: per epoch the partitions are visited in
a seeded random order and each model trains on mini-batches of the partition's rows;
then a second pass measures each model's validation loss. Polyak averaging, keeping the
best weights and early stopping work as in `fit_rows`, per model. Only the current
partition's inputs are in memory.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from offline_data.shared.errors import InputError
from simulators.fitting import BatchLoss, Tensors
from simulators.training import average_decay, evaluate_rows, train_epoch

Built = tuple[Tensors, np.ndarray, np.ndarray]
"""A model's inputs for one partition: tensors, training rows, validation rows."""


@dataclass
class StreamTask:
    """One model to train, and how to build its inputs from a loaded partition."""

    name: str
    model: nn.Module
    loss_fn: BatchLoss
    val_fn: BatchLoss
    inputs: Callable[[Any], Built]
    epochs: int
    train_rows: int
    """Training rows over all partitions (sets the averaging span)."""
    val_rows: int
    """Validation rows over all partitions."""


class _State:
    """Optimiser, averaged weights and early-stopping bookkeeping of one task."""

    def __init__(self, task: StreamTask, *, lr: float, weight_decay: float, batch_size: int,
                 seed: int, average_span: float) -> None:
        self.task = task
        self.optimiser = torch.optim.Adam(task.model.parameters(), lr=lr,
                                          weight_decay=weight_decay)
        self.generator = torch.Generator().manual_seed(seed)
        self.decay = average_decay(task.train_rows, batch_size, average_span)
        self.params = [p for p in task.model.parameters() if p.requires_grad]
        self.averaged = [p.detach().clone() for p in self.params]
        self.best = float("inf")
        self.best_state: dict[str, Any] | None = None
        self.best_epoch = self.waited = self.ran = 0
        self.active = True
        self.val_total = 0.0
        self.val_count = 0

    def train(self, built: Built, batch_size: int, device: torch.device, epoch: int) -> None:
        t, train_idx, _ = built
        if not len(train_idx):
            return
        train_epoch(self.task.model, lambda batch: self.task.loss_fn(t, batch),
                    torch.from_numpy(train_idx).to(device), self.optimiser, self.generator,
                    batch_size=batch_size, averaged=self.averaged, decay=self.decay,
                    desc=self.task.name, epoch=epoch)

    def start_validation(self) -> None:
        # validate the averaged weights: swapped in (no copies), gradients released
        self.optimiser.zero_grad(set_to_none=True)
        _swap(self.params, self.averaged)
        self.val_total, self.val_count = 0.0, 0

    def validate(self, built: Built, batch_size: int, device: torch.device) -> None:
        t, _, val_idx = built
        if not len(val_idx):
            return
        rows = torch.from_numpy(val_idx).to(device)
        mean = evaluate_rows(self.task.model, lambda batch: self.task.val_fn(t, batch), rows,
                             batch_size * 4)
        self.val_total += mean * len(val_idx)
        self.val_count += len(val_idx)

    def end_epoch(self, patience: int) -> float:
        val = self.val_total / max(self.val_count, 1)
        self.ran += 1
        if val < self.best - 1e-5:
            self.best, self.best_epoch, self.waited = val, self.ran, 0
            self.best_state = copy.deepcopy(self.task.model.state_dict())
        else:
            self.waited += 1
        _swap(self.params, self.averaged)
        if self.waited >= patience or self.ran >= self.task.epochs:
            self.active = False
        return val

    def finish(self) -> dict[str, float]:
        if self.best_state is not None:
            self.task.model.load_state_dict(self.best_state)
        self.task.model.eval()
        return {"val_loss": self.best, "best_epoch": self.best_epoch, "epochs_run": self.ran}


def train_partitions(
    tasks: list[StreamTask],
    n_parts: int,
    load: Callable[[int], Iterable[Any]],
    *,
    batch_size: int,
    lr: float,
    weight_decay: float,
    patience: int,
    seed: int,
    device: torch.device,
    progress: bool,
    average_span: float = 1.0,
) -> dict[str, dict[str, float]]:
    """Train every task's model on the chunks `load(0..n_parts-1)` yields for each
    partition (loaded twice per epoch: to train, then to validate), until each task has run its
    epochs or stopped early. Returns each task's best validation loss and epochs."""
    for task in tasks:
        if task.train_rows == 0 or task.val_rows == 0:
            raise InputError(f"{task.name}: needs training and validation rows, got "
                             f"{task.train_rows} and {task.val_rows}; use a longer log")
    states = [_State(task, lr=lr, weight_decay=weight_decay, batch_size=batch_size, seed=seed,
                     average_span=average_span) for task in tasks]
    order_gen = torch.Generator().manual_seed(seed)
    bar = tqdm(total=max(t.epochs for t in tasks), desc="streamed fit", unit="epoch",
               disable=not progress, leave=False)
    epoch = 0
    while any(s.active for s in states):
        active = [s for s in states if s.active]
        for index in torch.randperm(n_parts, generator=order_gen).tolist():
            for part in load(index):
                for state in active:
                    state.train(state.task.inputs(part), batch_size, device, epoch)
        for state in active:
            state.start_validation()
        for part in (p for index in range(n_parts) for p in load(index)):
            for state in active:
                state.validate(state.task.inputs(part), batch_size, device)
        losses = {s.task.name: f"{s.end_epoch(patience):.4f}" for s in active}
        epoch += 1
        bar.update(1)
        bar.set_postfix(losses)
    bar.close()
    return {s.task.name: s.finish() for s in states}


@torch.no_grad()
def _swap(params: list[nn.Parameter], others: list[torch.Tensor]) -> None:
    """Exchange the parameters' values with `others` (each list then holds the other's),
    without copying them: memory for one more set of weights is never needed."""
    for k, (p, other) in enumerate(zip(params, others, strict=True)):
        others[k] = p.data
        p.data = other
