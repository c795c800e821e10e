"""Numba kernels of :mod:`ann.hybrid`: predicate tests and the batched partition scan.

Plain functions over arrays; they never validate (the class does). Attribute values are
int64 codes (ints as they are, categories as dictionary codes, dates as days since
1970-01-01); a compiled predicate is, per query and attribute, an inclusive range
``[lo, hi]`` and an optional sorted set of allowed codes (``IN``), stored CSR-style.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ann._tenant_kernels import find_sorted, lower_bound
from native.kernels.distance import _heap_replace_top, _heap_sort


@njit(cache=True, nogil=True)
def row_matches(attrs, r, q, lo, hi, in_ptr, in_vals):
    """Does row r (a column of ``attrs`` (A, n)) satisfy query q's conjunction?"""
    na = attrs.shape[0]
    for a in range(na):
        v = attrs[a, r]
        if v < lo[q, a] or v > hi[q, a]:
            return False
        s = in_ptr[q * na + a]
        e = in_ptr[q * na + a + 1]
        if e > s and find_sorted(in_vals, s, e, v) < 0:
            return False
    return True


@njit(cache=True, nogil=True)
def in_sets_hit(part, pq, box_lo, box_hi, in_ptr, in_vals, na):
    """(npairs,) bool: does each (partition, query) pair survive the query's IN sets?

    The routing box of an IN set is [min, max] of its values; a partition whose attribute
    range lies between two of the values (``label in (3, 7)`` against a partition of label
    4..6) is read for nothing. A pair survives when, for every attribute with an IN set,
    some value of the set falls inside the partition's [box_lo, box_hi].
    """
    out = np.ones(pq.shape[0], dtype=np.bool_)
    for i in range(pq.shape[0]):
        q = pq[i]
        p = part[i]
        for a in range(na):
            s = in_ptr[q * na + a]
            e = in_ptr[q * na + a + 1]
            if e > s:
                j = lower_bound(in_vals, s, e, box_lo[p, a])
                if j == e or in_vals[j] > box_hi[p, a]:
                    out[i] = False
                    break
    return out


@njit(cache=True, nogil=True)
def tighten_box(qs, qmin, qmax, a, c, right, in_ptr, in_vals, na):
    """Restrict the routing boxes of queries ``qs`` (rows of the local ``qmin``/``qmax``)
    to one side of the cut ``attribute a < c``, in place; with an IN set on ``a`` the new
    bound snaps to the nearest admitted value on that side (so the box stays exact)."""
    for i in range(qs.shape[0]):
        q = qs[i]
        s = in_ptr[q * na + a]
        e = in_ptr[q * na + a + 1]
        if right:
            lo = max(qmin[i, a], c)
            if e > s:
                j = lower_bound(in_vals, s, e, lo)
                lo = in_vals[j] if j < e else qmax[i, a] + 1
            qmin[i, a] = lo
        else:
            hi = min(qmax[i, a], c - 1)
            if e > s:
                j = lower_bound(in_vals, s, e, hi + 1) - 1
                hi = in_vals[j] if j >= s else qmin[i, a] - 1
            qmax[i, a] = hi


@njit(cache=True, nogil=True, parallel=True)
def match_matrix(attrs, lo, hi, in_ptr, in_vals):
    """(nq, n) bool: which rows satisfy which query (the brute-force reference filter)."""
    nq = lo.shape[0]
    n = attrs.shape[1]
    out = np.zeros((nq, n), dtype=np.bool_)
    for q in prange(nq):
        for r in range(n):
            out[q, r] = row_matches(attrs, r, q, lo, hi, in_ptr, in_vals)
    return out


@njit(cache=True, nogil=True, parallel=True)
def scan_partitions(Q, q_sq, X, x_sq, attrs, part_start, part_end, items, pair_q, pair_covered,
                    lo, hi, in_ptr, in_vals, k, metric_ip, bs):
    """Exact filtered top-k of query groups over partitions, one BLAS product per tile.

    Work item i = (partition p, pairs s..e): the queries ``pair_q[s:e]`` all touch p. Each
    item gathers its queries into one block, multiplies it with tiles of ``bs`` rows of p
    (``np.dot``), and offers each distance to the query's bounded max-heap of that pair,
    testing the predicate only for candidates that would enter the heap and only where the
    partition is not wholly inside the query's ranges (``pair_covered``). Items run in
    parallel: each writes only its own pairs' heaps. BLAS must be single-threaded here.

    Returns (D, R) of shape (npairs, k): per (partition, query) pair the best distances
    ascending and their row numbers in X (-1 / inf padded).
    """
    npairs = pair_q.shape[0]
    hd = np.full((npairs, k), np.inf, dtype=np.float32)
    hr = np.full((npairs, k), -1, dtype=np.int64)
    for it in prange(items.shape[0]):
        p = items[it, 0]
        s = items[it, 1]
        e = items[it, 2]
        r0 = part_start[p]
        r1 = part_end[p]
        Qb = np.empty((e - s, Q.shape[1]), dtype=np.float32)
        for j in range(e - s):
            Qb[j] = Q[pair_q[s + j]]
        for t in range(r0, r1, bs):
            t1 = min(r1, t + bs)
            G = np.dot(Qb, X[t:t1].T)
            for j in range(e - s):
                q = pair_q[s + j]
                hdq = hd[s + j]
                hrq = hr[s + j]
                cov = pair_covered[s + j]
                for c in range(t1 - t):
                    if metric_ip:
                        d = np.float32(1.0) - G[j, c]
                    else:
                        d = np.float32(-2.0) * G[j, c] + x_sq[t + c] + q_sq[q]
                    if d < hdq[0]:
                        if cov or row_matches(attrs, t + c, q, lo, hi, in_ptr, in_vals):
                            _heap_replace_top(hdq, hrq, d, t + c)
    return hd, hr


@njit(cache=True, nogil=True, parallel=True)
def merge_pairs(hd, hr, q_ptr, order, nq, k, clamp):
    """Merge the per-pair heaps of each query: query q owns pairs ``order[q_ptr[q]:q_ptr[q+1]]``.

    Returns (D, R) (nq, k) ascending, ties by lower row; l2 round-off below 0 clamped."""
    D = np.full((nq, k), np.inf, dtype=np.float32)
    R = np.full((nq, k), -1, dtype=np.int64)
    for q in prange(nq):
        dq = D[q]
        rq = R[q]
        for t in range(q_ptr[q], q_ptr[q + 1]):
            pr = order[t]
            for j in range(k):
                d = hd[pr, j]
                r = hr[pr, j]
                if r < 0:  # the pair heaps are unsorted: padding may sit anywhere
                    continue
                if d < dq[0] or (d == dq[0] and r < rq[0]):
                    _heap_replace_top(dq, rq, d, r)
        _heap_sort(dq, rq)
        if clamp:
            for j in range(k):
                if dq[j] < 0:
                    dq[j] = 0
    return D, R
