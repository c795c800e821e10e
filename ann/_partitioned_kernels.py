"""Numba kernels of the partitioned (SPANN-style) index.

Posting storage is one byte buffer (in RAM or a memory-mapped file) seen as float32 ``fv``
and int64 ``iv``. List ``l`` owns the extent starting at byte ``off[l]`` (4096-aligned):
``cap[l]`` vectors of ``dim`` float32 (contiguous), then ``cap[l]`` int64 node numbers;
``ln[l]`` of them are in use. Plain functions over arrays; the class validates.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from native.kernels.distance import _heap_replace_top, _heap_sort


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def closure_select(cand_I, cand_D, C, eps, replicas, rng_factor, metric_ip):
    """SPANN's posting-list expansion: pick up to ``replicas`` lists for each vector.

    Candidates (nearest centroids, ascending) are kept while their distance is within
    ``d0 + eps * |d0|`` of the closest one, skipping a candidate ``c`` when an already chosen
    centroid ``p`` has ``rng_factor * dist(p, c) <= dist(x, c)`` (the RNG rule: ``c`` lies
    behind ``p`` as seen from x, so the replica would be redundant).

    Args:
        cand_I: (n, m) int64 candidate lists (-1 padded); cand_D: (n, m) float32 distances.
        C: (nlist, d) float32 centroids. metric_ip: distance between centroids is 1 - ip.

    Returns:
        (n, replicas) int64 chosen lists, nearest first, -1 padded.
    """
    n, m = cand_I.shape
    d = C.shape[1]
    out = np.full((n, replicas), -1, np.int64)
    for i in prange(n):
        d0 = cand_D[i, 0]
        thr = d0 + eps * abs(d0)
        cnt = 0
        for j in range(m):
            c = cand_I[i, j]
            if c < 0:
                break
            dj = cand_D[i, j]
            if cnt > 0 and dj > thr:
                break
            ok = True
            for t in range(cnt):
                p = out[i, t]
                s = np.float32(0.0)
                if metric_ip:
                    for u in range(d):
                        s += C[p, u] * C[c, u]
                    s = np.float32(1.0) - s
                else:
                    for u in range(d):
                        df = C[p, u] - C[c, u]
                        s += df * df
                if rng_factor * s <= dj:
                    ok = False
                    break
            if ok:
                out[i, cnt] = c
                cnt += 1
                if cnt == replicas:
                    break
    return out


@njit(cache=True, nogil=True)
def append_rows(X, nodes, assign, off, cap, ln, fv, iv, dim):
    """Append row i of X (node ``nodes[i]``) to every list in ``assign[i]`` (-1 ends a row).

    The caller has made room: ``ln[l] + additions <= cap[l]``. Updates ``ln`` in place.
    """
    n = X.shape[0]
    for i in range(n):
        for r in range(assign.shape[1]):
            l = assign[i, r]
            if l < 0:
                break
            j = ln[l]
            vb = off[l] // 4 + j * dim
            for t in range(dim):
                fv[vb + t] = X[i, t]
            iv[(off[l] + cap[l] * dim * 4) // 8 + j] = nodes[i]
            ln[l] = j + 1


@njit(cache=True, nogil=True, fastmath=True)
def _scan_list(q, vb, ib, count, fv, iv, dim, ok, use_ok, hd, hi, metric_ip):
    for j in range(count):
        node = iv[ib + j]
        if use_ok and not ok[node]:
            continue
        # a slice, not fv[base + t]: with a possibly negative index Numba must wrap it, and
        # that check keeps LLVM from vectorising the loop (5-7x slower)
        x = fv[vb + j * dim: vb + (j + 1) * dim]
        s = np.float32(0.0)
        if metric_ip:
            for t in range(dim):
                s += q[t] * x[t]
            s = np.float32(1.0) - s
        else:
            for t in range(dim):
                df = q[t] - x[t]
                s += df * df
        if s < hd[0] or (s == hd[0] and node < hi[0]):
            dup = False
            for t in range(hd.shape[0]):
                if hi[t] == node:
                    dup = True
                    break
            if not dup:
                _heap_replace_top(hd, hi, s, node)


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def search_lists(Q, probes, k, fv, iv, off, cap, ln, hot_fv, hot_iv, hot_off, dim, ok, use_ok,
                 metric_ip):
    """Top-k over the probed posting lists of each query, duplicates (replicas) removed.

    Args:
        Q: (nq, dim) float32. probes: (nq, p) int64 lists to scan, -1 padded.
        fv / iv: the posting buffer as float32 / int64; off, cap, ln: (nlist,) int64.
        hot_fv / hot_iv / hot_off: an in-RAM copy of some lists (``hot_off[l] >= 0``), same
            extent layout; read instead of the main buffer.
        ok: (nodes,) bool, the nodes that may be returned (alive, and allowed by a filter),
            read only if ``use_ok`` (nothing removed and no filter: every node is).

    Returns:
        D (nq, k) float32 ascending, N (nq, k) int64 node numbers (-1 padded).
    """
    nq = Q.shape[0]
    D = np.full((nq, k), np.inf, np.float32)
    N = np.full((nq, k), -1, np.int64)
    for q in prange(nq):
        hd = D[q]
        hi = N[q]
        for p in range(probes.shape[1]):
            l = probes[q, p]
            if l < 0:
                continue
            if hot_off[l] >= 0:
                o = hot_off[l]
                _scan_list(Q[q], o // 4, (o + cap[l] * dim * 4) // 8, ln[l], hot_fv, hot_iv, dim,
                           ok, use_ok, hd, hi, metric_ip)
            else:
                o = off[l]
                _scan_list(Q[q], o // 4, (o + cap[l] * dim * 4) // 8, ln[l], fv, iv, dim,
                           ok, use_ok, hd, hi, metric_ip)
        _heap_sort(hd, hi)
        if not metric_ip:
            for j in range(k):
                if hd[j] < 0:
                    hd[j] = 0
    return D, N


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def scan_pairs(Q, starts, pq, pl, fv, iv, off, cap, ln, dim, ok, use_ok, hd, hi, metric_ip):
    """Scan (query, list) pairs into the queries' running top-k heaps, in place.

    The pairs ``pq[t], pl[t]`` are grouped by query: group g is ``starts[g]:starts[g+1]``;
    groups run in parallel and each writes only its own query's heap ``hd[q], hi[q]`` (unsorted
    max-heaps, inf / -1 when empty; replicas skipped). Lists are read at ``off`` in fv / iv.
    Used list-major: a batch reads each probed list once, a chunk of lists at a time, and
    every query scans its lists of the chunk (finish with :func:`finish_heaps`).
    """
    for g in prange(starts.shape[0] - 1):
        q = pq[starts[g]]
        for t in range(starts[g], starts[g + 1]):
            l = pl[t]
            o = off[l]
            _scan_list(Q[q], o // 4, (o + cap[l] * dim * 4) // 8, ln[l], fv, iv, dim,
                       ok, use_ok, hd[q], hi[q], metric_ip)


@njit(cache=True, nogil=True, parallel=True)
def finish_heaps(hd, hi, clamp):
    """Sort each row's heap ascending; l2 round-off below 0 clamped to 0."""
    for q in prange(hd.shape[0]):
        _heap_sort(hd[q], hi[q])
        if clamp:
            for j in range(hd.shape[1]):
                if hd[q, j] < 0:
                    hd[q, j] = 0


# the same search on one thread, for chunks of a few queries (starting threads costs more)
search_lists_serial = njit(cache=True, nogil=True, fastmath=True)(search_lists.py_func)


@njit(cache=True, nogil=True)
def dedup_topk(D, N, k):
    """First k distinct nodes of each row of (D, N) (rows sorted ascending). -1/inf padded."""
    nq = D.shape[0]
    OD = np.full((nq, k), np.inf, np.float32)
    ON = np.full((nq, k), -1, np.int64)
    for q in range(nq):
        c = 0
        for j in range(D.shape[1]):
            node = N[q, j]
            if node < 0 or c == k:
                break
            dup = False
            for t in range(c):
                if ON[q, t] == node:
                    dup = True
                    break
            if not dup:
                OD[q, c] = D[q, j]
                ON[q, c] = node
                c += 1
    return OD, ON
