"""Which choices repeat an item the user saw recently (to exclude them, as recommenders
usually do): from an observation, for the full catalogue or the observed candidates."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def seen_mask(obs: dict[str, Any], n_items: int) -> np.ndarray:
    """(B, choices) bool: True where the choice is an item of the observation's history
    (choices are the items, or the candidates when the observation has them)."""
    history = np.asarray(obs["history_items"]).reshape(len(np.asarray(obs["history_items"])),
                                                        -1).astype(np.int64)
    filled = history < n_items
    candidates = obs.get("candidates")
    if candidates is not None:
        cand = np.asarray(candidates).reshape(len(history), -1).astype(np.int64)
        return ((cand[:, :, None] == history[:, None, :]) & filled[:, None, :]).any(axis=2)
    mask = np.zeros((len(history), n_items), dtype=bool)
    rows = np.repeat(np.arange(len(history)), filled.sum(axis=1))
    mask[rows, history[filled]] = True
    return mask


def seen_mask_tensor(obs: dict[str, torch.Tensor], n_items: int) -> torch.Tensor:
    """`seen_mask` for a batch of tensors (ids may be float); same device."""
    history = obs["history_items"].reshape(obs["history_items"].shape[0], -1).round().long()
    filled = history < n_items
    candidates = obs.get("candidates")
    if candidates is not None:
        cand = candidates.reshape(history.shape[0], -1).round().long()
        return ((cand[:, :, None] == history[:, None, :]) & filled[:, None, :]).any(dim=2)
    mask = torch.zeros(history.shape[0], n_items + 1, dtype=torch.bool, device=history.device)
    mask.scatter_(1, torch.where(filled, history, torch.full_like(history, n_items)), True)
    return mask[:, :n_items]
