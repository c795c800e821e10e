"""HNSW: hierarchical navigable small-world graphs (Malkov & Yashunin, TPAMI 2018)."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from ann.base import Index
from native.distance import normalize_rows
from native.kernels import hnsw as _k

_DEFAULT_EF = 64


def _positive_int(name: str, v: Any, low: int = 1) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(v).__name__}")
    if v < low:
        raise ValueError(f"{name} must be >= {low}, got {v}")
    return int(v)


class HNSWIndex(Index):
    """Approximate k-NN search on a hierarchical navigable small-world graph.

    Each element gets a random top layer ``floor(-ln(U) * mL)``, ``mL = 1 / ln(M)``, and is
    linked on every layer up to it. An insertion descends greedily from the entry point
    through the layers above its own, then on each of its layers runs a beam search with
    ``ef_construction`` (Alg. 2) and keeps ``M`` links chosen by the neighbour-selection
    heuristic (Alg. 4); neighbours link back and shrink overfull lists with the same
    heuristic to ``M`` links (``2M`` on layer 0). A search descends greedily to layer 0 and
    runs a beam search of width ``ef`` there (Alg. 5).

    Storage: layer 0 is a fixed-degree ``(capacity, 2M)`` int32 array with a count per
    element; upper layers are one compact ``(rows, M)`` int32 array where an element of
    level ``L`` owns ``L`` consecutive rows starting at its offset. Vectors are float32.

    Removed elements stay in the graph (they are still traversed) but are never returned,
    as hnswlib's ``mark_deleted``. Filters are applied inside the beam search, so a
    selective filter still yields ``k`` results when ``k`` allowed elements are reachable.

    Building is sequential and deterministic: the same seed and the same ``add`` calls give
    the same graph. Searches run in parallel over queries.

    Args:
        dim: vector dimension.
        metric: 'l2' (squared Euclidean), 'ip' (1 - inner product) or 'cosine'
            (1 - cosine; vectors are normalised when added).
        M: links per element on upper layers (``2M`` on layer 0); >= 2.
        ef_construction: beam width while building; >= 1.
        seed: seed of the random levels.

    Example::

        idx = ann.HNSWIndex(dim=128, M=16, ef_construction=200)
        idx.add(X)
        D, I = idx.search(Q, k=10, ef=64)

    Paper: Yu. A. Malkov, D. A. Yashunin, "Efficient and robust approximate nearest neighbor
    search using Hierarchical Navigable Small World graphs", IEEE TPAMI 42(4), 2018.
    """

    kind = "hnsw"

    def __init__(self, dim: int, metric: str = "l2", M: int = 16, ef_construction: int = 200,
                 seed: int = 100):
        super().__init__(dim, metric)
        self.M = _positive_int("M", M, 2)
        self.M0 = 2 * self.M
        self.ef_construction = _positive_int("ef_construction", ef_construction)
        self.seed = _positive_int("seed", seed, 0)
        self._metric_flag = 0 if self.metric == "l2" else 1
        self._n = 0  # nodes in use (live and removed)
        self._rows = 0  # upper-layer rows in use
        self._X = np.empty((0, self.dim), np.float32)
        self._levels = np.empty(0, np.int32)
        self._L0 = np.empty((0, self.M0), np.int32)
        self._c0 = np.empty(0, np.int32)
        self._offs = np.empty(0, np.int64)
        self._deleted = np.empty(0, np.bool_)
        self._labels = np.empty(0, np.int64)  # node -> user id (removed nodes included)
        self._U = np.empty((0, self.M), np.int32)
        self._cu = np.empty(0, np.int32)
        self._ep = np.array([-1, -1], np.int64)  # entry node, top layer

    # ----------------------------------------------------------------- helpers
    def _live_nodes(self) -> np.ndarray:
        """Nodes of the live elements, in slot order (slot p of the base is node live[p])."""
        return np.flatnonzero(~self._deleted[: self._n])

    def _grow(self, need: int, need_rows: int) -> None:
        cap = self._X.shape[0]
        if need > cap:
            cap = max(need, 2 * cap, 1024)

            def g(a, fill=0):
                out = np.full((cap,) + a.shape[1:], fill, a.dtype)
                out[: self._n] = a[: self._n]
                return out

            self._X = g(self._X)
            self._levels = g(self._levels)
            self._L0 = g(self._L0)
            self._c0 = g(self._c0)
            self._offs = g(self._offs)
            self._deleted = g(self._deleted, False)
            self._labels = g(self._labels, -1)
        rcap = self._U.shape[0]
        if need_rows > rcap:
            rcap = max(need_rows, 2 * rcap, 256)
            U = np.zeros((rcap, self.M), np.int32)
            U[: self._rows] = self._U[: self._rows]
            cu = np.zeros(rcap, np.int32)
            cu[: self._rows] = self._cu[: self._rows]
            self._U, self._cu = U, cu

    def _random_levels(self, n0: int, n: int) -> np.ndarray:
        # one stream per batch, keyed by (seed, first node): same adds -> same levels
        u = 1.0 - np.random.default_rng([self.seed, n0]).random(n)  # in (0, 1]
        return np.floor(-np.log(u) / np.log(self.M)).astype(np.int32)

    # ----------------------------------------------------------------- protocol
    def _add(self, X: np.ndarray, ids: np.ndarray) -> None:
        if self.metric == "cosine":
            X = normalize_rows(X)
        n = X.shape[0]
        n0 = self._n
        lv = self._random_levels(n0, n)
        offs = self._rows + np.concatenate([[0], np.cumsum(lv[:-1], dtype=np.int64)])
        need_rows = self._rows + int(lv.sum())
        self._grow(n0 + n, need_rows)
        self._X[n0 : n0 + n] = X
        self._levels[n0 : n0 + n] = lv
        self._offs[n0 : n0 + n] = offs
        self._labels[n0 : n0 + n] = ids
        self._deleted[n0 : n0 + n] = False
        vis = np.zeros(self._X.shape[0], np.uint32)
        _k.insert_range(self._X, self._levels, self._L0, self._c0, self._U, self._cu, self._offs,
                        self._ep, self.M, self.M0, self.ef_construction, self._metric_flag,
                        n0, n0 + n, vis, np.uint32(0))
        self._n = n0 + n
        self._rows = need_rows

    def _search(self, Q: np.ndarray, k: int, allowed: np.ndarray | None, ef: int | None = None):
        """Beam search with width ``max(k, ef)`` (``ef`` default 64)."""
        ef = max(k, _DEFAULT_EF if ef is None else _positive_int("ef", ef))
        nq = Q.shape[0]
        if self.metric == "cosine":
            Q = normalize_rows(Q)
        live = self._live_nodes()
        mask = np.zeros(self._n, np.bool_)
        mask[live if allowed is None else live[allowed]] = True
        if not mask.any() or nq == 0:
            return np.full((nq, k), np.inf, np.float32), np.full((nq, k), -1, np.int64)
        nchunks = max(1, min(nq, 4 * numba.get_num_threads()))
        D, nodes = _k.search_batch(np.ascontiguousarray(Q), self._X, self._L0, self._c0, self._U,
                                   self._cu, self._offs, self._ep, self._n, k, ef,
                                   self._metric_flag, mask, nchunks)
        slot_of = np.full(self._n, -1, np.int64)
        slot_of[live] = np.arange(live.size)
        return D, np.where(nodes >= 0, slot_of[np.maximum(nodes, 0)], -1)

    def _remove(self, slots: np.ndarray) -> None:
        live = self._live_nodes()
        self._deleted[live[slots]] = True
        self._ids = self._labels[self._live_nodes()]

    # ----------------------------------------------------------------- introspection
    @property
    def max_level(self) -> int:
        return int(self._ep[1])

    def level_counts(self) -> list[int]:
        """Number of elements (removed ones included) present on each layer 0..max_level."""
        if self._n == 0:
            return []
        c = np.bincount(self._levels[: self._n], minlength=self.max_level + 1)
        return np.cumsum(c[::-1])[::-1].tolist()

    def neighbors(self, node: int, layer: int) -> np.ndarray:
        """Links (node numbers) of ``node`` on ``layer`` (a copy)."""
        if layer == 0:
            return self._L0[node, : self._c0[node]].copy()
        if not 0 < layer <= self._levels[node]:
            raise ValueError(f"node {node} has level {self._levels[node]}, no layer {layer}")
        r = self._offs[node] + layer - 1
        return self._U[r, : self._cu[r]].copy()

    def info(self) -> dict[str, Any]:
        d = super().info()
        d["level_counts"] = self.level_counts()
        d["removed"] = int(self._deleted[: self._n].sum())
        return d

    def memory_bytes(self) -> int:
        """Bytes allocated (growth slack included): vectors, graph, labels and ids."""
        arrs = (self._X, self._levels, self._L0, self._c0, self._offs, self._deleted, self._labels,
                self._U, self._cu, self._ids)
        return int(sum(a.nbytes for a in arrs))

    # ----------------------------------------------------------------- files
    def _state(self):
        n, r = self._n, self._rows
        meta = {"M": self.M, "ef_construction": self.ef_construction, "seed": self.seed,
                "entry_point": int(self._ep[0]), "max_level": int(self._ep[1])}
        arrays = {"vectors": self._X[:n], "levels": self._levels[:n], "layer0": self._L0[:n],
                  "layer0_counts": self._c0[:n], "upper": self._U[:r], "upper_counts": self._cu[:r],
                  "offsets": self._offs[:n], "deleted": self._deleted[:n], "labels": self._labels[:n]}
        return meta, arrays

    @classmethod
    def _from_state(cls, meta, arrays):
        idx = cls(int(meta["dim"]), meta["metric"], M=int(meta["M"]),
                  ef_construction=int(meta["ef_construction"]), seed=int(meta["seed"]))
        a = {k: np.array(arrays[k]) for k in ("vectors", "levels", "layer0", "layer0_counts", "upper",
                                              "upper_counts", "offsets", "deleted", "labels")}
        n = a["vectors"].shape[0]
        M, M0 = idx.M, idx.M0
        shapes = {"vectors": (n, idx.dim), "levels": (n,), "layer0": (n, M0), "layer0_counts": (n,),
                  "offsets": (n,), "deleted": (n,), "labels": (n,)}
        for k, s in shapes.items():
            if a[k].shape != s:
                raise ValueError(f"{k} has shape {a[k].shape}, expected {s}")
        lv = a["levels"].astype(np.int64)
        rows = int(lv.sum()) if n else 0
        if a["upper"].shape != (rows, M) or a["upper_counts"].shape != (rows,):
            raise ValueError("upper-layer arrays do not match the levels")
        if n and (lv.min() < 0 or (a["offsets"] != np.concatenate([[0], np.cumsum(lv[:-1])])).any()):
            raise ValueError("levels and offsets are inconsistent")
        c0, cu = a["layer0_counts"], a["upper_counts"]
        if (c0 < 0).any() or (c0 > M0).any() or (cu < 0).any() or (cu > M).any():
            raise ValueError("link counts out of range")
        used0 = np.arange(M0)[None, :] < c0[:, None]
        usedu = np.arange(M)[None, :] < cu[:, None]
        if (a["layer0"][used0] < 0).any() or (a["layer0"][used0] >= n).any() or \
                (a["upper"][usedu] < 0).any() or (a["upper"][usedu] >= n).any():
            raise ValueError("links point outside the graph")
        ep, top = int(meta["entry_point"]), int(meta["max_level"])
        if n and not (0 <= ep < n and top == lv.max() and lv[ep] == top) or (not n and ep != -1):
            raise ValueError("bad entry point")
        idx._restore_ids(meta, arrays)
        if not np.array_equal(a["labels"][~a["deleted"].astype(bool)], idx._ids):
            raise ValueError("labels do not match the ids")
        idx._X = np.ascontiguousarray(a["vectors"], np.float32)
        idx._levels = a["levels"].astype(np.int32)
        idx._L0 = np.ascontiguousarray(a["layer0"], np.int32)
        idx._c0 = c0.astype(np.int32)
        idx._U = np.ascontiguousarray(a["upper"], np.int32).reshape(rows, M)
        idx._cu = cu.astype(np.int32)
        idx._offs = a["offsets"].astype(np.int64)
        idx._deleted = a["deleted"].astype(np.bool_)
        idx._labels = a["labels"].astype(np.int64)
        idx._n, idx._rows = n, rows
        idx._ep = np.array([ep, top], np.int64)
        return idx
