"""CPU kernels for distances and exact top-k (Numba).

Conventions shared by every index: a *distance* is smaller-is-closer.
  - ``l2``:     squared Euclidean distance ``||q - x||^2`` (as faiss and hnswlib report it)
  - ``ip``:     ``1 - <q, x>``                             (hnswlib's inner-product distance)
  - ``cosine``: ``1 - <q, x> / (||q|| ||x||)``             (vectors normalised once up front)

Large batches compute dot products with single-threaded BLAS on cache-sized tiles, in
parallel over query blocks, and keep a bounded max-heap of the best ``k`` per query;
small batches use a fused SIMD loop parallel over data chunks. Kernels never validate their inputs.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from numba import njit, prange

from native.device import register

METRICS = ("l2", "ip", "cosine")


# --------------------------------------------------------------------------- scalar distances
# Not inline="always": Numba's IR-level inlining compiles the body with the *caller's*
# flags, so a caller without fastmath would get a serial (unvectorised) reduction, 3x
# slower at dim 128. LLVM still inlines these, keeping their per-instruction fastmath.
@njit(cache=True, nogil=True, fastmath=True)
def l2_sq(a, b):
    s = np.float32(0.0)
    for i in range(a.shape[0]):
        d = a[i] - b[i]
        s += d * d
    return s


@njit(cache=True, nogil=True, fastmath=True)
def dot(a, b):
    s = np.float32(0.0)
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


@njit(cache=True, nogil=True, fastmath=True)
def ip_dist(a, b):
    return np.float32(1.0) - dot(a, b)


# --------------------------------------------------------------------------- heaps
@njit(cache=True, nogil=True, inline="always")
def _sift_down(hd, hi, d, i, size):
    """Put (d, i) at the root of the max-heap hd[:size], hi[:size] and sift it down.
    Order: by distance, then by id (so among equal distances the higher id is evicted)."""
    pos = 0
    while True:
        c = 2 * pos + 1
        if c >= size:
            break
        if c + 1 < size and (hd[c + 1] > hd[c] or (hd[c + 1] == hd[c] and hi[c + 1] > hi[c])):
            c += 1
        if hd[c] > d or (hd[c] == d and hi[c] > i):
            hd[pos] = hd[c]
            hi[pos] = hi[c]
            pos = c
        else:
            break
    hd[pos] = d
    hi[pos] = i


@njit(cache=True, nogil=True, inline="always")
def _heap_replace_top(hd, hi, d, i):
    """Replace the root of the max-heap (hd, hi) by (d, i)."""
    _sift_down(hd, hi, d, i, hd.shape[0])


@njit(cache=True, nogil=True)
def _heap_sort(hd, hi):
    """Sort a max-heap in place into ascending (distance, id) order."""
    for end in range(hd.shape[0] - 1, 0, -1):
        d0, i0 = hd[0], hi[0]
        _sift_down(hd, hi, hd[end], hi[end], end)  # the last element over the heap [0, end)
        hd[end] = d0
        hi[end] = i0


# --------------------------------------------------------------------------- blocked top-k
@njit(cache=True, nogil=True, parallel=True)
def topk_blas(Q, X, q_sq, x_sq, k, metric_ip, qb, bs):
    """Exact top-k with BLAS dot products on (qb x bs) tiles, parallel over query blocks.

    Each thread multiplies its query block with one block of data rows (``np.dot``; a
    block of up to 1024 queries, so OpenBLAS's packing of the data tile is spread over many
    queries) and offers the resulting distances to its queries'
    bounded max-heaps. l2: ``q_sq[q] - 2 <q, x> + x_sq[x]``; ip/cosine: ``1 - <q, x>``.
    Data rows arrive in increasing id order, so the strict ``<`` keeps the lower id on ties.
    BLAS must run single-threaded inside (the caller limits its thread pool).
    Returns (D, I) sorted ascending; l2 round-off below 0 is clamped to 0.
    """
    nq = Q.shape[0]
    n = X.shape[0]
    hd = np.full((nq, k), np.inf, dtype=np.float32)
    hi = np.full((nq, k), -1, dtype=np.int64)
    nqb = (nq + qb - 1) // qb
    for b in prange(nqb):
        q0 = b * qb
        q1 = min(nq, q0 + qb)
        Qb = Q[q0:q1]
        for s in range(0, n, bs):
            G = np.dot(Qb, X[s : s + bs].T)
            for q in range(q1 - q0):
                hdq = hd[q0 + q]
                hiq = hi[q0 + q]
                ar = q_sq[q0 + q]
                for j in range(G.shape[1]):
                    if metric_ip:
                        d = np.float32(1.0) - G[q, j]
                    else:
                        d = np.float32(-2.0) * G[q, j] + x_sq[s + j] + ar
                    if d < hdq[0]:
                        _heap_replace_top(hdq, hiq, d, s + j)
        for q in range(q0, q1):
            _heap_sort(hd[q], hi[q])
            if not metric_ip:
                for j in range(k):
                    if hd[q, j] < 0:
                        hd[q, j] = 0
    return hd, hi


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def topk_direct(Q, X, k, metric_ip, nchunks, rows, use_rows):
    """Fused exact top-k without BLAS, for small query batches. Returns (D, I) sorted.

    The data rows are split into ``nchunks`` ranges scanned in parallel, each with its own
    heaps, which are merged at the end (a few queries still use every core). With
    ``use_rows`` only the rows ``X[rows]`` are searched, read in place (no copy of them),
    and I holds positions in ``rows``.
    """
    nq = Q.shape[0]
    n = rows.shape[0] if use_rows else X.shape[0]
    step = (n + nchunks - 1) // nchunks
    hd = np.full((nchunks, nq, k), np.inf, dtype=np.float32)
    hi = np.full((nchunks, nq, k), -1, dtype=np.int64)
    for c in prange(nchunks):
        lo = c * step
        hi_end = min(n, lo + step)
        for q in range(nq):
            hdq = hd[c, q]
            hiq = hi[c, q]
            if use_rows:  # two loops: a choice of row inside one cost 1-6% unfiltered
                for j in range(lo, hi_end):
                    d = ip_dist(Q[q], X[rows[j]]) if metric_ip else l2_sq(Q[q], X[rows[j]])
                    if d < hdq[0]:
                        _heap_replace_top(hdq, hiq, d, j)
            else:
                for j in range(lo, hi_end):
                    d = ip_dist(Q[q], X[j]) if metric_ip else l2_sq(Q[q], X[j])
                    if d < hdq[0]:
                        _heap_replace_top(hdq, hiq, d, j)
    D = hd[0].copy()
    I = hi[0].copy()
    for q in range(nq):
        for c in range(1, nchunks):
            for j in range(k):
                d = hd[c, q, j]
                i = hi[c, q, j]
                if d < D[q, 0] or (d == D[q, 0] and i < I[q, 0]):
                    _heap_replace_top(D[q], I[q], d, i)
        _heap_sort(D[q], I[q])
    return D, I


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def pairwise_direct(Q, X, metric_ip):
    """Dense (nq, n) distance matrix with a fused loop (l2 squared or 1 - ip)."""
    nq = Q.shape[0]
    n = X.shape[0]
    out = np.empty((nq, n), dtype=np.float32)
    for q in prange(nq):
        for j in range(n):
            if metric_ip:
                out[q, j] = ip_dist(Q[q], X[j])
            else:
                out[q, j] = l2_sq(Q[q], X[j])
    return out


@njit(cache=True, nogil=True, parallel=True)
def row_sq_norms(X):
    out = np.empty(X.shape[0], dtype=np.float32)
    for i in prange(X.shape[0]):
        out[i] = dot(X[i], X[i])
    return out


@njit(cache=True, nogil=True)
def _abs_bits_max_serial(u):
    m = np.int32(0)
    for i in range(u.shape[0]):
        v = u[i] & np.int32(0x7FFFFFFF)
        if v > m:
            m = v
    return m


@njit(cache=True, nogil=True)
def _abs_max_serial(A):
    """max |a| of a C-contiguous float32 array (any shape) as a float: the int32 view, the
    scan and the bits' cast in one call."""
    out = np.empty(1, dtype=np.int32)
    out[0] = _abs_bits_max_serial(A.reshape(A.size).view(np.int32))
    return out.view(np.float32)[0]


@njit(cache=True, nogil=True, parallel=True)
def abs_bits_max(u, nchunks):
    """Largest ``bits & 0x7FFFFFFF`` over the int32 view ``u`` of float32 values, in one pass.

    With the sign bit cleared, the bits of finite floats order as their magnitudes, and
    infinity (0x7F800000) and NaN (above it) come after every finite value: the result is
    the largest magnitude's bits, and at least 0x7F800000 if any value is not finite.
    An integer max vectorises without fastmath (which would let LLVM assume no NaN); the
    serial loop over a slice is what vectorises (indexing from ``c * step`` in the parallel
    loop kept it scalar, 6x slower).
    """
    n = u.shape[0]
    step = (n + nchunks - 1) // nchunks
    out = np.zeros(nchunks, dtype=np.int32)
    for c in prange(nchunks):
        out[c] = _abs_bits_max_serial(u[c * step : min(n, (c + 1) * step)])
    return out.max()


def abs_max(A: np.ndarray) -> float:
    """max |a| over a C-contiguous float32 array in one pass; inf or NaN if any value is
    not finite (NaN wins over infinity). 0.0 for an empty array."""
    if A.size == 0:
        return 0.0
    # 256 KiB a thread at least; small arrays (queries) skip the thread-count lookup too
    nchunks = 1 if A.size < 1 << 17 else min(numba.get_num_threads(), A.size >> 16)
    if nchunks == 1:
        return float(_abs_max_serial(A))
    m = abs_bits_max(A.reshape(-1).view(np.int32), nchunks)
    return float(np.int32(m).view(np.float32))


# --------------------------------------------------------------------------- drivers
_DIRECT_MAX_QUERIES = 12  # up to this many queries the fused loop beats BLAS tiles
_TILE_ROWS = 2048  # data rows per BLAS tile
# Queries per BLAS block, at most: OpenBLAS packs a data tile once per call, so a larger block
# spreads that over more queries (1000 mnist queries: 256 took 5-8% longer than 1024).
_MAX_QUERY_BLOCK = 1024


@functools.lru_cache(maxsize=1)
def _blas_pools():
    """Thread pools of every BLAS loaded (numpy's and the scipy one Numba's np.dot calls)."""
    import scipy.linalg.cython_blas  # noqa: F401 - load it so the controller sees it
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


def _metric_is_ip(metric: str) -> bool:
    return metric in ("ip", "cosine")


_NO_ROWS = np.empty(0, dtype=np.int64)


@register("knn", "cpu")
def knn_cpu(Q: np.ndarray, X: np.ndarray, k: int, metric: str, x_sq_norms=None, rows=None):
    """Exact k nearest rows of X for each row of Q. Q, X: float32 C-contiguous, already
    normalised for cosine. Returns (D (nq,k) float32, I (nq,k) int64), -1/inf padded.

    ``rows`` (int64, optional): search only ``X[rows]``; I then holds positions in ``rows``.
    Small batches read those rows in place; larger ones copy them once for BLAS.
    """
    nq = Q.shape[0]
    n = X.shape[0] if rows is None else rows.shape[0]
    kk = min(k, n)
    if kk == 0 or nq == 0:
        D = np.full((nq, k), np.inf, dtype=np.float32)
        return D, np.full((nq, k), -1, dtype=np.int64)
    ip = _metric_is_ip(metric)
    threads = numba.get_num_threads()
    if nq <= _DIRECT_MAX_QUERIES:
        nchunks = 1 if threads == 1 else max(1, min(threads * 4, n // 1024))
        use_rows = rows is not None
        D, I = topk_direct(Q, X, kk, ip, nchunks, rows if use_rows else _NO_ROWS, use_rows)
    else:
        if rows is not None:
            X = X[rows]
            x_sq_norms = None if x_sq_norms is None else x_sq_norms[rows]
        x_sq = row_sq_norms(X) if x_sq_norms is None else x_sq_norms
        q_sq = row_sq_norms(Q)
        qb = max(8, min(_MAX_QUERY_BLOCK, -(-nq // threads)))
        with _blas_pools().limit(limits=1):
            D, I = topk_blas(Q, X, q_sq, x_sq, kk, ip, qb, _TILE_ROWS)
    if kk < k:
        D = np.concatenate([D, np.full((nq, k - kk), np.inf, dtype=np.float32)], axis=1)
        I = np.concatenate([I, np.full((nq, k - kk), -1, dtype=np.int64)], axis=1)
    return D, I


@register("pairwise", "cpu")
def pairwise_cpu(Q: np.ndarray, X: np.ndarray, metric: str):
    """Dense (nq, n) float32 distances; BLAS for large inputs, fused loop for small ones."""
    ip = _metric_is_ip(metric)
    if Q.shape[0] <= _DIRECT_MAX_QUERIES:
        return pairwise_direct(Q, X, ip)
    G = Q @ X.T
    if ip:
        return (np.float32(1.0) - G).astype(np.float32, copy=False)
    D = row_sq_norms(Q)[:, None] - np.float32(2.0) * G + row_sq_norms(X)[None, :]
    np.maximum(D, 0, out=D)
    return D
