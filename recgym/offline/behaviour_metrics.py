"""How good a behaviour model is: log-loss, top-k accuracy and two calibration measures
for a softmax over many items, accumulated batch by batch; and how fitted propensities
compare with recorded ones.

Calibration of a many-class softmax, two views:

- **top-label ECE**: the model's highest probability (its confidence) against how often
  its top item is the logged one, in 15 equal-width bins of confidence (Guo et al. 2017).
- **pairwise ECE** (class-wise calibration, what importance weights need): over every
  (step, item) pair, those whose predicted probability falls in a bin should hold the
  logged item in a share equal to their mean probability. Item probabilities span orders
  of magnitude, so the bins are log-spaced (edges 1e-6, 1e-5, ..., 1e-1, 0.3, 1).
  ECE = sum over bins |logged - expected| / steps, where `expected` is the sum of the
  predicted probabilities in the bin: 0 for a calibrated model, up to 2.

Each comes with `ece_noise`, the ECE that sampling alone gives a perfectly calibrated
model on the same rows (E|X - E X| of each bin's count under the predicted
probabilities, from the normal approximation), so differences well below it say nothing.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

TOP_BINS = 15
PAIR_EDGES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 0.3)
"""Inner edges of the pairwise bins (the outer ones are 0 and 1)."""
TOP_K = 10


class SoftmaxMetrics:
    """Accumulates the metrics of a softmax over items, one batch at a time.

    `add(log_probs, first, logged_logp)` takes the (B, n_items) log-probabilities of the
    first slate position, the logged first item (B,) and the log-probability of the whole
    logged action (B,) (the item, or the ordered slate under Plackett-Luce).
    """

    def __init__(self) -> None:
        self.n = 0
        self.nll = 0.0
        self.top1 = 0
        self.topk = 0
        nb = len(PAIR_EDGES) + 1
        self.top_count = np.zeros(TOP_BINS)
        self.top_conf = np.zeros(TOP_BINS)
        self.top_hits = np.zeros(TOP_BINS)
        self.top_var = np.zeros(TOP_BINS)
        self.pair_count = np.zeros(nb)
        self.pair_mass = np.zeros(nb)
        self.pair_var = np.zeros(nb)
        self.pair_hits = np.zeros(nb)
        self._edges = torch.tensor(PAIR_EDGES)

    @torch.no_grad()
    def add(self, log_probs: Tensor, first: Tensor, logged_logp: Tensor) -> None:
        """Add a batch (tensors on any device)."""
        log_probs = log_probs.detach().float()
        probs = log_probs.exp()
        b, n_items = probs.shape
        self.n += b
        self.nll -= float(logged_logp.double().sum())
        conf, top = probs.max(dim=1)
        correct = top == first
        self.top1 += int(correct.sum())
        k = min(TOP_K, n_items)
        self.topk += int((log_probs.topk(k, dim=1).indices == first[:, None]).any(1).sum())
        conf64 = conf.double().cpu().numpy()
        index = np.minimum((conf64 * TOP_BINS).astype(np.int64), TOP_BINS - 1)
        self.top_count += np.bincount(index, minlength=TOP_BINS)
        self.top_conf += np.bincount(index, weights=conf64, minlength=TOP_BINS)
        self.top_hits += np.bincount(index, weights=correct.cpu().numpy(), minlength=TOP_BINS)
        self.top_var += np.bincount(index, weights=conf64 * (1 - conf64), minlength=TOP_BINS)
        edges = self._edges.to(probs.device)
        bins = torch.bucketize(probs, edges).reshape(-1)
        nb = len(PAIR_EDGES) + 1
        flat = probs.reshape(-1).double()
        self.pair_count += torch.bincount(bins, minlength=nb).cpu().numpy()
        self.pair_mass += torch.bincount(bins, weights=flat, minlength=nb).cpu().numpy()
        self.pair_var += torch.bincount(bins, weights=flat * (1 - flat),
                                        minlength=nb).cpu().numpy()
        logged = probs.gather(1, first[:, None]).reshape(-1)
        self.pair_hits += torch.bincount(torch.bucketize(logged, edges),
                                         minlength=nb).cpu().numpy()

    def result(self) -> dict[str, Any]:
        """The metrics as a JSON-ready dict."""
        n = max(self.n, 1)
        pair_bins = []
        lows = (0.0, *PAIR_EDGES)
        highs = (*PAIR_EDGES, 1.0)
        for b in range(len(self.pair_count)):
            if self.pair_count[b]:
                pair_bins.append({
                    "range": [lows[b], highs[b]], "pairs": int(self.pair_count[b]),
                    "mean_predicted": float(self.pair_mass[b] / self.pair_count[b]),
                    "observed": float(self.pair_hits[b] / self.pair_count[b]),
                    "logged": int(self.pair_hits[b]), "expected": float(self.pair_mass[b])})
        return {
            "steps": int(self.n),
            "logloss": self.nll / n,
            "top1_accuracy": self.top1 / n,
            f"top{TOP_K}_accuracy": self.topk / n,
            "top_label": {
                "ece": float(np.abs(self.top_hits - self.top_conf).sum() / n),
                "ece_noise": _noise(self.top_var, n),
                "mean_confidence": float(self.top_conf.sum() / n),
            },
            "pairwise": {
                "ece": float(np.abs(self.pair_hits - self.pair_mass).sum() / n),
                "ece_noise": _noise(self.pair_var, n),
                "bins": pair_bins,
            },
        }


def _noise(variance: np.ndarray, n: int) -> float:
    """Expected ECE of a calibrated model: sum over bins of E|X - EX| = sqrt(2 var / pi)."""
    return float(np.sqrt(2.0 * variance / math.pi).sum() / max(n, 1))


def baseline_metrics(train_first: np.ndarray, test_first: np.ndarray, n_items: int
                     ) -> dict[str, Any]:
    """Log-loss and top-k accuracy on the test steps of the popularity baseline (item
    frequencies of the training steps, add-one smoothed; first slate position) and of a
    uniform choice."""
    counts = np.bincount(train_first, minlength=n_items).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    top = np.argsort(-counts, kind="stable")
    return {
        "popularity": {"logloss": float(-logp[test_first].mean()),
                       "top1_accuracy": float(np.mean(test_first == top[0])),
                       f"top{TOP_K}_accuracy": float(np.isin(test_first, top[:TOP_K]).mean())},
        "uniform": {"logloss": math.log(n_items)},
    }


def compare_propensities(fitted: np.ndarray, recorded: np.ndarray) -> dict[str, Any]:
    """How fitted propensities match recorded ones, step by step: Pearson correlation of
    their logarithms, Spearman rank correlation, quantiles of fitted / recorded, the share
    within a factor 2, the mean of recorded / fitted (importance weights of the true
    behaviour policy against the fitted one: 1 when they agree on average), and both
    log-losses (mean -log p of the logged actions; the recorded one is the floor a
    perfect model reaches)."""
    from scipy.stats import spearmanr

    f = np.asarray(fitted, dtype=np.float64)
    r = np.asarray(recorded, dtype=np.float64)
    ratio = f / r
    quantiles = (0.05, 0.25, 0.5, 0.75, 0.95)
    log_f, log_r = np.log(f), np.log(r)
    pearson = (float(np.corrcoef(log_f, log_r)[0, 1])
               if len(f) > 1 and log_f.std() > 0 and log_r.std() > 0 else float("nan"))
    return {
        "steps": len(f),
        "pearson_log": pearson,
        "spearman": float(spearmanr(f, r).statistic) if len(f) > 1 else float("nan"),
        "ratio_quantiles": {f"q{round(q * 100):02d}": float(np.quantile(ratio, q))
                            for q in quantiles},
        "within_2x": float(np.mean(np.abs(np.log(ratio)) <= math.log(2.0))),
        "mean_recorded_over_fitted": float(np.mean(r / f)),
        "logloss_fitted": float(-log_f.mean()), "logloss_recorded": float(-log_r.mean()),
    }
