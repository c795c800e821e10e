"""HNSW: hierarchical navigable small-world graphs (Malkov & Yashunin, TPAMI 2018)."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from ann.base import Index
from native.device import cuda_available, numba_cuda, resolve_device
from native.distance import normalize_rows
from native.kernels.distance import _DIRECT_MAX_QUERIES, knn_cpu
from native.kernels import hnsw as _k

_DEFAULT_EF = 64
# A parallel insertion round inserts at most this fraction of the current graph size at
# once (every element of a round searches the graph as it was before the round).
_ROUND_FRACTION = 0.02
# Elements of one round are planned blind to each other; each then also weighs up to this
# many others of its round that planned a link to the same neighbour (augment_batch).
_ROUND_PEERS = 4
_MIN_ROUND = 16  # smaller rounds are inserted one element at a time
_GPU_MIN_BATCH = 1000  # device='auto' searches batches this large on the GPU
# A filter passing at most sqrt(K * ef * n / dim) of n vectors is answered by scanning them.
# For m allowed, a filtered walk visits about ef * n / m nodes at a cost per visit that
# barely grows with dim (random reads, link lists), and the scan costs m * dim: they meet
# near m^2 = K' * ef * n / dim. K' depends on how the scan runs (stop 47, one thread):
# - up to _DIRECT_MAX_QUERIES queries, the allowed rows are read in place for every call,
#   which is memory-bound on a large base: K' 2,100-3,400 on a 200k x 128 mixture,
#   2,300-2,800 on sift5k (one query and batches of 4), 8,000-11,000 on mnist10k;
# - larger batches copy the rows once for BLAS: K' 12,000-14,000 on sift5k, 20,000-23,000
#   on the mixture, 48,000-65,000 on mnist10k (batches of 100-200).
# Each K is about the lowest K' measured for its path, so the scan is never chosen where the
# walk was faster, and at the threshold a walk costs at most K' / K times the scan.
_EXACT_K_ROWS = 2000.0
_EXACT_K = 10000.0


def _positive_int(name: str, v: Any, low: int = 1) -> int:
    if type(v) is int and v >= low:
        return v
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
    selective filter still yields ``k`` results when ``k`` allowed elements are reachable;
    a filter that passes few elements (``search``'s ``exact_below``) is answered instead by
    an exact scan of them, which is faster than a walk that must cross most of the graph.

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
                 seed: int = 100, keep_pruned: bool = False):
        super().__init__(dim, metric)
        self.keep_pruned = bool(keep_pruned)
        self._pool: list[tuple[np.ndarray, np.ndarray]] = []  # reusable visited sets
        self._mutations = 0  # graph changes, so that the GPU copy knows it is stale
        self._gpu = None
        self._maps = None  # cached (key, live nodes, live mask, slot of node)
        self._replace = False  # set by add(replace_deleted=True) for the call
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

    def _grow(self, need: int, need_rows: int, exact: bool = False) -> None:
        cap = self._X.shape[0]
        if need > cap:
            cap = need if exact or cap == 0 else max(need, 2 * cap)  # first add: no slack

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
            rcap = need_rows if exact or rcap == 0 else max(need_rows, 2 * rcap)
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
    def add(self, X: Any, ids: Any = None, replace_deleted: bool = False) -> np.ndarray:
        """Add vectors (see :meth:`ann.Index.add`).

        Args:
            replace_deleted: put new vectors into the slots of removed elements first
                (hnswlib's ``replace_deleted``): links to those slots are repaired, the
                new vectors are inserted there, and the graph does not grow until the
                removed slots are used up.
        """
        self._replace = bool(replace_deleted)
        try:
            return super().add(X, ids)
        finally:
            self._replace = False

    def _add(self, X: np.ndarray, ids: np.ndarray):
        if self.metric == "cosine":
            X = normalize_rows(X)
        if self._replace and self._deleted[: self._n].any():
            return self._add_replacing(X, ids)
        self._append(X, ids)
        return None

    def _add_replacing(self, X: np.ndarray, ids: np.ndarray) -> np.ndarray:
        free = np.flatnonzero(self._deleted[: self._n])[: X.shape[0]].astype(np.int32)
        r = free.size
        reuse = np.zeros(self._n, np.bool_)
        reuse[free] = True
        _k.repair_links(reuse, *self._arrays(), self._n, self.M, self.M0, self._metric_flag, self.keep_pruned)
        if reuse[self._ep[0]]:
            lv = np.where(reuse, -1, self._levels[: self._n])
            self._ep[:] = (int(np.argmax(lv)), int(lv.max())) if lv.max() >= 0 else (-1, -1)
        self._X[free] = X[:r]
        self._labels[free] = ids[:r]
        self._deleted[free] = False
        self._c0[free] = 0
        for node in free:  # their upper rows
            self._cu[self._offs[node] : self._offs[node] + self._levels[node]] = 0
        self._insert(free, start=self._n - r)
        if r < X.shape[0]:
            self._append(X[r:], ids[r:])
        return self._labels[self._live_nodes()]

    def _append(self, X: np.ndarray, ids: np.ndarray) -> None:
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
        self._c0[n0 : n0 + n] = 0
        self._cu[self._rows : need_rows] = 0
        self._n = n0 + n
        self._rows = need_rows
        self._insert(np.arange(n0, n0 + n, dtype=np.int32), start=n0 - int(self._deleted[:n0].sum()))

    def _insert(self, nodes: np.ndarray, start: int) -> None:
        """Link ``nodes`` (vectors, levels and offsets set, no links yet) into the graph.

        Rounds of up to ``_ROUND_FRACTION`` of the graph's current size are planned in
        parallel against the graph as it stands, offered the round's other elements that
        planned a link to the same neighbour, and then linked (reverse links grouped by
        target), so the graph depends on the seed and the adds, not on the thread count.
        Elements that would raise the top layer are inserted one at a time.
        """
        self._mutations += 1
        a = self._arrays()
        kp = self.keep_pruned
        vis, tags = self._take_visited()
        try:
            pos, size = 0, start
            while pos < nodes.size:
                b = max(1, int(_ROUND_FRACTION * size))
                chunk = nodes[pos : pos + b]
                top = int(self._ep[1])
                tall = self._levels[chunk] > top
                if b < _MIN_ROUND or self._ep[0] < 0:
                    tags[0] = _k.insert_serial(chunk, *a, self._ep, self.M, self.M0, self.ef_construction,
                                               self._metric_flag, kp, vis[0], tags[0])
                else:
                    flat = chunk[~tall]
                    L = int(min(self._levels[flat].max(initial=0), top)) + 1
                    out = np.zeros((flat.size, L, self.M), np.int32)
                    outc = np.zeros((flat.size, L), np.int32)
                    _k.plan_batch(flat, *a, self._ep, self.M, self.ef_construction, self._metric_flag,
                                  kp, vis, tags, out, outc)
                    _k.augment_batch(flat, out, outc, self._X, self.M, self._metric_flag, kp, _ROUND_PEERS)
                    _k.link_batch(flat, out, outc, self._X, *a[2:], self.M, self.M0, self._metric_flag, kp)
                    if tall.any():
                        tags[0] = _k.insert_serial(chunk[tall], *a, self._ep, self.M, self.M0,
                                                   self.ef_construction, self._metric_flag, kp, vis[0], tags[0])
                pos += chunk.size
                size += chunk.size
        finally:
            self._give_visited(vis, tags)

    def _arrays(self):
        return (self._X, self._levels, self._L0, self._c0, self._U, self._cu, self._offs)

    def _take_visited(self, need: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-chunk visited sets sized for the current capacity, from a pool: ``need`` chunks
        at least (default: 4 per thread, which is what a new set holds). Thread-safe without
        a lock: a list's pop and append are atomic, and a set that does not fit is dropped."""
        cap = self._X.shape[0]
        try:
            vis, tags = self._pool.pop()
        except IndexError:
            pass
        else:
            if vis.shape[1] >= cap and vis.shape[0] >= (need or 4 * numba.get_num_threads()):
                return vis, tags
        nchunks = max(need or 1, 4 * numba.get_num_threads())
        return np.zeros((nchunks, cap), np.uint32), np.zeros(nchunks, np.uint32)

    def _give_visited(self, vis: np.ndarray, tags: np.ndarray) -> None:
        if len(self._pool) < 4:  # two threads may both pass: the pool holds 5 for a while
            self._pool.append((vis, tags))

    def resize(self, capacity: int) -> None:
        """Reserve room for ``capacity`` elements (removed ones count until compacted), so
        that later adds up to it allocate nothing. Raises ValueError below the current size."""
        capacity = _positive_int("capacity", capacity, 0)
        if capacity < self._n:
            raise ValueError(f"capacity {capacity} is below the {self._n} elements held; "
                             f"compact() first to drop removed ones")
        expected_rows = int(np.ceil(capacity / (self.M - 1))) if capacity else 0
        self._grow(capacity, self._rows + max(0, expected_rows - self._rows), exact=True)

    @property
    def capacity(self) -> int:
        """Elements the allocated arrays hold before the next growth."""
        return int(self._X.shape[0])

    def search(self, Q: Any, k: int, ef: int | None = None, filter: Any = None, device: str | None = None,
               exact_below: int | None = None):
        """k nearest neighbours of each query (see :meth:`ann.Index.search`).

        Args:
            ef: beam width on layer 0, ``max(k, ef)`` is used (default 64); larger is
                slower and more accurate.
            filter: bool mask by id, ids, or a callable; applied inside the graph walk, or
                by an exact scan of the vectors it passes when they are few (``exact_below``).
            device: None / 'cpu'; 'cuda' (raises without a GPU); 'auto' = the GPU for
                batches of 1,000+ queries when one is present, else the CPU.
            exact_below: on the CPU, a filter passing at most this many vectors is answered
                exactly by scanning just those (a walk through a graph where few nodes
                pass visits most of it). Default: ``sqrt(K * ef * n / dim)`` for n live
                vectors, K = 2,000 for calls of up to 12 queries (each reads the rows in
                place) and 10,000 for larger batches (which copy them once): for a 200k x
                128 base at ef 32, 10,000 and 22,360 vectors; 0: always walk.
        """
        return super().search(Q, k, filter=filter, ef=ef, device=device, exact_below=exact_below)

    def _search(self, Q: np.ndarray, k: int, allowed: np.ndarray | None, ef: int | None = None,
                device: str | None = None, exact_below: int | None = None):
        """Beam search with width ``max(k, ef)`` (``ef`` default 64), or an exact scan of
        the allowed vectors when they are few."""
        # Q is C-contiguous float32 (as_vectors, normalize_rows), as the kernels take it
        ef = max(k, _DEFAULT_EF if ef is None else _positive_int("ef", ef))
        if exact_below is not None:
            exact_below = _positive_int("exact_below", exact_below, 0)
        nq = Q.shape[0]
        if self.metric == "cosine":
            Q = normalize_rows(Q)
        live, live_mask, slot_of = self._node_maps()
        whole = live.size == self._n  # nothing removed: slot = node (and allowed is the node mask)
        if allowed is None:
            mask = live_mask  # read only in the kernels
            anything = live.size > 0
        else:
            if whole:
                rows, m = None, int(np.count_nonzero(allowed))
            else:
                rows = live[allowed]
                m = rows.size
            if exact_below is None:
                K = _EXACT_K_ROWS if nq <= _DIRECT_MAX_QUERIES else _EXACT_K
                exact_below = int(np.sqrt(K * ef * live.size / self.dim))
            if 0 < m <= exact_below and self._pick_device(device, nq) == "cpu":
                rows = np.flatnonzero(allowed) if whole else rows
                D, pos = knn_cpu(Q, self._X, k, self.metric, rows=rows)
                return D, np.where(pos >= 0, slot_of[rows[np.maximum(pos, 0)]], -1)
            if whole:
                mask = np.ascontiguousarray(allowed)  # read only in the kernels
            else:
                mask = np.zeros(self._n, np.bool_)
                mask[rows] = True
            anything = m > 0
        if not anything or nq == 0:
            return np.full((nq, k), np.inf, np.float32), np.full((nq, k), -1, np.int64)
        if self._pick_device(device, nq) == "cuda":
            D, nodes = self._search_cuda(Q, k, ef, mask, use_mask=allowed is not None or not whole)
            return D, np.where(nodes >= 0, slot_of[np.maximum(nodes, 0)], -1)
        vis, tags = self._take_visited(1 if nq == 1 else None)
        try:
            if nq == 1:  # one query: no thread pool, no slicing
                D, nodes = _k.search_one(Q, self._X, self._L0, self._c0, self._U, self._cu, self._offs, self._ep,
                                         k, ef, self._metric_flag, mask, vis, tags)
            else:
                nchunks = min(nq, vis.shape[0])
                D, nodes = _k.search_batch(Q, self._X, self._L0, self._c0, self._U, self._cu, self._offs, self._ep,
                                           k, ef, self._metric_flag, mask, vis[:nchunks], tags[:nchunks])
        finally:
            self._give_visited(vis, tags)
        if whole:
            return D, nodes
        return D, np.where(nodes >= 0, slot_of[np.maximum(nodes, 0)], -1)

    def _pick_device(self, device: str | None, nq: int) -> str:
        if device is None:
            return "cpu"
        if device == "auto":
            return "cuda" if nq >= _GPU_MIN_BATCH and cuda_available() else "cpu"
        return resolve_device(device)

    def _search_cuda(self, Q: np.ndarray, k: int, ef: int, mask: np.ndarray, use_mask: bool):
        """Batch search on the GPU (native.kernels.hnsw_cuda); the graph is copied to the
        device on first use and again after it changes."""
        from native.kernels import hnsw_cuda

        if ef > hnsw_cuda.MAX_EF:
            raise ValueError(f"the GPU search takes ef <= {hnsw_cuda.MAX_EF}, got {ef}")
        if self.M0 > 2 * hnsw_cuda.LANES:
            raise ValueError(f"the GPU search takes M <= {hnsw_cuda.LANES}, index has M={self.M}")
        cuda = numba_cuda()
        key = (self._n, self._rows, self._mutations)
        if self._gpu is None or self._gpu[0] != key:
            n, r = self._n, self._rows
            host = (self._X[:n], self._L0[:n], self._c0[:n], self._U[: max(r, 1)], self._cu[: max(r, 1)],
                    self._offs[:n])
            self._gpu = (key, tuple(cuda.to_device(np.ascontiguousarray(a)) for a in host))
        return hnsw_cuda.search_batch_cuda(cuda.to_device(np.ascontiguousarray(Q)), self._gpu[1],
                                           int(self._ep[0]), int(self._ep[1]), k, ef, self._metric_flag,
                                           cuda.to_device(mask.astype(np.uint8)), int(use_mask))

    def _node_maps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(live nodes by slot, live mask by node, slot of each node or -1), cached until
        the next add / remove / compact, so a one-query search does no O(n) work."""
        key = (self._n, self._mutations)
        if self._maps is None or self._maps[0] != key:
            live = self._live_nodes()
            slot_of = np.full(self._n, -1, np.int64)
            slot_of[live] = np.arange(live.size)
            self._maps = (key, live, ~self._deleted[: self._n], slot_of)
        return self._maps[1:]

    def _remove(self, slots: np.ndarray) -> None:
        live = self._live_nodes()
        self._deleted[live[slots]] = True
        self._mutations += 1
        self._ids = self._labels[self._live_nodes()]

    def compact(self) -> int:
        """Drop removed elements for good: links that pointed to them are repaired (each
        affected list is rebuilt with the heuristic from its live links and the removed
        neighbours' live links), nodes are renumbered and the space is reclaimed.
        Returns the number of elements dropped. Search results keep their ids."""
        dead = self._deleted[: self._n].copy()
        nd = int(dead.sum())
        if nd == 0:
            return 0
        _k.repair_links(dead, *self._arrays(), self._n, self.M, self.M0, self._metric_flag, self.keep_pruned)
        self._mutations += 1
        live = np.flatnonzero(~dead)
        new_of = np.full(self._n, -1, np.int64)
        new_of[live] = np.arange(live.size)
        n = live.size
        lv = self._levels[live]
        offs = np.concatenate([[0], np.cumsum(lv[:-1], dtype=np.int64)]) if n else np.empty(0, np.int64)
        rows = int(lv.sum())
        L0 = self._L0[live]
        L0 = np.where(np.arange(self.M0)[None, :] < self._c0[live][:, None], new_of[L0], 0).astype(np.int32)
        old_rows = (self._offs[live][:, None] + np.arange(lv.max(initial=0))[None, :])[
            np.arange(lv.max(initial=0))[None, :] < lv[:, None]]
        U = self._U[old_rows]
        cu = self._cu[old_rows]
        U = np.where(np.arange(self.M)[None, :] < cu[:, None], new_of[U], 0).astype(np.int32)
        self._X = np.ascontiguousarray(self._X[live])
        self._levels, self._offs, self._L0, self._c0 = lv.copy(), offs, L0, self._c0[live].copy()
        self._U, self._cu = np.ascontiguousarray(U.reshape(rows, self.M)), cu.copy()
        self._deleted = np.zeros(n, np.bool_)
        self._labels = self._labels[live].copy()
        self._n, self._rows = n, rows
        if n == 0:
            self._ep = np.array([-1, -1], np.int64)
        elif new_of[self._ep[0]] >= 0:
            self._ep = np.array([new_of[self._ep[0]], self._ep[1]], np.int64)
        else:
            top = int(lv.max())
            self._ep = np.array([int(np.flatnonzero(lv == top)[0]), top], np.int64)
        self._pool.clear()
        return nd

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
                "keep_pruned": self.keep_pruned,
                "entry_point": int(self._ep[0]), "max_level": int(self._ep[1])}
        arrays = {"vectors": self._X[:n], "levels": self._levels[:n], "layer0": self._L0[:n],
                  "layer0_counts": self._c0[:n], "upper": self._U[:r], "upper_counts": self._cu[:r],
                  "offsets": self._offs[:n], "deleted": self._deleted[:n], "labels": self._labels[:n]}
        return meta, arrays

    @classmethod
    def _from_state(cls, meta, arrays):
        idx = cls(int(meta["dim"]), meta["metric"], M=int(meta["M"]),
                  ef_construction=int(meta["ef_construction"]), seed=int(meta["seed"]),
                  keep_pruned=bool(meta.get("keep_pruned", False)))
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
