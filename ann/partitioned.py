"""SPANN-style partitioned index: centroids in memory, posting lists in RAM or on disk."""

from __future__ import annotations

import mmap
import os
import struct
import tempfile
import zlib
from typing import Any

import numpy as np

from ann import _partitioned_kernels as _k
from ann.base import Index
from ann.clustering import _check_int, balanced_kmeans, hierarchical_balanced_kmeans, size_distribution
from native import device as _dev
from native.container import CorruptFileError
from native.distance import normalize_rows
from native.kernels.distance import knn_cpu

BLOCK = 4096
_AUTO_HNSW = 16384  # navigator='auto': exact centroid scan up to this many lists
_FILTER_ALL_LISTS = 2  # a filter covered by at most this many x nprobe lists: scan all of those
_MAGIC = b"GKPOSTS\x00"
_HEADER = struct.Struct("<8sIIQI")  # magic, version, dim, data bytes, crc32 of the data
_VERSION = 1


def resident_memory() -> dict[str, int]:
    """This process's memory from /proc/self/status, in bytes: VmRSS (resident), RssAnon
    (private), RssFile (file pages mapped, e.g. posting lists), VmHWM (peak resident).
    Empty where /proc is not available."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                    out[key] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return out


def _positive_float(name: str, v: Any, allow_zero: bool = True) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(v).__name__}")
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {v}")
    return float(v)


def _file_crc(path: str, start: int, nbytes: int) -> int:
    """crc32 of a byte range, read in chunks (no mapping, so resident memory stays flat)."""
    crc = 0
    with open(path, "rb", buffering=0) as f:
        f.seek(start)
        left = nbytes
        while left:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            crc = zlib.crc32(chunk, crc)
            left -= len(chunk)
    return crc & 0xFFFFFFFF


class PartitionedIndex(Index):
    """Partitioned (IVF / SPANN) index with balanced posting lists, kept in RAM or on disk.

    Building clusters the vectors with hierarchical balanced k-means into lists of about
    ``list_size`` vectors, then stores each vector in its nearest list and in up to
    ``replicas - 1`` more (*posting-list expansion*): every list whose centroid distance is
    within ``d0 + closure_eps * |d0|`` of the nearest one ``d0``, skipping a list ``c``
    when a chosen list ``p`` has ``rng_factor * dist(p, c) <= dist(x, c)`` (SPANN's RNG
    rule). A search finds the ``nprobe`` nearest centroids with an HNSW navigator, keeps
    those within ``d0 + prune_eps * |d0|`` of the nearest (*query-aware pruning*), scans
    them and removes duplicate results. Distances are the metric's (squared for l2).

    Storage: one buffer of 4096-byte-aligned extents, one per list: its vectors
    (contiguous float32) then their int64 node numbers, with room to grow. With
    ``path=None`` it lives in RAM; with ``path`` it is a file read through a memory map,
    and RAM holds only the centroids, the navigator, per-list tables, ids, tombstones and
    ``memory_budget`` bytes of the largest lists (*hot lists*). A batch search reads each
    probed list once, in file order, ``page_budget`` bytes at a time, with explicit reads
    into a transient buffer, and every query scans its lists of that chunk
    (``reads='pread'``: resident memory stays small), or each query scans the map
    directly (``reads='mmap'``: faster once the pages are resident; the OS decides how
    many stay). Inserts write through the map, whose pages are released afterwards.

    A filter (``search(..., filter=)``) restricts probing to the lists holding an allowed
    vector, nearest first; when at most ``2 * nprobe`` lists hold every allowed vector
    between them (one list per vector), those are all scanned and the result is exact.

    Inserts go to the lists chosen by the same rule; a list that outgrows its extent moves
    to a new one at the end, and a list longer than ``split_size`` is split in two with
    balanced 2-means (SPFresh's split, without its neighbour reassignment). Removal marks
    tombstones, which are never returned and are dropped when a list is split.

    Args:
        dim: vector dimension. metric: 'l2', 'ip' or 'cosine' (vectors normalised).
        path: posting-list file (created by the first ``add``); None keeps lists in RAM.
        nlist: number of lists (default ``n / list_size`` at the first ``add``).
        list_size: wanted vectors per list before expansion. replicas: most lists per vector.
        closure_eps, rng_factor: posting-list expansion (above). nprobe: default most lists
            probed per query. prune_eps: query-aware pruning (None: no pruning).
        branching, kmeans_iters, train_size: hierarchical clustering (of at most
            ``train_size`` sampled vectors; None: all).
        navigator: 'hnsw' (ann.HNSWIndex over the centroids), 'flat' (exact BLAS scan of
            the centroids) or 'auto' (flat up to 16384 lists, hnsw above).
        split_size: lists longer than this are split (default ``4 * list_size``).
        memory_budget: bytes of hot lists copied to RAM in disk mode.
        reads: 'pread' or 'mmap' (above), disk mode.
        page_budget: bytes of posting lists read per search chunk ('pread').
        seed: clustering seed.

    Example::

        idx = ann.PartitionedIndex(dim=128, path="/data/sift.postings", memory_budget=0)
        idx.add(X)
        D, I = idx.search(Q, k=10, nprobe=32)

    Paper: Q. Chen et al., "SPANN: Highly-efficient Billion-scale Approximate Nearest
    Neighbor Search", NeurIPS 2021; updates after Y. Xu et al., "SPFresh", SOSP 2023.
    """

    kind = "partitioned"

    def __init__(self, dim: int, metric: str = "l2", path: str | os.PathLike | None = None, *,
                 nlist: int | None = None, list_size: int = 64, replicas: int = 4,
                 closure_eps: float = 0.1, rng_factor: float = 1.0, nprobe: int = 32,
                 prune_eps: float | None = None, branching: int = 16, kmeans_iters: int = 8,
                 train_size: int | None = None, navigator: str = "auto",
                 split_size: int | None = None, memory_budget: int = 0,
                 reads: str = "pread", page_budget: int = 8 << 20, seed: int = 0):
        super().__init__(dim, metric)
        self.path = None if path is None else os.path.abspath(os.fspath(path))
        self.nlist_wanted = None if nlist is None else _check_int("nlist", nlist, 1)
        self.list_size = _check_int("list_size", list_size, 1)
        self.replicas = _check_int("replicas", replicas, 1)
        self.closure_eps = _positive_float("closure_eps", closure_eps)
        self.rng_factor = _positive_float("rng_factor", rng_factor)
        self.nprobe = _check_int("nprobe", nprobe, 1)
        self.prune_eps = None if prune_eps is None else _positive_float("prune_eps", prune_eps)
        self.branching = _check_int("branching", branching, 2)
        self.kmeans_iters = _check_int("kmeans_iters", kmeans_iters, 1)
        self.train_size = None if train_size is None else _check_int("train_size", train_size, 1)
        if navigator not in ("auto", "hnsw", "flat"):
            raise ValueError(f"navigator must be 'auto', 'hnsw' or 'flat', got {navigator!r}")
        self.navigator = navigator
        self.split_size = _check_int("split_size", split_size if split_size is not None
                                     else 4 * self.list_size, 2)
        self.memory_budget = _check_int("memory_budget", memory_budget, 0)
        if reads not in ("pread", "mmap"):
            raise ValueError(f"reads must be 'pread' or 'mmap', got {reads!r}")
        self.reads = reads
        self.page_budget = _check_int("page_budget", page_budget, 1)
        self.seed = _check_int("seed", seed, 0)
        self._ip = self.metric == "ip"  # centroid / list distance: 1 - ip, else squared l2
        self._C = np.empty((0, self.dim), np.float32)
        self._off = np.empty(0, np.int64)
        self._cap = np.empty(0, np.int64)
        self._len = np.empty(0, np.int64)
        self._buf = np.zeros(0, np.uint8)  # the posting buffer (RAM array or map view)
        self._mm: mmap.mmap | None = None
        self._used = 0  # bytes of the buffer in use
        self._dead = np.zeros(0, np.bool_)  # tombstones by node
        self._nn = 0  # nodes (vectors ever added)
        self._slot_of: np.ndarray | None = None
        self._nav = None
        self._hot = (np.zeros(8, np.uint8), np.empty(0, np.int64))  # (buffer, offset by list)
        self._gpu_cache: Any = None
        self._crc: int | None = None
        self._members: tuple | None = None  # (node, list) of every entry, first list by node

    # ----------------------------------------------------------------- sizes
    @property
    def nlist(self) -> int:
        """Number of posting lists."""
        return int(self._C.shape[0])

    @property
    def on_disk(self) -> bool:
        return self._mm is not None

    def list_sizes(self) -> np.ndarray:
        """Entries per posting list (replicas and tombstones included), (nlist,) int64."""
        return self._len.copy()

    def posting_stats(self) -> dict[str, float]:
        """Distribution of posting-list lengths, and the replication factor."""
        s = size_distribution(self._len)
        s["entries_per_vector"] = float(self._len.sum() / max(1, self._nn))
        return s

    def memory_bytes(self) -> int:
        """Bytes of RAM arrays: centroids, navigator, tables, ids, tombstones, hot lists, and
        the posting buffer when it is in RAM. (A mapped file's pages are not counted; see
        :func:`resident_memory` for what the OS reports.)"""
        n = (self._C.nbytes + self._off.nbytes * 3 + self._dead.nbytes + self._ids.nbytes
             + self._hot[0].nbytes + self._hot[1].nbytes)
        if self._nav is not None:
            n += self._nav.memory_bytes()
        if not self.on_disk:
            n += self._buf.nbytes
        return int(n)

    def disk_bytes(self) -> int:
        """Size of the posting-list file (0 in RAM mode)."""
        return os.path.getsize(self.path) if self.on_disk else 0

    def info(self) -> dict[str, Any]:
        return {"kind": self.kind, "dim": self.dim, "metric": self.metric, "ntotal": self.ntotal,
                "memory_bytes": self.memory_bytes(), "disk_bytes": self.disk_bytes(),
                **self._params(), "removed": int(self._dead[: self._nn].sum()),
                "postings": self.posting_stats()}

    def _params(self) -> dict[str, Any]:
        return {"nlist": self.nlist, "list_size": self.list_size, "replicas": self.replicas,
                "closure_eps": self.closure_eps, "rng_factor": self.rng_factor,
                "nprobe": self.nprobe, "prune_eps": self.prune_eps, "branching": self.branching,
                "kmeans_iters": self.kmeans_iters, "train_size": self.train_size,
                "navigator": self.navigator, "split_size": self.split_size,
                "memory_budget": self.memory_budget, "reads": self.reads,
                "page_budget": self.page_budget, "seed": self.seed, "path": self.path}

    # ----------------------------------------------------------------- layout helpers
    def _extent_bytes(self, cap):
        """Bytes of the block-aligned extent(s) of capacity ``cap`` (an int or an array)."""
        return -(-cap * (self.dim * 4 + 8) // BLOCK) * BLOCK

    def _extent(self, count: int) -> tuple[int, int]:
        """(bytes, capacity) of an extent holding at least ``count`` vectors."""
        row = self.dim * 4 + 8
        nbytes = self._extent_bytes(max(count, 1))
        cap = (nbytes // row) & ~1
        if cap < count:
            nbytes += BLOCK
            cap = (nbytes // row) & ~1
        return nbytes, cap

    def _views(self, buf: np.ndarray):
        return buf.view(np.float32), buf.view(np.int64)

    def _reserve(self, nbytes: int) -> int:
        """Room for ``nbytes`` more at the end of the buffer; returns their offset."""
        off = self._used
        need = off + nbytes
        if need > self._buf.size:
            size = max(need, int(self._buf.size * 1.25) // BLOCK * BLOCK)
            if self.on_disk:
                self._map(size, grow=True)
            else:
                grown = np.zeros(size, np.uint8)
                grown[: self._used] = self._buf[: self._used]
                self._buf = grown
        self._used = need
        return off

    def _map(self, size: int, grow: bool = False) -> None:
        """(Re)map the posting file with ``size`` data bytes after the header block."""
        self._buf = np.zeros(0, np.uint8)
        self._mm = None
        with open(self.path, "r+b") as f:
            if grow:
                f.truncate(BLOCK + size)
            mm = mmap.mmap(f.fileno(), BLOCK + size)
        self._mm = mm
        self._buf = np.frombuffer(mm, np.uint8, count=size, offset=BLOCK)

    def _release(self) -> None:
        if self._mm is not None and hasattr(mmap, "MADV_DONTNEED"):
            self._mm.madvise(mmap.MADV_DONTNEED)

    # ----------------------------------------------------------------- build and insert
    def _prepare(self, X: np.ndarray) -> np.ndarray:
        return normalize_rows(X) if self.metric == "cosine" else X

    def _candidates(self, X: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        """m nearest centroids of each row (exact), as (D, I)."""
        return knn_cpu(X, self._C, min(m, self.nlist), "ip" if self._ip else "l2")

    def _assign(self, X: np.ndarray) -> np.ndarray:
        D, I = self._candidates(X, max(4 * self.replicas, 8))
        return _k.closure_select(I, D, self._C, np.float32(self.closure_eps), self.replicas,
                                 np.float32(self.rng_factor), self._ip)

    def _build(self, X: np.ndarray) -> None:
        n = X.shape[0]
        nlist = self.nlist_wanted or max(1, round(n / self.list_size))
        train = X
        if self.train_size is not None and self.train_size < n:
            rng = np.random.default_rng(self.seed)
            train = X[np.sort(rng.choice(n, self.train_size, replace=False))]
        nlist = min(nlist, train.shape[0])
        self._C, _ = hierarchical_balanced_kmeans(
            train, nlist, branching=self.branching, iters=self.kmeans_iters,
            seed=self.seed, metric="ip" if self._ip else "l2")
        assign = self._assign(X)
        counts = np.bincount(assign[assign >= 0], minlength=self.nlist)
        ext = [self._extent(int(c)) for c in counts]
        sizes = np.array([e[0] for e in ext], np.int64)
        self._cap = np.array([e[1] for e in ext], np.int64)
        self._off = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self._len = np.zeros(self.nlist, np.int64)
        self._used = int(sizes.sum())
        buf = np.zeros(self._used, np.uint8)
        fv, iv = self._views(buf)
        _k.append_rows(X, np.arange(n, dtype=np.int64), assign, self._off, self._cap, self._len,
                       fv, iv, self.dim)
        if self.path is None:
            self._buf = buf
        else:
            self._write_file(buf)
            del buf
            self._map(self._used)
        self._build_navigator()

    def _build_navigator(self) -> None:
        self._nav = None
        if self.navigator == "hnsw" or (self.navigator == "auto" and self.nlist > _AUTO_HNSW):
            from ann.hnsw import HNSWIndex

            self._nav = HNSWIndex(self.dim, "ip" if self._ip else "l2", M=16, ef_construction=200,
                                  seed=self.seed)
            self._nav.add(self._C, ids=np.arange(self.nlist, dtype=np.int64))

    def _write_file(self, data: np.ndarray) -> None:
        """Write the posting file atomically: a header block, then the extents."""
        folder = os.path.dirname(self.path) or "."
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                crc = zlib.crc32(data) & 0xFFFFFFFF
                head = _HEADER.pack(_MAGIC, _VERSION, self.dim, data.size, crc)
                f.write(head + b"\0" * (BLOCK - len(head)))
                f.write(data.data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        self._crc = crc

    def _add(self, X: np.ndarray, ids: np.ndarray) -> None:
        X = self._prepare(X)
        n0, n = self._nn, X.shape[0]
        dead = np.zeros(n0 + n, np.bool_)
        dead[:n0] = self._dead[:n0]
        self._dead, self._nn = dead, n0 + n
        self._slot_of = None
        self._gpu_cache = None
        self._crc = None
        self._members = None
        if self.nlist == 0:
            self._build(X)
        else:
            self._insert(X, np.arange(n0, n0 + n, dtype=np.int64))
        self._cache_hot()

    def _insert(self, X: np.ndarray, nodes: np.ndarray) -> None:
        assign = self._assign(X)
        adds = np.bincount(assign[assign >= 0], minlength=self.nlist)
        for l in np.flatnonzero(self._len + adds > self._cap):
            self._move(int(l), int(self._len[l] + adds[l]) * 2)
        fv, iv = self._views(self._buf)
        _k.append_rows(X, nodes, assign, self._off, self._cap, self._len, fv, iv, self.dim)
        todo = np.flatnonzero(self._len > self.split_size).tolist()
        while todo:  # split until no list is over the limit
            l = todo.pop()
            new = self._split(l)
            todo += [m for m in (l, new) if m >= 0 and self._len[m] > self.split_size]
        self._release()

    def _rows(self, l: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of list l's vectors (len, dim) and nodes (len,)."""
        fv, iv = self._views(self._buf)
        o, c, m = int(self._off[l]), int(self._cap[l]), int(self._len[l])
        V = fv[o // 4: o // 4 + m * self.dim].reshape(m, self.dim).copy()
        ib = (o + c * self.dim * 4) // 8
        return V, iv[ib: ib + m].copy()

    def _write_list(self, l: int, V: np.ndarray, nodes: np.ndarray) -> None:
        self._len[l] = 0
        fv, iv = self._views(self._buf)
        _k.append_rows(np.ascontiguousarray(V), nodes, np.full((V.shape[0], 1), l, np.int64),
                       self._off, self._cap, self._len, fv, iv, self.dim)

    def _move(self, l: int, count: int) -> None:
        """Give list l a new extent at the end with room for ``count`` vectors."""
        V, nodes = self._rows(l)
        nbytes, cap = self._extent(count)
        self._off[l] = self._reserve(nbytes)
        self._cap[l] = cap
        self._write_list(l, V, nodes)

    def _split(self, l: int) -> int:
        """Split list l in two with balanced 2-means (tombstoned entries are dropped).
        Returns the new list's number (-1 when dropping tombstones was enough)."""
        V, nodes = self._rows(l)
        live = ~self._dead[nodes]
        V, nodes = V[live], nodes[live]
        if V.shape[0] <= self.split_size:
            self._write_list(l, V, nodes)
            return -1
        C2, lab = balanced_kmeans(V, 2, iters=self.kmeans_iters, slack=0.0, seed=self.seed + l,
                                  metric="ip" if self._ip else "l2")
        a, b = lab == 0, lab == 1
        self._write_list(l, V[a], nodes[a])
        new = self.nlist
        nbytes, cap = self._extent(2 * int(b.sum()))
        self._C = np.concatenate([self._C, C2[1:2]])
        self._C[l] = C2[0]
        self._off = np.append(self._off, self._reserve(nbytes))
        self._cap = np.append(self._cap, cap)
        self._len = np.append(self._len, 0)
        self._write_list(new, V[b], nodes[b])
        if self._hot[1].size:
            self._hot = (self._hot[0], np.append(self._hot[1], -1))
        if self._nav is not None:
            self._nav.remove([l])
            self._nav.add(C2, ids=np.array([l, new], np.int64))
        return new

    def _cache_hot(self) -> None:
        """Copy the largest lists that fit in ``memory_budget`` bytes into RAM (disk mode)."""
        hot_off = np.full(self.nlist, -1, np.int64)
        if not self.on_disk or self.memory_budget == 0:
            self._hot = (np.zeros(8, np.uint8), hot_off)
            return
        sizes = self._extent_bytes(self._cap)
        chosen, total = [], 0
        for l in np.argsort(-self._len, kind="stable"):
            if total + sizes[l] <= self.memory_budget:
                chosen.append(l)
                hot_off[l] = total
                total += int(sizes[l])
        hot = np.zeros(max(total, 8), np.uint8)
        for l in chosen:
            o, s = int(self._off[l]), int(sizes[l])
            hot[hot_off[l]: hot_off[l] + s] = self._buf[o: o + s]
        self._hot = (hot, hot_off)
        self._release()

    # ----------------------------------------------------------------- search
    def _probe(self, Q: np.ndarray, nprobe: int, prune_eps: float | None, ef: int | None,
               among: np.ndarray | None = None):
        """(nq, p) int64 lists to scan per query, nearest first, -1 where pruned; only
        lists of ``among`` when given (their centroids scanned exactly)."""
        p = min(nprobe, self.nlist)
        if among is not None:
            p = min(p, among.size)
            Dc, pos = knn_cpu(Q, self._C, p, "ip" if self._ip else "l2", rows=among)
            Ic = among[pos]
        elif self._nav is not None:
            Dc, Ic = self._nav.search(Q, k=p, ef=max(ef or 64, 3 * p))
        else:
            Dc, Ic = self._candidates(Q, p)
        if prune_eps is not None:
            d0 = Dc[:, :1]
            Ic = np.where(Dc <= d0 + prune_eps * np.abs(d0), Ic, -1)
        return np.ascontiguousarray(Ic, dtype=np.int64)

    def _search(self, Q: np.ndarray, k: int, allowed: np.ndarray | None, nprobe: int | None = None,
                prune_eps: Any = "default", ef: int | None = None, device: Any = None):
        """Probe ``nprobe`` lists (default: the index's), pruned by ``prune_eps`` (default:
        the index's; None: off); ``ef``: navigator beam width (default max(64, 3 nprobe));
        ``device``: 'cuda' runs the batched torch path."""
        nprobe = self.nprobe if nprobe is None else _check_int("nprobe", nprobe, 1)
        prune = self.prune_eps if isinstance(prune_eps, str) else (
            None if prune_eps is None else _positive_float("prune_eps", prune_eps))
        Q = self._prepare(Q)
        use_allowed = allowed is not None
        removed = self._ids.size != self._nn
        an = np.zeros(self._nn if use_allowed else 1, np.bool_)
        among = None
        if use_allowed:
            an[np.flatnonzero(~self._dead[: self._nn])] = allowed
            # probe only lists holding an allowed vector: with a selective filter most of
            # the nearest lists hold none. When few lists (_FILTER_ALL_LISTS * nprobe) hold
            # every allowed vector between them, those are all scanned: exact, and cheap,
            # since a scan skips the rows the filter drops before computing their distance.
            among, cover = self._lists_holding(an)
            if among.size == 0:
                nq = Q.shape[0]
                return np.full((nq, k), np.inf, np.float32), np.full((nq, k), -1, np.int64)
            if cover.size <= _FILTER_ALL_LISTS * nprobe:
                among, nprobe, prune = cover, cover.size, None
            elif among.size == self.nlist or among.size > _AUTO_HNSW:
                among = None
        probes = self._probe(Q, nprobe, prune, ef, among)
        if device == "torch-cpu":  # the batched path on torch's CPU backend (tests)
            D, N = self._search_torch(Q, probes, k, an, use_allowed, "cpu")
        elif _dev.resolve_device(device) == _dev.CUDA:
            D, N = self._search_torch(Q, probes, k, an, use_allowed, "cuda")
        else:  # one mask of returnable nodes: alive, and allowed (an is False where dead)
            ok = an if use_allowed else (~self._dead[: self._nn] if removed else an)
            D, N = self._search_cpu(Q, probes, k, ok, use_allowed or removed)
        if not removed:  # slot = node
            return D, N
        if self._slot_of is None:
            self._slot_of = np.cumsum(~self._dead[: self._nn]) - 1
        return D, np.where(N >= 0, self._slot_of[np.maximum(N, 0)], -1)

    def _search_cpu(self, Q, probes, k, ok, use_ok):
        fv, iv = self._views(self._buf)
        hfv, hiv = self._views(self._hot[0])
        if self.on_disk and self.reads == "pread":
            return self._search_pread(Q, probes, k, ok, use_ok, hfv, hiv)
        kern = _k.search_lists if Q.shape[0] >= 8 else _k.search_lists_serial
        return kern(Q, probes, k, fv, iv, self._off, self._cap, self._len,
                    hfv, hiv, self._hot[1], self.dim, ok, use_ok, self._ip)

    def _search_pread(self, Q, probes, k, ok, use_ok, hfv, hiv):
        """List-major batch search with explicit reads: each probed list is read once per
        batch, in file order, ``page_budget`` bytes at a time (at least one list), and every
        query scans its lists of that chunk into its running heap. RAM: one chunk."""
        nq = Q.shape[0]
        hd = np.full((nq, k), np.inf, np.float32)
        hi = np.full((nq, k), -1, np.int64)
        pq, pj = np.nonzero(probes >= 0)
        pl = probes[pq, pj]
        hot = self._hot[1][pl] >= 0
        if hot.any():  # lists cached in RAM first
            self._scan(Q, pq[hot], pl[hot], hfv, hiv, self._hot[1], ok, use_ok, hd, hi)
        pq, pl = pq[~hot], pl[~hot]
        if pl.size:
            lists = np.unique(pl)
            lists = lists[np.argsort(self._off[lists], kind="stable")]  # file order
            chunk = np.zeros(self.nlist, np.int64)
            sizes = self._extent_bytes(self._cap[lists])
            # greedy chunks of consecutive lists up to page_budget bytes (a list alone may exceed it)
            starts = [0]
            used = 0
            for t, sz in enumerate(sizes.tolist()):
                if used and used + sz > self.page_budget:
                    starts.append(t)
                    used = 0
                used += sz
            starts.append(lists.size)
            for c in range(len(starts) - 1):
                chunk[lists[starts[c]:starts[c + 1]]] = c
            cl = chunk[pl]
            order = np.lexsort((pq, cl))
            pq, pl = pq[order], pl[order]
            bounds = np.searchsorted(cl[order], np.arange(len(starts)))
            stage = np.empty(max(8, int(max(sizes[a:b].sum() for a, b in zip(starts[:-1], starts[1:])))),
                             np.uint8)  # reused by every chunk
            fd = os.open(self.path, os.O_RDONLY)
            try:
                for c in range(len(starts) - 1):
                    s, e = bounds[c], bounds[c + 1]
                    fv, iv, off = self._stage(fd, lists[starts[c]:starts[c + 1]], stage)
                    self._scan(Q, pq[s:e], pl[s:e], fv, iv, off, ok, use_ok, hd, hi)
            finally:
                os.close(fd)
        _k.finish_heaps(hd, hi, not self._ip)
        return hd, hi

    def _scan(self, Q, pq, pl, fv, iv, off, ok, use_ok, hd, hi):
        """Pairs (pq, pl), sorted by query, into the heaps (hd, hi)."""
        starts = np.flatnonzero(np.r_[True, pq[1:] != pq[:-1], True]) if pq.size else np.zeros(1, np.int64)
        _k.scan_pairs(Q, starts.astype(np.int64), pq.astype(np.int64), pl.astype(np.int64), fv, iv, off,
                      self._cap, self._len, self.dim, ok, use_ok, hd, hi, self._ip)

    def _stage(self, fd: int, lists: np.ndarray, buf: np.ndarray):
        """Read ``lists`` (sorted in file order) into ``buf``: (fv, iv, offsets into buf)."""
        src = self._off[lists]
        sizes = self._extent_bytes(self._cap[lists])
        pos = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        off = np.zeros(self.nlist, np.int64)
        off[lists] = pos[:-1]
        # one read per run of extents adjacent in the file
        starts = np.flatnonzero(np.concatenate([[True], src[1:] != src[:-1] + sizes[:-1]]))
        ends = np.append(starts[1:], lists.size)
        for a, b in zip(starts.tolist(), ends.tolist()):
            os.preadv(fd, [buf[pos[a]: pos[b]]], BLOCK + int(src[a]))
        fv, iv = self._views(buf)
        return fv, iv, off

    def _search_torch(self, Q, probes, k, an, use_allowed, device: str):
        """Batched IVF-style search with torch (CUDA; 'cpu' for tests): gather the probed
        lists' vectors per query, one batched matmul, top-k, then duplicates removed."""
        import torch

        if self._gpu_cache is None or self._gpu_cache[0] != device:
            V, nodes = zip(*(self._rows(l) for l in range(self.nlist)))
            start = np.concatenate([[0], np.cumsum(self._len)]).astype(np.int64)
            X = torch.from_numpy(np.concatenate(V)).to(device)
            self._gpu_cache = (device, X, (X * X).sum(1), torch.from_numpy(np.concatenate(nodes)).to(device),
                               start)
            self._release()
        _, X, x_sq, nodes_t, start = self._gpu_cache
        ok = ~self._dead[: self._nn]
        if use_allowed:
            ok &= an
        ok_t = torch.from_numpy(ok).to(device)
        lens = np.where(probes >= 0, self._len[np.maximum(probes, 0)], 0)
        D_out = np.empty((Q.shape[0], k), np.float32)
        N_out = np.empty((Q.shape[0], k), np.int64)
        width = max(1, int(lens.sum(1).max()))
        step = max(1, (1 << 26) // (width * self.dim))
        for s in range(0, Q.shape[0], step):
            pr, ln = probes[s: s + step], lens[s: s + step]
            tot = ln.sum(1)
            w = max(1, int(tot.max()))
            # row r of the gather: list pr[q, j]'s entry t, laid out query by query
            flat_l = np.repeat(np.maximum(pr, 0).ravel(), ln.ravel())
            first = np.repeat(np.cumsum(ln.ravel()) - ln.ravel(), ln.ravel())
            within = np.arange(flat_l.size) - first
            rows = start[flat_l] + within
            qrow = np.repeat(np.arange(pr.shape[0]), tot)
            col = np.arange(rows.size) - np.repeat(np.cumsum(tot) - tot, tot)
            idx = np.full((pr.shape[0], w), -1, np.int64)
            idx[qrow, col] = rows
            it = torch.from_numpy(idx).to(device)
            valid = it >= 0
            itc = it.clamp_min(0)
            q = torch.from_numpy(Q[s: s + step]).to(device)
            g = torch.bmm(X[itc], q[:, :, None])[:, :, 0]
            d = 1.0 - g if self._ip else ((q * q).sum(1, keepdim=True) - 2.0 * g + x_sq[itc]).clamp_min(0)
            nd = nodes_t[itc]
            d = torch.where(valid & ok_t[nd], d, torch.full_like(d, float("inf")))
            kk = min(w, k * self.replicas)
            dv, pos = torch.topk(d, kk, dim=1, largest=False, sorted=True)
            nv = torch.gather(nd, 1, pos)
            nv = torch.where(torch.isinf(dv), torch.full_like(nv, -1), nv)
            D_out[s: s + step], N_out[s: s + step] = _k.dedup_topk(
                dv.cpu().numpy().astype(np.float32), nv.cpu().numpy(), k)
        return D_out, N_out

    # ----------------------------------------------------------------- removal
    def _remove(self, slots: np.ndarray) -> None:
        live = np.flatnonzero(~self._dead[: self._nn])
        self._dead[live[slots]] = True
        self._ids = np.delete(self._ids, slots)
        self._slot_of = None

    # ----------------------------------------------------------------- files
    def flush(self) -> None:
        """Write the posting file's pages and refresh its checksum (disk mode)."""
        if not self.on_disk:
            return
        self._mm.flush()
        crc = _file_crc(self.path, BLOCK, self._buf.size)
        self._mm[:_HEADER.size] = _HEADER.pack(_MAGIC, _VERSION, self.dim, self._buf.size, crc)
        self._mm.flush()
        self._crc = crc

    def save(self, path: str | os.PathLike) -> int:
        """Write the index to ``path``. In disk mode the file holds the centroids and tables
        and names the posting file (flushed and checksummed first), which must stay put."""
        if self.on_disk and self._crc is None:
            self.flush()
        return super().save(path)

    def _state(self):
        meta = {**self._params(), "storage": "disk" if self.on_disk else "ram",
                "nodes": self._nn, "used": self._used}
        arrays = {"centroids": self._C, "offsets": self._off, "capacities": self._cap,
                  "lengths": self._len, "dead": self._dead[: self._nn]}
        if self.on_disk:
            meta.update(posting_bytes=int(self._buf.size), posting_crc=self._crc)
        else:
            arrays["postings"] = self._buf[: self._used]
        return meta, arrays

    @classmethod
    def _from_state(cls, meta, arrays):
        keys = ("nlist", "list_size", "replicas", "closure_eps", "rng_factor", "nprobe",
                "prune_eps", "branching", "kmeans_iters", "train_size", "navigator",
                "split_size", "memory_budget", "reads", "page_budget", "seed")
        kw = {k: meta[k] for k in keys}
        kw["nlist"] = kw["nlist"] or None
        idx = cls(int(meta["dim"]), meta["metric"], path=meta["path"], **kw)
        idx._restore_ids(meta, arrays)
        idx._C = np.ascontiguousarray(arrays["centroids"], np.float32)
        idx._off, idx._cap, idx._len = (np.array(arrays[k], np.int64)
                                        for k in ("offsets", "capacities", "lengths"))
        idx._dead = np.array(arrays["dead"], np.bool_)
        idx._nn, idx._used = int(meta["nodes"]), int(meta["used"])
        L = idx.nlist
        if idx._C.shape != (L, idx.dim) or any(a.shape != (L,) for a in (idx._off, idx._cap, idx._len)):
            raise ValueError(f"list tables do not match {L} centroids of dimension {idx.dim}")
        if idx._dead.shape != (idx._nn,) or int((~idx._dead).sum()) != idx._ids.size:
            raise ValueError("tombstones do not match the ids")
        row = idx.dim * 4 + 8
        if L and ((idx._off % BLOCK).any() or (idx._len > idx._cap).any() or (idx._len < 0).any()
                  or (idx._off < 0).any() or (idx._off + idx._cap * row).max() > idx._used):
            raise ValueError("posting-list extents are inconsistent")
        if meta["storage"] == "disk":
            idx._open_file(int(meta["posting_bytes"]), int(meta["posting_crc"]))
        else:
            buf = np.array(arrays["postings"], np.uint8)
            if buf.size != idx._used:
                raise ValueError(f"postings hold {buf.size} bytes, expected {idx._used}")
            idx._buf = buf
        if idx._used > idx._buf.size:
            raise ValueError("posting buffer is shorter than its extents")
        idx._check_nodes()
        idx._build_navigator()
        idx._cache_hot()
        idx._crc = meta.get("posting_crc")
        return idx

    def _list_nodes(self):
        """Yield every list's node numbers, in list order, one list at a time (read, not
        mapped, on disk, so that resident memory stays small; in RAM a view of the buffer)."""
        fd = os.open(self.path, os.O_RDONLY) if self.on_disk else -1
        try:
            for l in range(self.nlist):
                ib = int(self._off[l]) + int(self._cap[l]) * self.dim * 4
                m = int(self._len[l])
                if self.on_disk:
                    yield np.frombuffer(os.pread(fd, m * 8, BLOCK + ib), np.int64)
                else:
                    yield self._buf[ib: ib + m * 8].view(np.int64)
        finally:
            if fd >= 0:
                os.close(fd)

    def _check_nodes(self) -> None:
        """Node numbers index the tombstones: check every one."""
        for l, nodes in enumerate(self._list_nodes()):
            if nodes.size and (nodes.min() < 0 or nodes.max() >= self._nn):
                raise ValueError(f"posting list {l} names nodes outside 0..{self._nn - 1}")

    def _lists_holding(self, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lists that hold at least one node where ``ok`` (by node) is True, and a cover:
        one list per such node (its first), which holds them all. The list of every entry
        is kept until the next add (inserts and splits move entries)."""
        if self._members is None:
            per = list(self._list_nodes())
            nodes = np.concatenate(per) if per else np.empty(0, np.int64)  # a copy, kept past any write
            lists = np.repeat(np.arange(len(per), dtype=np.int64), [a.size for a in per])
            first = np.full(self._nn, -1, np.int64)
            first[nodes[::-1]] = lists[::-1]  # the last write wins: each node's first list
            self._members = (nodes, lists, first)
        nodes, lists, first = self._members
        has = np.zeros(self.nlist, np.bool_)
        has[lists[ok[nodes]]] = True
        cover = np.zeros(self.nlist, np.bool_)
        cover[first[ok & (first >= 0)]] = True
        return np.flatnonzero(has), np.flatnonzero(cover)

    def _open_file(self, nbytes: int, crc: int) -> None:
        """Map the posting file after checking its header, length and checksum."""
        p = self.path
        if not os.path.exists(p):
            raise CorruptFileError(f"posting file {p!r} is missing")
        size = os.path.getsize(p)
        if size != BLOCK + nbytes:
            raise CorruptFileError(f"posting file {p!r} is truncated or resized: {size} bytes, "
                                   f"expected {BLOCK + nbytes}")
        with open(p, "rb") as f:
            magic, version, dim, data, hcrc = _HEADER.unpack(f.read(_HEADER.size))
        if magic != _MAGIC or version > _VERSION or dim != self.dim or data != nbytes:
            raise CorruptFileError(f"posting file {p!r} has a bad header (magic {magic!r}, "
                                   f"version {version}, dim {dim}, {data} bytes)")
        if hcrc != crc or _file_crc(p, BLOCK, nbytes) != crc:
            raise CorruptFileError(f"posting file {p!r} is corrupt: checksum mismatch")
        self._map(nbytes)
