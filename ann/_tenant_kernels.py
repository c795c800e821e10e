"""Numba kernels of :mod:`ann.tenants`: tree routing, Bloom filters, and the
best-first search over a tenant's sub-tree. Plain functions over arrays; no validation.

The tree: node ``c`` has children ``child_start[c] .. child_start[c] + child_count[c] - 1``
(consecutive), a centroid row, and a Bloom filter of ``bloom_nw[c]`` int64 words (a power
of two) at ``bloom_off[c]`` in one flat array. A tenant is hashed to two int64 keys
``h1, h2``; bit ``i`` of ``nh`` is ``(h1 + i * h2) mod nbits`` (double hashing).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from native.kernels.distance import _heap_replace_top, _heap_sort, dot, l2_sq
from native.kernels.hnsw import _heap_pop as _pq_pop  # binary min-heap on (distance, node)
from native.kernels.hnsw import _heap_push as _pq_push


@njit(cache=True, nogil=True, inline="always")
def _dist(a, b, metric_ip):
    if metric_ip:
        return np.float32(1.0) - dot(a, b)
    return l2_sq(a, b)


@njit(cache=True, nogil=True, parallel=True)
def route(X, C, child_start, child_count, metric_ip):
    """Leaf reached by each row of X descending greedily to the nearest child centroid."""
    out = np.empty(X.shape[0], dtype=np.int64)
    for i in prange(X.shape[0]):
        node = 0
        while child_count[node] > 0:
            s = child_start[node]
            best = np.inf
            bj = s
            for c in range(s, s + child_count[node]):
                d = _dist(X[i], C[c], metric_ip)
                if d < best:
                    best = d
                    bj = c
            node = bj
        out[i] = node
    return out


@njit(cache=True, nogil=True, inline="always")
def bloom_has(words, off, nw, h1, h2, nh):
    mask = nw * 64 - 1
    for i in range(nh):
        b = (h1 + i * h2) & mask
        if (words[off + (b >> 6)] >> (b & 63)) & 1 == 0:
            return False
    return True


@njit(cache=True, nogil=True)
def bloom_set(words, off, nw, h1, h2, nh):
    mask = nw * 64 - 1
    for i in range(nh):
        b = (h1 + i * h2) & mask
        words[off + (b >> 6)] |= np.int64(1) << (b & 63)


@njit(cache=True, nogil=True)
def bloom_fill(words, off, nw, pair_node, pair_h1, pair_h2, nh):
    """Set the bits of tenant (pair_h1[j], pair_h2[j]) in node pair_node[j]'s filter, all j."""
    for j in range(pair_node.shape[0]):
        c = pair_node[j]
        bloom_set(words, off[c], nw[c], pair_h1[j], pair_h2[j], nh)


@njit(cache=True, nogil=True, inline="always")
def lower_bound(vals, s, e, v):
    """First position in the sorted vals[s:e] whose value is >= v (e if none)."""
    while s < e:
        m = (s + e) >> 1
        if vals[m] < v:
            s = m + 1
        else:
            e = m
    return s


@njit(cache=True, nogil=True, inline="always")
def find_sorted(vals, s, e, v):
    """Position of v in the sorted vals[s:e] (binary search), or -1."""
    j = lower_bound(vals, s, e, v)
    if j < e and vals[j] == v:
        return j
    return -1


@njit(cache=True, nogil=True, parallel=True)
def tenant_search(Q, X, C, child_start, child_count, words, off, nw, h1, h2, nh,
                  sl_nodes, sl_ptr, sl_rows, row_ok, k, budget, metric_ip):
    """Best-first search of one tenant's sub-tree for each query (Curator).

    A min-heap of tree nodes keyed by the query's distance to their centroid starts at the
    root. Popping node c: if the tenant keeps a shortlist at c (``sl_nodes``, sorted, with
    rows ``sl_rows[sl_ptr[j]:sl_ptr[j+1]]``), its vectors are scanned into the top-k heap;
    otherwise the children whose Bloom filter holds the tenant are pushed. The search
    stops once ``max(budget, k)`` vectors were scanned or the heap is empty.

    Returns (D, R): (nq, k) distances ascending and rows of X (-1 / inf padded).
    """
    nq = Q.shape[0]
    nnodes = child_count.shape[0]
    D = np.full((nq, k), np.inf, dtype=np.float32)
    R = np.full((nq, k), -1, dtype=np.int64)
    stop = max(budget, k)
    for q in prange(nq):
        pd = np.empty(nnodes, dtype=np.float32)
        pn = np.empty(nnodes, dtype=np.int64)
        size = _pq_push(pd, pn, 0, np.float32(0.0), 0)
        dq = D[q]
        rq = R[q]
        scanned = 0
        while size > 0:
            node = pn[0]
            size = _pq_pop(pd, pn, size)
            j = find_sorted(sl_nodes, 0, sl_nodes.shape[0], node)
            if j >= 0:
                for t in range(sl_ptr[j], sl_ptr[j + 1]):
                    r = sl_rows[t]
                    if not row_ok[r]:
                        continue
                    d = _dist(Q[q], X[r], metric_ip)
                    if d < dq[0] or (d == dq[0] and r < rq[0]):
                        _heap_replace_top(dq, rq, d, r)
                scanned += sl_ptr[j + 1] - sl_ptr[j]
                if scanned >= stop:
                    break
            else:
                s = child_start[node]
                for c in range(s, s + child_count[node]):
                    if bloom_has(words, off[c], nw[c], h1, h2, nh):
                        size = _pq_push(pd, pn, size, _dist(Q[q], C[c], metric_ip), c)
        _heap_sort(dq, rq)
    return D, R
