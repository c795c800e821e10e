"""Batched distances (l2, inner product, cosine) and exact top-k, CPU or CUDA.

A distance is smaller-is-closer: ``l2`` is the squared Euclidean distance, ``ip`` is
``1 - <q, x>`` and ``cosine`` is ``1 - cos(q, x)`` (the conventions of hnswlib).

The output type follows the input: numpy in, numpy out (computed on the GPU when
``device='cuda'``); torch in, torch out on the input's device.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from native import device as _dev
from native.kernels import distance as _cpu  # registers the CPU kernels
from native.kernels import distance_cuda as _cuda  # noqa: F401 - registers the CUDA kernels

METRICS = _cpu.METRICS


def check_metric(metric: str) -> str:
    """Return ``metric`` if known, else raise ValueError listing the known ones."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
    return metric


def normalize_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero); float32 copy."""
    X = np.asarray(X, dtype=np.float32)
    norms = np.sqrt(_cpu.row_sq_norms(np.ascontiguousarray(X)))
    norms[norms == 0] = 1.0
    return (X / norms[:, None]).astype(np.float32, copy=False)


def _prepare(Q: Any, X: Any, metric: str, device: Any):
    check_metric(metric)
    is_torch = hasattr(Q, "detach")
    dev = _dev.resolve_device(device, Q, X)
    if Q.ndim != 2 or X.ndim != 2:
        raise ValueError(f"expected 2-D arrays, got shapes {tuple(Q.shape)} and {tuple(X.shape)}")
    if Q.shape[1] != X.shape[1]:
        raise ValueError(f"queries have dimension {Q.shape[1]}, data has {X.shape[1]}")
    if dev == _dev.CPU:
        Qn = np.ascontiguousarray(_dev.as_numpy(Q), dtype=np.float32)
        Xn = np.ascontiguousarray(_dev.as_numpy(X), dtype=np.float32)
        if metric == "cosine":
            Qn, Xn = normalize_rows(Qn), normalize_rows(Xn)
        return Qn, Xn, dev, is_torch
    import torch

    Qt = _dev.as_torch(Q, "cuda").float().contiguous()
    Xt = _dev.as_torch(X, "cuda").float().contiguous()
    if metric == "cosine":
        Qt = torch.nn.functional.normalize(Qt, dim=1)
        Xt = torch.nn.functional.normalize(Xt, dim=1)
    return Qt, Xt, dev, is_torch


def _out(a: Any, like_torch: bool, like: Any):
    if like_torch:
        return _dev.as_torch(a).to(like.device)
    return _dev.as_numpy(a)


def pairwise_distances(Q: Any, X: Any, metric: str = "l2", device: Any = None):
    """Dense distance matrix.

    Args:
        Q: (nq, d) queries; X: (n, d) data (numpy or torch).
        metric: 'l2' (squared), 'ip' or 'cosine'.
        device: 'cpu' / 'cuda'; default: where the inputs live.

    Returns:
        (nq, n) float32 distances, numpy or torch like ``Q``.
    """
    Qp, Xp, dev, is_torch = _prepare(Q, X, metric, device)
    D = _dev.dispatch("pairwise", dev)(Qp, Xp, metric)
    return _out(D, is_torch, Q)


def knn(Q: Any, X: Any, k: int, metric: str = "l2", device: Any = None):
    """Exact k nearest neighbours of each query among the rows of X.

    Args:
        Q: (nq, d) queries; X: (n, d) data (numpy or torch).
        k: neighbours per query; when k > n the result is padded with inf / -1.
        metric: 'l2' (squared), 'ip' or 'cosine'.
        device: 'cpu' / 'cuda'; default: where the inputs live.

    Returns:
        D: (nq, k) float32 distances ascending; I: (nq, k) int64 row ids of X (ties: lower id
        first on the CPU). Numpy or torch like ``Q``.

    Raises:
        ValueError: unknown metric, dimension mismatch, k < 0.
    """
    if int(k) != k or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    Qp, Xp, dev, is_torch = _prepare(Q, X, metric, device)
    D, I = _dev.dispatch("knn", dev)(Qp, Xp, int(k), metric)
    return _out(D, is_torch, Q), _out(I, is_torch, Q)
