"""Exact (brute-force) search: the ground truth every other index is measured against."""

from __future__ import annotations

from typing import Any

import numpy as np

from ann.base import Index
from native import device as _dev
from native.distance import normalize_rows
from native.kernels.distance import row_sq_norms


class FlatIndex(Index):
    """Exact k-nearest-neighbour search over all stored vectors, on the CPU or a GPU.

    The CPU path is the Numba/BLAS top-k kernel of :mod:`native.distance`; the GPU path
    keeps a copy of the vectors on the device and runs matmul + top-k there.

    Args:
        dim: vector dimension.
        metric: 'l2' (squared Euclidean), 'ip' (1 - inner product) or 'cosine'
            (1 - cosine similarity; vectors are normalised when added).
        device: 'cpu' (default) or 'cuda' for searches; ``search(..., device=...)``
            overrides it per call.

    Example::

        idx = ann.FlatIndex(dim=128)
        idx.add(X)
        D, I = idx.search(Q, k=10)
    """

    kind = "flat"

    def __init__(self, dim: int, metric: str = "l2", device: Any = None):
        super().__init__(dim, metric)
        self.device = _dev.normalize_device(device)
        self._X = np.empty((0, self.dim), dtype=np.float32)
        self._n = 0  # rows of _X in use (capacity grows geometrically)
        self._x_sq = np.empty(0, dtype=np.float32)
        self._gpu: tuple[Any, Any] | None = None  # (X, ||x||^2) on the device

    @property
    def vectors(self) -> np.ndarray:
        """The stored (normalised, for cosine) vectors by slot, read-only."""
        v = self._X[: self._n]
        v.flags.writeable = False
        return v

    def _add(self, X: np.ndarray, ids: np.ndarray) -> None:
        if self.metric == "cosine":
            X = normalize_rows(X)
        n = X.shape[0]
        if self._n + n > self._X.shape[0]:
            cap = max(self._n + n, 2 * self._X.shape[0], 1024)
            grown = np.empty((cap, self.dim), dtype=np.float32)
            grown[: self._n] = self._X[: self._n]
            self._X = grown
            sq = np.empty(cap, dtype=np.float32)
            sq[: self._n] = self._x_sq[: self._n]
            self._x_sq = sq
        self._X[self._n : self._n + n] = X
        self._x_sq[self._n : self._n + n] = row_sq_norms(X)
        self._n += n
        self._gpu = None

    def _remove(self, slots: np.ndarray) -> None:
        keep = np.ones(self._n, dtype=bool)
        keep[slots] = False
        self._X = np.ascontiguousarray(self._X[: self._n][keep])
        self._x_sq = self._x_sq[: self._n][keep]
        self._ids = self._ids[keep]
        self._n = int(keep.sum())
        self._gpu = None

    def _search(self, Q: np.ndarray, k: int, allowed: np.ndarray | None, device: Any = None):
        """Exact search; ``device`` overrides the index's device for this call."""
        dev = _dev.resolve_device(device if device is not None else self.device)
        if self.metric == "cosine":
            Q = normalize_rows(Q)
        X, x_sq = self._X[: self._n], self._x_sq[: self._n]
        sub = None
        if allowed is not None:
            sub = np.flatnonzero(allowed)
            if sub.size == 0:
                return (np.full((Q.shape[0], k), np.inf, np.float32), np.full((Q.shape[0], k), -1, np.int64))
        if dev == _dev.CPU:  # a filter's rows are read in place (small batches) or copied once
            D, I = _dev.dispatch("knn", dev)(Q, X, k, self.metric, x_sq, rows=sub)
        else:
            if sub is not None:
                X, x_sq = np.ascontiguousarray(X[sub]), x_sq[sub]
            D, I = self._search_cuda(Q, k, X, x_sq, sub is not None)
        if sub is not None:
            I = np.where(I >= 0, sub[np.maximum(I, 0)], -1)
        return D, I

    def _search_cuda(self, Q, k, X, x_sq, subset: bool):
        import torch

        if subset:
            Xg, sq = torch.from_numpy(X).cuda(), torch.from_numpy(x_sq).cuda()
        else:
            if self._gpu is None:
                self._gpu = (torch.from_numpy(X).cuda(), torch.from_numpy(np.ascontiguousarray(x_sq)).cuda())
            Xg, sq = self._gpu
        D, I = _dev.dispatch("knn", _dev.CUDA)(torch.from_numpy(Q).cuda(), Xg, k, self.metric, sq)
        return D.cpu().numpy(), I.cpu().numpy()

    def reconstruct(self, ids: Any) -> np.ndarray:
        """The stored vectors of ``ids`` ((n, dim) float32; normalised for cosine)."""
        return self._X[self.slots_of(np.atleast_1d(np.asarray(ids, dtype=np.int64)))]

    def memory_bytes(self) -> int:
        """Bytes allocated: vectors and norms (with growth slack) and ids."""
        return int(self._X.nbytes + self._x_sq.nbytes + self._ids.nbytes)

    def _state(self):
        return {"device": self.device}, {"vectors": self._X[: self._n]}

    @classmethod
    def _from_state(cls, meta, arrays):
        idx = cls(int(meta["dim"]), meta["metric"], device=None)
        X = arrays["vectors"]
        if X.ndim != 2 or X.shape[1] != idx.dim or X.shape[0] != arrays["ids"].shape[0]:
            raise ValueError(f"vectors of shape {X.shape} do not match dim {idx.dim} and the ids")
        idx._X = np.ascontiguousarray(X, dtype=np.float32)
        idx._n = X.shape[0]
        idx._x_sq = row_sq_norms(idx._X) if idx._n else np.empty(0, np.float32)
        idx._restore_ids(meta, arrays)
        return idx
