"""CPU kernels of the temporal adjacency (Numba): build, most-recent-k and uniform sampling.

The adjacency is a CSR over nodes whose lists hold, for every event touching the node, the
other endpoint (``nbr``), the event time (``nbr_t``) and the event's index in the
time-sorted stream (``nbr_eid``). Events arrive sorted by time (ties in stream order), and
the counting sort that buckets them by node is stable, so every list is sorted by
``(time, event index)``. A query ``(node, time)`` binary-searches the node's list for the
end of the events before ``time``; "newest first" is the reverse of that prefix.

Kernels take plain, already validated arrays and never check them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from native.device import as_numpy, register

_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # splitmix64's increment (2^64 / golden ratio)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2^-53


@njit(cache=True, nogil=True)
def build_adjacency(src, dst, t, num_nodes, directed):
    """Per-node time-sorted adjacency by a stable counting sort, O(E + N).

    Args:
        src, dst: (E,) int64 endpoints of events sorted by time; t: (E,) their times.
        num_nodes: N, larger than every id. directed: out-neighbours only if True; else an
            event u->v enters u's list (as v) and v's list (as u), a self-loop only once.

    Returns:
        indptr (N+1,) int64, nbr (M,) int64, nbr_t (M,) t.dtype, nbr_eid (M,) int64.
    """
    E = src.shape[0]
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    for e in range(E):
        indptr[src[e] + 1] += 1
        if not directed and dst[e] != src[e]:
            indptr[dst[e] + 1] += 1
    for u in range(num_nodes):
        indptr[u + 1] += indptr[u]
    M = indptr[num_nodes]
    nbr = np.empty(M, dtype=np.int64)
    nbr_t = np.empty(M, dtype=t.dtype)
    nbr_eid = np.empty(M, dtype=np.int64)
    fill = indptr[:num_nodes].copy()
    for e in range(E):
        u = src[e]
        v = dst[e]
        p = fill[u]
        nbr[p] = v
        nbr_t[p] = t[e]
        nbr_eid[p] = e
        fill[u] = p + 1
        if not directed and v != u:
            p = fill[v]
            nbr[p] = u
            nbr_t[p] = t[e]
            nbr_eid[p] = e
            fill[v] = p + 1
    return indptr, nbr, nbr_t, nbr_eid


@njit(cache=True, nogil=True, inline="always")
def _end_before(nbr_t, lo, hi, time, strict):
    """First position in [lo, hi) whose time is >= ``time`` (strict) or > ``time``."""
    while lo < hi:
        mid = (lo + hi) >> 1
        v = nbr_t[mid]
        if v < time or (not strict and v == time):
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True, parallel=True)
def most_recent(indptr, nbr, nbr_t, nbr_eid, nodes, times, k, strict):
    """The k newest events of each query node before its query time, newest first.

    Args:
        indptr, nbr, nbr_t, nbr_eid: the adjacency of :func:`build_adjacency`.
        nodes: (B,) int64; times: (B,) query times; k: columns; strict: ``<`` or ``<=``.

    Returns:
        (B, k) neighbours int64, times (nbr_t.dtype), event indices int64; padded with -1,
        0 and -1 after the last event found.
    """
    B = nodes.shape[0]
    out_n = np.full((B, k), -1, dtype=np.int64)
    out_t = np.zeros((B, k), dtype=nbr_t.dtype)
    out_e = np.full((B, k), -1, dtype=np.int64)
    for i in prange(B):
        u = nodes[i]
        lo = indptr[u]
        end = _end_before(nbr_t, lo, indptr[u + 1], times[i], strict)
        for j in range(min(k, end - lo)):
            p = end - 1 - j
            out_n[i, j] = nbr[p]
            out_t[i, j] = nbr_t[p]
            out_e[i, j] = nbr_eid[p]
    return out_n, out_t, out_e


@njit(cache=True, nogil=True, inline="always")
def _mix(z):
    """splitmix64's finaliser: a bijective 64-bit mix (uint64 in, uint64 out)."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True, parallel=True)
def sample_before(indptr, nbr, nbr_t, nbr_eid, nodes, times, k, strict, seed):
    """k events drawn uniformly with replacement among each query's events before its time.

    Draw j of query i is a splitmix64 output keyed by ``(seed, i, j)``, so the result
    depends on the seed and the query's position only, never on the thread count.

    Args:
        as :func:`most_recent`, plus seed: uint64.

    Returns:
        (B, k) neighbours, times, event indices, each row sorted newest first; a query with
        no event before its time gets a row of -1 / 0 / -1.
    """
    B = nodes.shape[0]
    out_n = np.full((B, k), -1, dtype=np.int64)
    out_t = np.zeros((B, k), dtype=nbr_t.dtype)
    out_e = np.full((B, k), -1, dtype=np.int64)
    for i in prange(B):
        u = nodes[i]
        lo = indptr[u]
        end = _end_before(nbr_t, lo, indptr[u + 1], times[i], strict)
        cnt = end - lo
        if cnt == 0:
            continue
        base = _mix(seed ^ _mix((np.uint64(i) + np.uint64(1)) * _GAMMA))
        pos = np.empty(k, dtype=np.int64)
        for j in range(k):
            h = _mix(base + (np.uint64(j) + np.uint64(1)) * _GAMMA)
            r = np.int64(np.float64(h >> np.uint64(11)) * _TO_UNIT * cnt)
            pos[j] = lo + min(r, cnt - 1)
        pos.sort()
        for j in range(k):
            p = pos[k - 1 - j]
            out_n[i, j] = nbr[p]
            out_t[i, j] = nbr_t[p]
            out_e[i, j] = nbr_eid[p]
    return out_n, out_t, out_e


# --------------------------------------------------------------------------- registered drivers
def _queries(nodes, times, time_dtype):
    """Fresh contiguous int64 nodes and times in the kernel's comparison type: the graph's
    own int64 when both are integers, else float64."""
    nodes = np.array(as_numpy(nodes), dtype=np.int64)
    times = as_numpy(times)
    exact = time_dtype.kind == "i" and times.dtype.kind in "iu"
    return nodes, np.array(times, dtype=np.int64 if exact else np.float64)


@register("temporal.index", "cpu")
def index_cpu(src, dst, t, num_nodes, directed):
    """(indptr, nbr, nbr_t, nbr_eid) numpy arrays of the events (src, dst, t) (sorted by t)."""
    return build_adjacency(src, dst, t, num_nodes, directed)


@register("temporal.most_recent", "cpu")
def most_recent_cpu(index, nodes, times, k, strict):
    """:func:`most_recent` on numpy queries; ``index`` from :func:`index_cpu`."""
    indptr, nbr, nbr_t, nbr_eid = index
    nodes, times = _queries(nodes, times, nbr_t.dtype)
    return most_recent(indptr, nbr, nbr_t, nbr_eid, nodes, times, k, strict)


@register("temporal.sample", "cpu")
def sample_cpu(index, nodes, times, k, seed, strict):
    """:func:`sample_before` on numpy queries; ``seed`` an int in [0, 2^64)."""
    indptr, nbr, nbr_t, nbr_eid = index
    nodes, times = _queries(nodes, times, nbr_t.dtype)
    return sample_before(indptr, nbr, nbr_t, nbr_eid, nodes, times, k, strict, np.uint64(seed))
