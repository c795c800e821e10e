"""Ranking metrics for link prediction (OGB conventions): Hits@K, MRR, AUC.

Scores are higher-is-more-likely; positives are ranked against a shared set of negatives.
"""

from __future__ import annotations

import numpy as np
import torch


def _np(a) -> np.ndarray:
    a = a.detach().cpu().numpy() if torch.is_tensor(a) else np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {a.shape}")
    return a.astype(np.float64)


def hits_at_k(pos, neg, k: int) -> float:
    """Fraction of positives scoring strictly above the k-th highest negative (OGB's Hits@K).

    Args: pos (P,), neg (Q,) scores; k >= 1. All positives count as hits when Q < k.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    p, n = _np(pos), _np(neg)
    if n.size < k:
        return 1.0
    kth = np.partition(n, n.size - k)[n.size - k]
    return float(np.mean(p > kth))


def mrr(pos, neg) -> float:
    """Mean over positives of 1 / (1 + number of negatives scoring >= the positive)."""
    p, n = np.sort(_np(pos)), np.sort(_np(neg))
    ge = n.size - np.searchsorted(n, p, side="left")
    return float(np.mean(1.0 / (1.0 + ge)))


def auc(pos, neg) -> float:
    """Area under the ROC curve: P(score(pos) > score(neg)), ties counting one half."""
    p, n = _np(pos), np.sort(_np(neg))
    below = np.searchsorted(n, p, side="left")
    ties = np.searchsorted(n, p, side="right") - below
    return float(np.mean((below + 0.5 * ties) / n.size))


def evaluate(pos, neg, ks=(20, 50, 100)) -> dict:
    """{'hits@K': ..., 'mrr': ..., 'auc': ...} of positive vs negative scores."""
    out = {f"hits@{k}": hits_at_k(pos, neg, k) for k in ks}
    out["mrr"] = mrr(pos, neg)
    out["auc"] = auc(pos, neg)
    return out
