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


def check_real_dtype(A: Any, what: str) -> None:
    """Raise TypeError unless ``A`` (numpy or torch) holds real numbers, float or int (complex
    would lose its imaginary part in the float32 cast; bool, strings and objects are no vectors)."""
    dt = A.dtype
    if hasattr(A, "detach"):
        import torch

        ok = not dt.is_complex and dt != torch.bool
    else:
        ok = np.dtype(dt).kind in "iuf"
    if not ok:
        raise TypeError(f"{what} must have a real numeric dtype (float or int), got {dt}")


def abs_max(A: np.ndarray) -> float:
    """max |a| over a float32 numpy array, inf or NaN if it holds a value that is not finite.
    One pass without temporaries for C-contiguous arrays (``native.kernels.distance.abs_max``)."""
    if A.dtype == np.float32 and A.flags.c_contiguous:
        return _cpu.abs_max(A)
    return float(np.abs(A).max()) if A.size else 0.0


def check_finite_rows(A: Any, what: str) -> None:
    """Raise ValueError naming the first row of a float32 matrix (numpy or torch, after its
    cast: a float64 beyond float32's range is infinite there) that holds NaN or infinity."""
    if A.shape[0] == 0 or A.shape[1] == 0:
        return
    if hasattr(A, "detach"):
        import torch

        ok = torch.isfinite(A).all(dim=1)
        if not bool(ok.all()):
            raise ValueError(f"{what} hold NaN or infinity (first in row {int(torch.argmin(ok.int()))})")
        return
    if not np.isfinite(abs_max(A)):
        row = int(np.argmin(np.isfinite(A).all(axis=1)))
        raise ValueError(f"{what} hold NaN or infinity (first in row {row})")


def _prepare(Q: Any, X: Any, metric: str, device: Any):
    check_metric(metric)
    is_torch = hasattr(Q, "detach")
    dev = _dev.resolve_device(device, Q, X)
    if Q.ndim != 2 or X.ndim != 2:
        raise ValueError(f"expected 2-D arrays, got shapes {tuple(Q.shape)} and {tuple(X.shape)}")
    if Q.shape[1] != X.shape[1]:
        raise ValueError(f"queries have dimension {Q.shape[1]}, data has {X.shape[1]}")
    check_real_dtype(Q, "queries")
    check_real_dtype(X, "data")
    if dev == _dev.CPU:
        with np.errstate(over="ignore"):  # beyond float32's range: named as infinity below
            Qn = np.ascontiguousarray(_dev.as_numpy(Q), dtype=np.float32)
            Xn = np.ascontiguousarray(_dev.as_numpy(X), dtype=np.float32)
        check_finite_rows(Qn, "queries")
        check_finite_rows(Xn, "data")
        if metric == "cosine":
            Qn, Xn = normalize_rows(Qn), normalize_rows(Xn)
        return Qn, Xn, dev, is_torch
    import torch

    Qt = _dev.as_torch(Q, "cuda").float().contiguous()
    Xt = _dev.as_torch(X, "cuda").float().contiguous()
    check_finite_rows(Qt, "queries")
    check_finite_rows(Xt, "data")
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

    Raises:
        ValueError: unknown metric, dimension mismatch, NaN or infinity in Q or X.
        TypeError: Q or X not of a real numeric dtype.
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
        ValueError: unknown metric, dimension mismatch, k < 0, NaN or infinity in Q or X.
        TypeError: Q or X not of a real numeric dtype.
    """
    if int(k) != k or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    Qp, Xp, dev, is_torch = _prepare(Q, X, metric, device)
    D, I = _dev.dispatch("knn", dev)(Qp, Xp, int(k), metric)
    return _out(D, is_torch, Q), _out(I, is_torch, Q)
