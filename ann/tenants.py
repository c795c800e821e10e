"""Multi-tenant vector search on one shared clustering tree (Curator)."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ann import _tenant_kernels as _k
from ann.base import Index, as_vectors
from native.distance import normalize_rows

_HASHES = 4  # Bloom filter hash functions
_BITS_PER_TENANT = 10  # Bloom filter bits per tenant present under a node (~1-2 % false positives)
_DEFAULT_BUDGET = 256


def _int_param(name: str, v: Any, low: int) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(v).__name__}")
    if v < low:
        raise ValueError(f"{name} must be >= {low}, got {v}")
    return int(v)


def _tenant_key(t: Any) -> int:
    if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer)):
        raise TypeError(f"tenants must be integers, got {type(t).__name__} {t!r}")
    if t < 0:
        raise ValueError(f"tenants must be >= 0, got {t}")
    return int(t)


def _hash2(t: int) -> tuple[int, int]:
    """Two 63-bit keys of a tenant (splitmix64 of t and of t + golden ratio)."""
    out = []
    for x in (t, t + 0x9E3779B97F4A7C15):
        z = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        out.append((z ^ (z >> 31)) >> 1)
    return out[0], out[1] | 1


class TenantIndex(Index):
    """k-NN search restricted to one tenant's vectors, on one tree shared by all tenants.

    All vectors are indexed by one hierarchical k-means tree (``branching`` children per
    node, leaves of at most ``leaf_size`` training vectors). Each tenant's index is a
    sub-tree of it, encoded in two compact pieces: every node has a Bloom filter of the
    tenants with vectors below it, and a tenant keeps a *shortlist* (the rows of its
    vectors) at each highest node where it has at most ``shortlist_size`` vectors (or at a
    leaf). A search for tenant ``t`` is a best-first walk from the root: nodes are popped
    nearest-centroid first; a node holding a shortlist of ``t`` is scanned exactly,
    otherwise its children whose Bloom filter holds ``t`` are queued; the walk stops after
    ``budget`` vectors were scanned. A small tenant is thus one exact scan near the root,
    a large one gets a tree of its own shape, and only the tenant's own vectors are ever
    scanned, so revoked or foreign vectors are never returned (Bloom false positives only
    cost a wasted expansion).

    One vector may belong to several tenants: ``add(X, ids, tenants)``, ``grant(id, t)``,
    ``revoke(id, t)``; ``remove(ids)`` deletes vectors for all tenants. Updates touch only the
    tenant's own shortlists (rebuilt lazily at its next search) and set Bloom bits on one
    root-to-leaf path; revoked bits are cleared when the filters are rebuilt (after as many
    changes as a tenth of the grants, or on :meth:`rebuild`).

    The tree is trained by the first ``add`` (or :meth:`train`) on up to ``max_train``
    vectors; later vectors descend it greedily to a leaf.

    Args:
        dim: vector dimension.
        metric: 'l2', 'ip' or 'cosine'.
        branching: children per tree node (>= 2).
        leaf_size: a node with more training vectors than this is split (>= 1).
        shortlist_size: most vectors of a tenant kept as one shortlist above a leaf (>= 1).
        seed: seed of the k-means initialisation.

    Example::

        idx = ann.TenantIndex(dim=784)
        idx.add(X, tenants=owner)               # owner: (n,) ints, or n iterables of tenants
        idx.grant(17, tenant=3); idx.revoke(17, tenant=5)
        D, I = idx.search(Q, k=10, tenant=3, budget=256)

    Paper: Y. Jin, Y. Wu, W. Hu, B. M. Maggs, X. Zhang, D. Zhuo, "Curator: Efficient
    Indexing for Multi-Tenant Vector Databases", arXiv:2401.07119, 2024.
    """

    kind = "tenant"

    def __init__(self, dim: int, metric: str = "l2", branching: int = 16, leaf_size: int = 128,
                 shortlist_size: int = 64, seed: int = 0, max_train: int = 100_000):
        super().__init__(dim, metric)
        self.branching = _int_param("branching", branching, 2)
        self.leaf_size = _int_param("leaf_size", leaf_size, 1)
        self.shortlist_size = _int_param("shortlist_size", shortlist_size, 1)
        self.seed = _int_param("seed", seed, 0)
        self.max_train = _int_param("max_train", max_train, 1)
        self._ip = self.metric != "l2"
        self._C = np.empty((0, self.dim), np.float32)  # centroids by node
        self._child_start = np.empty(0, np.int64)
        self._child_count = np.empty(0, np.int64)
        self._parent = np.empty(0, np.int64)
        self._X = np.empty((0, self.dim), np.float32)  # rows (removed ones included)
        self._leaf = np.empty(0, np.int64)  # row -> leaf node
        self._labels = np.empty(0, np.int64)  # row -> user id
        self._deleted = np.empty(0, np.bool_)
        self._members: dict[int, np.ndarray] = {}  # tenant -> sorted rows (int64)
        self._shortlists: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._words = np.zeros(0, np.int64)
        self._bloom_off = np.empty(0, np.int64)
        self._bloom_nw = np.empty(0, np.int64)
        self._hashes: dict[int, tuple[int, int]] = {}  # tenant -> its two Bloom keys
        self._rows_cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (live?, live, slot)
        self._changes = 0  # grants/revokes since the Bloom filters were built
        self._bloom_dirty = True

    # ----------------------------------------------------------------- tree
    @property
    def trained(self) -> bool:
        return self._C.shape[0] > 0

    @property
    def n_nodes(self) -> int:
        return int(self._C.shape[0])

    def train(self, X: Any) -> None:
        """Build the clustering tree from (a sample of) X; only before any vector is added.

        Raises:
            ValueError: vectors were added already.
        """
        if self._X.shape[0]:
            raise ValueError("train() must come before add(): the tree indexes the stored vectors")
        X = as_vectors(X, self.dim)
        if X.shape[0] == 0:
            raise ValueError("train() needs at least one vector")
        if self.metric == "cosine":
            X = normalize_rows(X)
        rng = np.random.default_rng(self.seed)
        if X.shape[0] > self.max_train:
            X = X[np.sort(rng.choice(X.shape[0], self.max_train, replace=False))]
        cents = [X.mean(axis=0)]
        start, count, parent = [0], [0], [-1]
        todo = [(0, np.arange(X.shape[0]))]
        while todo:
            node, rows = todo.pop()
            if rows.size <= self.leaf_size:
                continue
            C, lab = self._kmeans(X[rows], min(self.branching, rows.size), rng)
            used = np.unique(lab)
            if used.size < 2:
                continue
            start[node], count[node] = len(cents), used.size
            for j in used.tolist():
                child = len(cents)
                cents.append(C[j])
                start.append(0)
                count.append(0)
                parent.append(node)
                todo.append((child, rows[lab == j]))
        self._C = np.ascontiguousarray(np.array(cents, np.float32))
        self._child_start = np.array(start, np.int64)
        self._child_count = np.array(count, np.int64)
        self._parent = np.array(parent, np.int64)
        self._bloom_dirty = True

    def _kmeans(self, X: np.ndarray, b: int, rng: np.random.Generator, iters: int = 10):
        C = X[rng.choice(X.shape[0], b, replace=False)].copy()
        lab = np.zeros(X.shape[0], np.int64)
        for _ in range(iters):
            G = X @ C.T  # BLAS; argmin of -2<x, c> + |c|^2 is the nearest centroid in l2
            lab = np.argmax(G, axis=1) if self._ip else np.argmin((C * C).sum(1) - 2 * G, axis=1)
            cnt = np.bincount(lab, minlength=b)
            order = np.argsort(lab, kind="stable")
            nz = cnt > 0
            starts = np.concatenate([[0], np.cumsum(cnt)[:-1]])[nz]
            C[nz] = np.add.reduceat(X[order], starts, axis=0) / cnt[nz, None]
        return C, lab

    def _ancestors(self, leaves: np.ndarray) -> np.ndarray:
        """(depth + 1, n) nodes on the path root -> leaf of each leaf, -1 past the leaf."""
        paths = [leaves]
        while (paths[-1] > 0).any():
            p = paths[-1]
            paths.append(np.where(p > 0, self._parent[np.maximum(p, 0)], -1))
        A = np.stack(paths[::-1])
        # rows are aligned leaf-last; realign so that row 0 is the root for every column
        out = np.full_like(A, -1)
        for col_depth in np.unique((A >= 0).sum(axis=0)):
            cols = (A >= 0).sum(axis=0) == col_depth
            out[:col_depth, cols] = A[A.shape[0] - col_depth:, cols]
        return out

    # ----------------------------------------------------------------- tenants
    def _tenants_per_row(self, tenants: Any, n: int) -> list[np.ndarray]:
        if tenants is None:
            return [np.empty(0, np.int64)] * n
        if isinstance(tenants, (int, np.integer)) and not isinstance(tenants, (bool, np.bool_)):
            return [np.array([_tenant_key(tenants)], np.int64)] * n
        if isinstance(tenants, np.ndarray) and tenants.ndim == 1 and tenants.dtype.kind in "iu":
            if tenants.shape[0] != n:
                raise ValueError(f"expected {n} tenants (one per vector), got {tenants.shape[0]}")
            if n and tenants.min() < 0:
                raise ValueError(f"tenants must be >= 0, got {int(tenants.min())}")
            return list(tenants.astype(np.int64)[:, None])
        tenants = list(tenants)
        if len(tenants) != n:
            raise ValueError(f"expected {n} tenant entries (one per vector), got {len(tenants)}")
        out = []
        for t in tenants:
            if isinstance(t, Iterable) and not isinstance(t, (str, bytes)):
                out.append(np.unique(np.array([_tenant_key(x) for x in t], np.int64)))
            else:
                out.append(np.array([_tenant_key(t)], np.int64))
        return out

    def _add(self, X: np.ndarray, ids: np.ndarray) -> None:
        tenants = self._pending
        if self.metric == "cosine":
            X = normalize_rows(X)
        if not self.trained:
            self.train(X)
        r0 = self._X.shape[0]
        self._X = np.concatenate([self._X, X])
        self._leaf = np.concatenate([self._leaf, _k.route(X, self._C, self._child_start, self._child_count, self._ip)])
        self._labels = np.concatenate([self._labels, ids])
        self._deleted = np.concatenate([self._deleted, np.zeros(X.shape[0], bool)])
        rows = np.repeat(np.arange(r0, r0 + X.shape[0]), [t.size for t in tenants])
        tens = np.concatenate(tenants) if tenants else np.empty(0, np.int64)
        order = np.lexsort((rows, tens))
        rows, tens = rows[order], tens[order]
        bounds = np.flatnonzero(np.r_[True, tens[1:] != tens[:-1], True]) if tens.size else np.array([0])
        for s, e in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            t = int(tens[s])
            old = self._members.get(t)
            self._members[t] = rows[s:e] if old is None else np.union1d(old, rows[s:e])
            self._shortlists.pop(t, None)
        self._bloom_dirty = True

    def add(self, X: Any, ids: Any = None, tenants: Any = None) -> np.ndarray:
        """Add vectors, each owned by zero, one or several tenants.

        Args:
            X: (n, dim) vectors. ids: (n,) distinct ids (default: the next n integers).
            tenants: one tenant for all, an (n,) int array (one each), or n iterables of
                tenants; tenants are non-negative integers. None: no tenant yet (see grant).

        Returns:
            (n,) int64 ids.
        """
        n = np.shape(X)[0] if np.ndim(X) == 2 else 1
        self._pending = self._tenants_per_row(tenants, n)
        try:
            return super().add(X, ids)
        finally:
            self._pending = None

    def _row_of(self, id_: Any) -> int:
        slot = int(self.slots_of(np.array([id_], np.int64))[0])
        return int(np.flatnonzero(~self._deleted)[slot])

    def grant(self, id: Any, tenant: Any) -> None:
        """Give ``tenant`` access to vector ``id``. Raises KeyError for an unknown id."""
        t = _tenant_key(tenant)
        r = self._row_of(id)
        m = self._members.get(t, np.empty(0, np.int64))
        pos = int(np.searchsorted(m, r))
        if pos < m.size and m[pos] == r:
            return
        self._members[t] = np.insert(m, pos, r)
        self._shortlists.pop(t, None)
        if not self._bloom_dirty:
            h1, h2 = _hash2(t)
            node = int(self._leaf[r])
            while node > 0:
                _k.bloom_set(self._words, self._bloom_off[node], self._bloom_nw[node], h1, h2, _HASHES)
                node = int(self._parent[node])
        self._note_change()

    def revoke(self, id: Any, tenant: Any) -> None:
        """Withdraw ``tenant``'s access to vector ``id``; searches never return it for tenant.

        Raises:
            KeyError: unknown id, or the tenant has no access to it.
        """
        t = _tenant_key(tenant)
        r = self._row_of(id)
        m = self._members.get(t, np.empty(0, np.int64))
        pos = int(np.searchsorted(m, r))
        if pos >= m.size or m[pos] != r:
            raise KeyError(f"tenant {t} has no access to id {int(id)}")
        self._members[t] = np.delete(m, pos)
        self._shortlists.pop(t, None)
        self._note_change()

    def _note_change(self) -> None:
        self._changes += 1
        if self._changes > max(64, self.n_grants // 10):
            self._bloom_dirty = True

    def tenants_of(self, id: Any) -> list[int]:
        """Tenants with access to vector ``id``."""
        r = self._row_of(id)
        return sorted(t for t, m in self._members.items() if m.size and m[min(np.searchsorted(m, r), m.size - 1)] == r)

    @property
    def tenants(self) -> list[int]:
        """Tenants with at least one vector."""
        return sorted(t for t, m in self._members.items() if m.size)

    @property
    def n_grants(self) -> int:
        """(vector, tenant) access pairs."""
        return int(sum(m.size for m in self._members.values()))

    def tenant_size(self, tenant: Any) -> int:
        return int(self._members.get(_tenant_key(tenant), np.empty(0)).size)

    # ----------------------------------------------------------------- encoding
    def _cluster_rows(self) -> None:
        """Store the vectors leaf by leaf, so that a shortlist scan reads nearby memory
        (rows, and with them slots, are renumbered)."""
        n = self._X.shape[0]
        perm = np.argsort(self._leaf, kind="stable")
        if n == 0 or (perm == np.arange(n)).all():
            return
        inv = np.empty(n, np.int64)
        inv[perm] = np.arange(n)
        self._X = np.ascontiguousarray(self._X[perm])
        self._leaf, self._labels, self._deleted = self._leaf[perm], self._labels[perm], self._deleted[perm]
        self._members = {t: np.sort(inv[m]) for t, m in self._members.items()}
        self._shortlists.clear()
        self._rows_cache = None
        self._ids = self._labels[~self._deleted]
        self._sorted = None

    def rebuild(self) -> None:
        """Store vectors leaf by leaf and rebuild every Bloom filter from the current grants
        (drops the bits of revocations)."""
        self._cluster_rows()
        t_list = [t for t, m in self._members.items() if m.size]
        nn = self.n_nodes
        if not t_list:
            self._bloom_off = np.zeros(nn, np.int64)
            self._bloom_nw = np.ones(nn, np.int64)
            self._words = np.zeros(1, np.int64)
            self._bloom_dirty, self._changes = False, 0
            return
        rows = np.concatenate([self._members[t] for t in t_list])
        tix = np.repeat(np.arange(len(t_list)), [self._members[t].size for t in t_list])
        paths = self._ancestors(self._leaf[rows])
        node = paths.ravel()
        tt = np.tile(tix, paths.shape[0])
        ok = node > 0
        key = np.unique(node[ok] * len(t_list) + tt[ok])  # distinct (node, tenant) pairs
        pn, pt = key // len(t_list), key % len(t_list)
        per_node = np.bincount(pn, minlength=nn)
        bits = np.maximum(64, per_node * _BITS_PER_TENANT)
        nw = (1 << np.ceil(np.log2(bits / 64)).astype(np.int64)).astype(np.int64)
        nw[per_node == 0] = 1
        off = np.concatenate([[0], np.cumsum(nw[:-1])]).astype(np.int64)
        words = np.zeros(int(nw.sum()), np.int64)
        hashes = np.array([_hash2(t) for t in t_list], np.int64)
        _k.bloom_fill(words, off, nw, pn.astype(np.int64), hashes[pt, 0], hashes[pt, 1], _HASHES)
        self._words, self._bloom_off, self._bloom_nw = words, off, nw
        self._bloom_dirty, self._changes = False, 0

    def _shortlist(self, t: int):
        """(nodes sorted, ptr, rows) of tenant t: each vector at the highest node on its path
        where the tenant has at most ``shortlist_size`` vectors, or at its leaf."""
        sl = self._shortlists.get(t)
        if sl is not None:
            return sl
        rows = self._members.get(t, np.empty(0, np.int64))
        if rows.size == 0:
            sl = (np.empty(0, np.int64), np.zeros(1, np.int64), np.empty(0, np.int64))
        else:
            paths = self._ancestors(self._leaf[rows])
            at = np.full(rows.size, -1, np.int64)
            for d in range(paths.shape[0]):
                open_ = at < 0
                nodes = paths[d]
                u, inv, cnt = np.unique(nodes, return_inverse=True, return_counts=True)
                small = cnt[inv] <= self.shortlist_size
                leaf = self._child_count[np.maximum(nodes, 0)] == 0
                pick = open_ & (nodes >= 0) & (small | leaf)
                at[pick] = nodes[pick]
            order = np.lexsort((rows, at))
            at, srt = at[order], rows[order]
            nodes, counts = np.unique(at, return_counts=True)
            sl = (nodes, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), srt)
        self._shortlists[t] = sl
        return sl

    # ----------------------------------------------------------------- search
    def search(self, Q: Any, k: int, tenant: Any = None, budget: int | None = None, filter: Any = None):
        """k nearest neighbours among one tenant's vectors.

        Args:
            Q: (nq, dim) queries. k: results per query.
            tenant: one tenant for all queries, or an (nq,) int array of tenants.
            budget: vectors scanned per query before the walk stops (default 256); more is
                slower and more accurate; >= the tenant's size is exact.
            filter: optional extra id filter (as :meth:`ann.Index.search`).

        Returns:
            D, I: (nq, k) float32 / int64, ascending; inf / -1 where the tenant has fewer.

        Raises:
            ValueError: no tenant given; KeyError: a tenant with no vectors ever.
        """
        if tenant is None:
            raise ValueError("TenantIndex.search needs tenant=: the tenant whose vectors to search")
        if self._bloom_dirty:  # before the filter is turned into slots: rebuilding renumbers them
            self.rebuild()
        return super().search(Q, k, filter=filter, tenant=tenant, budget=budget)

    def _search(self, Q: np.ndarray, k: int, allowed: np.ndarray | None, tenant: Any = None,
                budget: int | None = None):
        budget = _DEFAULT_BUDGET if budget is None else _int_param("budget", budget, 1)
        nq = Q.shape[0]
        if self.metric == "cosine":
            Q = normalize_rows(Q)
        t_arr = np.asarray(tenant)
        if t_arr.ndim == 0:
            t_arr = np.full(nq, _tenant_key(tenant), np.int64)
        elif t_arr.shape != (nq,) or t_arr.dtype.kind not in "iu":
            raise ValueError(f"tenant must be one integer or an ({nq},) int array, got {t_arr.dtype} {t_arr.shape}")
        if self._rows_cache is None or self._rows_cache[0].shape[0] != self._X.shape[0]:
            live = np.flatnonzero(~self._deleted)
            slot_of = np.full(self._X.shape[0], -1, np.int64)
            slot_of[live] = np.arange(live.size)
            self._rows_cache = (~self._deleted, live, slot_of)
        row_ok, live, slot_of = self._rows_cache
        if allowed is not None:
            row_ok = np.zeros(self._X.shape[0], bool)
            row_ok[live[allowed]] = True
        one = t_arr[0] if t_arr.size and (t_arr == t_arr[0]).all() else None
        groups = [(int(one), None)] if one is not None else \
            [(t, np.flatnonzero(t_arr == t)) for t in np.unique(t_arr).tolist()]
        D = np.full((nq, k), np.inf, np.float32)
        S = np.full((nq, k), -1, np.int64)
        for t, qs in groups:
            if t not in self._members:
                raise KeyError(f"unknown tenant {t}: no vector was ever granted to it")
            nodes, ptr, rows = self._shortlist(t)
            h = self._hashes.get(t)
            if h is None:
                h = self._hashes[t] = _hash2(t)
            Dt, Rt = _k.tenant_search(Q if qs is None else np.ascontiguousarray(Q[qs]), self._X, self._C,
                                      self._child_start, self._child_count, self._words, self._bloom_off,
                                      self._bloom_nw, h[0], h[1], _HASHES, nodes, ptr, rows, row_ok, k,
                                      budget, self._ip)
            St = slot_of[Rt]
            St[Rt < 0] = -1
            if qs is None:
                return Dt, St
            D[qs], S[qs] = Dt, St
        return D, S

    def _remove(self, slots: np.ndarray) -> None:
        live = np.flatnonzero(~self._deleted)
        rows = live[slots]
        self._deleted[rows] = True
        for t, m in self._members.items():
            keep = ~np.isin(m, rows)
            if not keep.all():
                self._members[t] = m[keep]
                self._shortlists.pop(t, None)
        self._ids = self._labels[~self._deleted]
        self._rows_cache = None
        self._bloom_dirty = True

    # ----------------------------------------------------------------- sizes and files
    def memory_bytes(self) -> int:
        """Bytes held: vectors, tree, Bloom filters, grants and built shortlists."""
        arrs = [self._X, self._C, self._child_start, self._child_count, self._parent, self._leaf,
                self._labels, self._deleted, self._ids, self._words, self._bloom_off, self._bloom_nw]
        b = sum(a.nbytes for a in arrs)
        b += sum(m.nbytes + 16 for m in self._members.values())
        b += sum(sum(a.nbytes for a in sl) for sl in self._shortlists.values())
        return int(b)

    def info(self) -> dict[str, Any]:
        d = super().info()
        d.update(nodes=self.n_nodes, tenants=len(self.tenants), grants=self.n_grants,
                 removed=int(self._deleted.sum()))
        return d

    def _state(self):
        t_list = sorted(self._members)
        meta = {"branching": self.branching, "leaf_size": self.leaf_size,
                "shortlist_size": self.shortlist_size, "seed": self.seed, "max_train": self.max_train}
        sizes = np.array([self._members[t].size for t in t_list], np.int64)
        arrays = {"vectors": self._X, "leaf": self._leaf, "labels": self._labels, "deleted": self._deleted,
                  "centroids": self._C, "child_start": self._child_start, "child_count": self._child_count,
                  "parent": self._parent, "tenant_keys": np.array(t_list, np.int64),
                  "tenant_ptr": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                  "tenant_rows": (np.concatenate([self._members[t] for t in t_list]) if t_list
                                  else np.empty(0, np.int64))}
        return meta, arrays

    @classmethod
    def _from_state(cls, meta, arrays):
        idx = cls(int(meta["dim"]), meta["metric"], branching=int(meta["branching"]),
                  leaf_size=int(meta["leaf_size"]), shortlist_size=int(meta["shortlist_size"]),
                  seed=int(meta["seed"]), max_train=int(meta["max_train"]))
        a = {k: np.array(v) for k, v in arrays.items()}
        n, nn = a["vectors"].shape[0], a["centroids"].shape[0]
        if a["vectors"].shape != (n, idx.dim) or a["centroids"].shape != (nn, idx.dim):
            raise ValueError("vectors / centroids do not match dim")
        for k in ("leaf", "labels", "deleted"):
            if a[k].shape != (n,):
                raise ValueError(f"{k} has shape {a[k].shape}, expected ({n},)")
        for k in ("child_start", "child_count", "parent"):
            if a[k].shape != (nn,):
                raise ValueError(f"{k} has shape {a[k].shape}, expected ({nn},)")
        cs, cc = a["child_start"], a["child_count"]
        if nn and ((cc < 0).any() or (cs + cc > nn).any() or (cs[cc > 0] <= np.flatnonzero(cc > 0)).any()
                   or (a["parent"][1:] < 0).any() or (a["parent"] >= nn).any()):
            raise ValueError("tree links point outside the tree")
        if n and ((a["leaf"] < 0).any() or (a["leaf"] >= nn).any() or (cc[a["leaf"]] != 0).any()):
            raise ValueError("rows point at nodes that are not leaves")
        keys, ptr, trows = a["tenant_keys"], a["tenant_ptr"], a["tenant_rows"]
        if ptr.shape != (keys.size + 1,) or ptr[0] != 0 or ptr[-1] != trows.size or (np.diff(ptr) < 0).any() \
                or (trows.size and ((trows < 0).any() or (trows >= n).any())):
            raise ValueError("tenant grants are inconsistent")
        idx._X = np.ascontiguousarray(a["vectors"], np.float32)
        idx._leaf = a["leaf"].astype(np.int64)
        idx._labels = a["labels"].astype(np.int64)
        idx._deleted = a["deleted"].astype(bool)
        idx._C = np.ascontiguousarray(a["centroids"], np.float32)
        idx._child_start, idx._child_count = cs.astype(np.int64), cc.astype(np.int64)
        idx._parent = a["parent"].astype(np.int64)
        idx._members = {int(t): trows[ptr[i]:ptr[i + 1]].astype(np.int64) for i, t in enumerate(keys.tolist())}
        idx._restore_ids(meta, arrays)
        if not np.array_equal(idx._labels[~idx._deleted], idx._ids):
            raise ValueError("labels do not match the ids")
        return idx
