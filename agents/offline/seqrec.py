"""A click-only sequential recommender as a recgym offline agent ('seqrec'): SASRec or
GRU4Rec over the user's recently clicked items, trained to predict the next clicked item;
the supervised baseline the offline RL agents (and DT4IER) are compared with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agents.base import Callback, step_counts
from agents.offline.base import OfflineAgent
from agents.offline.config import OfflineConfig
from agents.offline.data import check_dataset
from agents.online.baselines.common import shown
from offline_data.shared.errors import InputError
from recgym.encoders import make_encoder
from recgym.offline import TrajectoryDataset
from recgym.spaces import ObsSpec

SEQUENCE_ENCODERS = ("sasrec", "gru4rec")
"""The recgym encoders a `SequentialRecommenderAgent` can read the click sequence with."""


@dataclass(frozen=True)
class SeqRecConfig(OfflineConfig):
    """Settings of `SequentialRecommenderAgent`: `encoder` is 'sasrec' or 'gru4rec';
    `lr`, `batch_size` (clicks per gradient step), `embed_dim`, `hidden_dim`, `seed`,
    `exclude_seen` and `device` as for the other offline agents. `gamma` is not used (no
    return is estimated) and `algo_kwargs` must stay empty (no d3rlpy algorithm)."""

    encoder: str = "sasrec"
    """The sequence model over the clicked items: 'sasrec' or 'gru4rec'."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.encoder not in SEQUENCE_ENCODERS:
            raise InputError(f"seqrec reads the click sequence with 'sasrec' or 'gru4rec', "
                             f"got encoder {self.encoder!r}; pick one of those")
        if self.algo_kwargs:
            raise InputError(f"seqrec has no d3rlpy algorithm, so algo_kwargs "
                             f"{sorted(self.algo_kwargs)} cannot be used; leave them out")


class ClickSequenceModel(nn.Module):
    """Scores of every item as the next click: the recgym sequence encoder over the
    history's clicked items (the primary signal > 0; item ids only, their other feedback
    left out), projected to the item-embedding space and matched against the encoder's
    own item embeddings (tied, as in SASRec), plus a per-item bias."""

    def __init__(self, spec: ObsSpec, encoder: str, embed_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.spec = spec
        self.encoder = make_encoder(encoder, spec, embed_dim=embed_dim, hidden_dim=hidden_dim)
        self.project = nn.Linear(self.encoder.features_dim, embed_dim)
        self.bias = nn.Parameter(torch.zeros(spec.n_items))

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        """(B, flat_dim) flat observations -> (B, n_items) logits."""
        obs = self.spec.unflatten(flat)
        feedback = obs["history_feedback"]
        clicked = obs["history_mask"] * (feedback[..., 0] > 0).to(feedback.dtype)
        state = self.encoder({**obs, "history_mask": clicked,
                              "history_feedback": torch.zeros_like(feedback)})
        table = self.encoder.items.embedding.weight[:self.spec.n_items]
        return self.project(state) @ table.T + self.bias


@dataclass(frozen=True, eq=False)
class ClickExamples:
    """The dataset's clicks as training examples: the flat observation before the step
    (its history is the input) and the clicked item (the target)."""

    observations: np.ndarray
    """(N, flat_dim) float32."""
    targets: np.ndarray
    """(N,) int64 item ids."""

    @classmethod
    def of(cls, dataset: TrajectoryDataset) -> ClickExamples:
        """Every clicked item of `dataset`: with one item per step, the steps whose primary
        signal is positive; with slates, each slate item with a positive primary signal,
        read from the next observation of its episode (the last step of an episode has
        none, so its clicks are left out)."""
        spec = dataset.spec
        flat = dataset.flat_observations()
        if spec.slate_size == 1:
            column = dataset.reward_names.index(spec.signal_names[0])
            rows = np.flatnonzero(dataset.reward_vectors[:, column] > 0)
            items = np.asarray(dataset.actions, np.int64)[rows]
        else:
            follows = np.r_[dataset.episode[1:] == dataset.episode[:-1], False]
            step_rows = np.flatnonzero(follows)
            after = {k: np.asarray(v)[step_rows + 1] for k, v in dataset.observations.items()}
            positions, items, primary = shown(after, np.ones(len(step_rows), bool), spec)
            rows, items = step_rows[positions][primary > 0], items[primary > 0]
        if len(rows) == 0:
            raise InputError(f"seqrec: the dataset {dataset.source!r} has no step whose "
                             f"primary signal ({spec.signal_names[0]!r}) is positive, so "
                             "there is no click to learn from")
        return cls(observations=flat[rows], targets=items.astype(np.int64))


class SequentialRecommenderAgent(OfflineAgent):
    """Next-click recommender (SASRec, Kang & McAuley 2018, or GRU4Rec, Hidasi et al.
    2016) trained offline: each logged click is an example whose input is the user's
    clicked items before it (from the observation's history) and whose target is the
    clicked item, learnt by cross-entropy over all items (`ClickSequenceModel`).

    It optimises clicks only (no reward, no return). `predict` recommends the
    `slate_size` best-scored items (recently seen ones masked with `exclude_seen`), so it
    fills slates; `action_probabilities` is one-hot on the best item (slate_size 1).
    Mini-batches are drawn with the agent's own generator, so runs are repeatable and a run
    split into `fit` calls (or saved with its training state and loaded) equals one run.
    """

    name: ClassVar[str] = "seqrec"
    config_class: ClassVar[type] = SeqRecConfig
    config: SeqRecConfig
    slates: ClassVar[bool] = True

    def __init__(self, spec: ObsSpec, config: Any = None) -> None:
        super().__init__(spec, config)
        c = self.config
        self.device = c.torch_device()
        self.rng = np.random.default_rng(c.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)
            self.model = ClickSequenceModel(spec, c.encoder, c.embed_dim,
                                            c.hidden_dim).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=c.lr)
        self._data: tuple[TrajectoryDataset, ClickExamples] | None = None

    def examples(self, dataset: TrajectoryDataset) -> ClickExamples:
        """The clicks of `dataset` (built once per dataset object)."""
        if self._data is None or self._data[0] is not dataset:
            self._data = (dataset, ClickExamples.of(dataset))
        return self._data[1]

    def fit(self, dataset: Any, total_steps: int, callbacks: Sequence[Callback] = (),
            budget: int | None = None) -> SequentialRecommenderAgent:
        """`total_steps` more gradient steps on the clicks of `dataset` (a
        `TrajectoryDataset` of this agent's spec), `batch_size` clicks each; callbacks
        run once after them; `budget` is accepted and unused."""
        steps, _ = step_counts(total_steps, budget)
        data = self.examples(check_dataset(self.name, self.spec, dataset))
        self.model.train()
        total = 0.0
        for _ in range(steps):
            pick = self.rng.integers(0, len(data.targets), self.config.batch_size)
            x = torch.as_tensor(data.observations[pick], device=self.device)
            y = torch.as_tensor(data.targets[pick], device=self.device)
            loss = F.cross_entropy(self.model(x), y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += float(loss.item())
            self.num_steps += 1
        if steps:
            self.losses = {"loss": total / steps}
        self.run_callbacks(callbacks)
        return self

    def item_scores(self, flat: np.ndarray) -> np.ndarray:
        """(B, n_items) logits of the next click."""
        self.model.eval()
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(flat, np.float32), device=self.device)
            return self.model(x).float().cpu().numpy()

    # ------------------------------------------------------------------ persistence
    def weights(self) -> dict[str, Any]:
        return {"model": self.model.state_dict()}

    def load_weights(self, weights: dict[str, Any]) -> None:
        self.model.load_state_dict(weights["model"])

    def training_state(self) -> dict[str, Any]:
        return {**super().training_state(), "rng": self.rng.bit_generator.state,
                "optimizer": self.optimizer.state_dict()}

    def load_training_state(self, state: dict[str, Any], env: Any = None) -> None:
        super().load_training_state(state, env)
        self.rng.bit_generator.state = state["rng"]
        self.optimizer.load_state_dict(state["optimizer"])
