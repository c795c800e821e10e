"""CPU kernels for HNSW (Malkov & Yashunin, TPAMI 2018): insertion, layer search, the
neighbour-selection heuristic, and batched k-NN search (Numba).

Graph layout (all plain arrays, owned by ``ann.hnsw.HNSWIndex``):

- ``X``      (cap, dim) float32 vectors by node (normalised for cosine);
- ``levels`` (cap,) int32 top layer of each node;
- ``L0``     (cap, M0) int32 layer-0 links, ``c0`` (cap,) int32 their counts;
- ``U``      (rows, M) int32 upper-layer links, ``cu`` (rows,) int32 their counts; node ``i``
  owns rows ``offs[i] .. offs[i] + levels[i] - 1`` (layer ``l >= 1`` is row ``offs[i] + l - 1``);
- ``deleted`` (cap,) bool: traversed, never returned;
- ``ep`` int64 (2,): entry point and top layer (``-1, -1`` while empty).

``metric``: 0 = squared L2, 1 = ``1 - <q, x>`` (inner product and cosine). Kernels never
validate their inputs.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from native.kernels.distance import ip_dist, l2_sq


@njit(cache=True, nogil=True, inline="always")
def _dist(a, b, metric):
    if metric == 0:
        return l2_sq(a, b)
    return ip_dist(a, b)


# --------------------------------------------------------------------------- binary heaps
# A heap is (keys float32, vals int32, size held by the caller); it is a min-heap on keys.
# The result set is a max-heap by distance, stored as a min-heap on -distance.
@njit(cache=True, nogil=True, inline="always")
def _heap_push(hk, hv, size, k, v):
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if hk[parent] <= k:
            break
        hk[pos] = hk[parent]
        hv[pos] = hv[parent]
        pos = parent
    hk[pos] = k
    hv[pos] = v
    return size + 1


@njit(cache=True, nogil=True, inline="always")
def _heap_pop(hk, hv, size):
    """Remove the root; returns the new size (the root must be read before)."""
    size -= 1
    if size == 0:
        return 0
    k = hk[size]
    v = hv[size]
    pos = 0
    while True:
        c = 2 * pos + 1
        if c >= size:
            break
        if c + 1 < size and hk[c + 1] < hk[c]:
            c += 1
        if hk[c] < k:
            hk[pos] = hk[c]
            hv[pos] = hv[c]
            pos = c
        else:
            break
    hk[pos] = k
    hv[pos] = v
    return size


# --------------------------------------------------------------------------- visited tags
@njit(cache=True, nogil=True)
def _next_tag(vis, tag):
    """Tag for a new search over ``vis`` (uint32); clears the array when the tag wraps."""
    tag += np.uint32(1)
    if tag == np.uint32(0):
        vis[:] = 0
        tag = np.uint32(1)
    return tag


# --------------------------------------------------------------------------- links
@njit(cache=True, nogil=True, inline="always")
def _links(L0, c0, U, cu, offs, node, layer):
    """(link row, count array, index into the count array) of ``node`` on ``layer``."""
    if layer == 0:
        return L0[node], c0, node
    r = offs[node] + layer - 1
    return U[r], cu, r


# --------------------------------------------------------------------------- SEARCH-LAYER (Alg. 2)
@njit(cache=True, nogil=True)
def _search_layer(q, X, L0, c0, U, cu, offs, eps, n_eps, ef, layer, metric, vis, tag,
                  ck, cv, rk, rv, use_mask, mask):
    """Beam search of ``layer`` from entry nodes ``eps[:n_eps]`` with beam width ``ef``.

    With ``use_mask`` only nodes with ``mask[node]`` true enter the result set (all nodes
    are traversed), as in hnswlib's search with deleted elements / filters. Results are
    left in the max-heap (rk = -distance, rv = node); returns their number.
    ``ck, cv``: candidate min-heap buffers (size >= number of nodes); ``rk, rv``: >= ef + 1.
    """
    nc = 0
    nr = 0
    for e in range(n_eps):
        node = eps[e]
        if vis[node] == tag:
            continue
        vis[node] = tag
        d = _dist(q, X[node], metric)
        nc = _heap_push(ck, cv, nc, d, node)
        if (not use_mask) or mask[node]:
            nr = _heap_push(rk, rv, nr, -d, node)
            if nr > ef:
                nr = _heap_pop(rk, rv, nr)
    while nc > 0:
        d = ck[0]
        c = cv[0]
        bound = -rk[0] if nr >= ef else np.float32(np.inf)
        if d > bound:
            break
        nc = _heap_pop(ck, cv, nc)
        row, cnt, ci = _links(L0, c0, U, cu, offs, c, layer)
        for j in range(cnt[ci]):
            e = row[j]
            if vis[e] == tag:
                continue
            vis[e] = tag
            de = _dist(q, X[e], metric)
            bound = -rk[0] if nr >= ef else np.float32(np.inf)
            if de < bound:
                nc = _heap_push(ck, cv, nc, de, e)
                if (not use_mask) or mask[e]:
                    nr = _heap_push(rk, rv, nr, -de, e)
                    if nr > ef:
                        nr = _heap_pop(rk, rv, nr)
    return nr


@njit(cache=True, nogil=True)
def _drain_sorted(rk, rv, nr, outd, outi):
    """Empty the result max-heap into outd/outi ascending by distance; returns nr."""
    n = nr
    while nr > 0:
        outd[nr - 1] = -rk[0]
        outi[nr - 1] = rv[0]
        nr = _heap_pop(rk, rv, nr)
    return n


@njit(cache=True, nogil=True)
def _greedy(q, X, L0, c0, U, cu, offs, cur, curd, layer, metric):
    """Greedy walk (ef = 1) on ``layer``; returns (node, distance)."""
    changed = True
    while changed:
        changed = False
        row, cnt, ci = _links(L0, c0, U, cu, offs, cur, layer)
        for j in range(cnt[ci]):
            e = row[j]
            d = _dist(q, X[e], metric)
            if d < curd:
                curd = d
                cur = e
                changed = True
    return cur, curd


# --------------------------------------------------------------------------- SELECT-NEIGHBORS-HEURISTIC (Alg. 4)
@njit(cache=True, nogil=True)
def _select_heuristic(X, cd, ci, n, m, metric, outi):
    """Alg. 4 (extendCandidates = keepPrunedConnections = false, as hnswlib).

    ``cd, ci[:n]``: candidates with their distances to the base element, ascending.
    A candidate is kept when it is closer to the base than to every element kept so far.
    Writes at most ``m`` nodes to ``outi``; returns how many.
    """
    if n <= m:
        for j in range(n):
            outi[j] = ci[j]
        return n
    r = 0
    for j in range(n):
        if r >= m:
            break
        e = ci[j]
        good = True
        for t in range(r):
            if _dist(X[e], X[outi[t]], metric) < cd[j]:
                good = False
                break
        if good:
            outi[r] = e
            r += 1
    return r


@njit(cache=True, nogil=True)
def _sort_small(d, i, n):
    """Insertion sort of (d, i)[:n] ascending by d."""
    for a in range(1, n):
        kd = d[a]
        ki = i[a]
        b = a - 1
        while b >= 0 and d[b] > kd:
            d[b + 1] = d[b]
            i[b + 1] = i[b]
            b -= 1
        d[b + 1] = kd
        i[b + 1] = ki


# --------------------------------------------------------------------------- INSERT (Alg. 1)
@njit(cache=True, nogil=True)
def insert_range(X, levels, L0, c0, U, cu, offs, ep, M, M0, efc, metric, n0, n1, vis, tag):
    """Insert nodes ``n0 .. n1-1`` one after another (deterministic). Returns the last tag.

    Each node: greedy descent from the entry point through the layers above its level,
    then on each of its layers a beam search with ``efc``, the heuristic picks ``M`` links,
    and every new neighbour links back, shrinking its list to ``M`` (``M0`` on layer 0)
    with the heuristic when it overflows.
    """
    cap = X.shape[0]
    ck = np.empty(cap + 1, np.float32)
    cv = np.empty(cap + 1, np.int32)
    rk = np.empty(efc + 2, np.float32)
    rv = np.empty(efc + 2, np.int32)
    wd = np.empty(efc + 2, np.float32)
    wi = np.empty(efc + 2, np.int32)
    sel = np.empty(M0 + 1, np.int32)
    sd = np.empty(M0 + 1, np.float32)
    si = np.empty(M0 + 1, np.int32)
    eps = np.empty(efc + 2, np.int32)
    dummy = np.empty(0, np.bool_)
    for node in range(n0, n1):
        lvl = levels[node]
        c0[node] = 0
        for t in range(lvl):
            cu[offs[node] + t] = 0
        if ep[0] < 0:
            ep[0] = node
            ep[1] = lvl
            continue
        q = X[node]
        cur = np.int32(ep[0])
        top = ep[1]
        curd = _dist(q, X[cur], metric)
        for layer in range(top, lvl, -1):
            cur, curd = _greedy(q, X, L0, c0, U, cu, offs, cur, curd, layer, metric)
        eps[0] = cur
        n_eps = 1
        for layer in range(min(lvl, top), -1, -1):
            tag = _next_tag(vis, tag)
            nr = _search_layer(q, X, L0, c0, U, cu, offs, eps, n_eps, efc, layer, metric, vis, tag,
                               ck, cv, rk, rv, False, dummy)
            nw = _drain_sorted(rk, rv, nr, wd, wi)
            mmax = M0 if layer == 0 else M
            ns = _select_heuristic(X, wd, wi, nw, M, metric, sel)
            row, cnt, cidx = _links(L0, c0, U, cu, offs, node, layer)
            for j in range(ns):
                row[j] = sel[j]
            cnt[cidx] = ns
            for j in range(ns):
                e = sel[j]
                erow, ecnt, eci = _links(L0, c0, U, cu, offs, e, layer)
                ne = ecnt[eci]
                if ne < mmax:
                    erow[ne] = node
                    ecnt[eci] = ne + 1
                else:
                    for t in range(ne):
                        si[t] = erow[t]
                        sd[t] = _dist(X[e], X[erow[t]], metric)
                    si[ne] = node
                    sd[ne] = _dist(X[e], q, metric)
                    _sort_small(sd, si, ne + 1)
                    ecnt[eci] = _select_heuristic(X, sd, si, ne + 1, mmax, metric, erow)
            for j in range(nw):
                eps[j] = wi[j]
            n_eps = nw
        if lvl > top:
            ep[0] = node
            ep[1] = lvl
    return tag


# --------------------------------------------------------------------------- K-NN-SEARCH (Alg. 5)
@njit(cache=True, nogil=True, parallel=True)
def search_batch(Q, X, L0, c0, U, cu, offs, ep, n, k, ef, metric, mask, nchunks):
    """k nearest live (``mask``) nodes of each query; parallel over query chunks.

    ``mask`` (n,) bool: nodes that may be returned (live and passing the filter); every
    node is traversed. Returns (D (nq, k) float32 ascending, I (nq, k) int64 nodes),
    padded with inf / -1.
    """
    nq = Q.shape[0]
    D = np.full((nq, k), np.inf, dtype=np.float32)
    I = np.full((nq, k), -1, dtype=np.int64)
    step = (nq + nchunks - 1) // nchunks
    for c in prange(nchunks):
        q0 = c * step
        q1 = min(nq, q0 + step)
        if q0 >= q1:
            continue
        vis = np.zeros(n, np.uint32)
        tag = np.uint32(0)
        ck = np.empty(n + 1, np.float32)
        cv = np.empty(n + 1, np.int32)
        rk = np.empty(ef + 2, np.float32)
        rv = np.empty(ef + 2, np.int32)
        wd = np.empty(ef + 2, np.float32)
        wi = np.empty(ef + 2, np.int32)
        eps = np.empty(1, np.int32)
        for qi in range(q0, q1):
            q = Q[qi]
            cur = np.int32(ep[0])
            curd = _dist(q, X[cur], metric)
            for layer in range(ep[1], 0, -1):
                cur, curd = _greedy(q, X, L0, c0, U, cu, offs, cur, curd, layer, metric)
            eps[0] = cur
            tag = _next_tag(vis, tag)
            nr = _search_layer(q, X, L0, c0, U, cu, offs, eps, 1, ef, 0, metric, vis, tag,
                               ck, cv, rk, rv, True, mask)
            nw = _drain_sorted(rk, rv, nr, wd, wi)
            for j in range(min(k, nw)):
                D[qi, j] = wd[j]
                I[qi, j] = wi[j]
    return D, I
