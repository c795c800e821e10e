"""CPU kernels for link prediction on CSR graphs (Numba): common-neighbour *sets*, weighted
common-neighbour sums (CN / Adamic-Adar / resource allocation) and topological concentration.

Graphs are ``indptr`` (N+1,) int64 and ``indices`` (E,) int32/int64 with every row sorted
ascending and free of duplicates (``CSRGraph.dedup``); the kernels rely on both and never
check them. Batches of node pairs are two (B,) int64 arrays ``u``, ``v``.

A *set batch* is returned as CSR too: ``ptr`` (B+1,) int64 and ``nodes`` (ptr[B],) int64,
the members of pair b being ``nodes[ptr[b]:ptr[b+1]]``, ascending. Every kernel makes two
passes over the pairs (count, then fill) so that both run in parallel without locks.

The ``*_cpu`` functions at the end are what :mod:`native.device` dispatches to; their CUDA
siblings (torch ops) are in :mod:`native.kernels.linkpred_cuda`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from native.device import register

# --------------------------------------------------------------------------- pair sets


@njit(cache=True, nogil=True, inline="always")
def _merge_count(indices, i, iend, j, jend, skip_u, skip_v):
    """(|A & B|, |A - B - {skip_v}|, |B - A - {skip_u}|) for the sorted rows A = i..iend, B = j..jend."""
    both = 0
    only_a = 0
    only_b = 0
    while i < iend or j < jend:
        if j >= jend or (i < iend and indices[i] < indices[j]):
            if indices[i] != skip_v:
                only_a += 1
            i += 1
        elif i >= iend or indices[j] < indices[i]:
            if indices[j] != skip_u:
                only_b += 1
            j += 1
        else:
            both += 1
            i += 1
            j += 1
    return both, only_a, only_b


@njit(cache=True, nogil=True, parallel=True)
def pair_sets(indptr, indices, u, v, residual):
    """Common neighbours of every pair and, with ``residual``, the two one-sided remainders.

    For pair b = (u[b], v[b]) with neighbour sets N(u), N(v):
    common = N(u) & N(v); only_u = N(u) - N(v) - {v}; only_v = N(v) - N(u) - {u}
    (the target nodes themselves are left out of the remainders: a node is never its own
    completed common neighbour).

    Returns cptr (B+1,), cnodes; uptr (B+1,), unodes; vptr (B+1,), vnodes (all int64; the
    remainder arrays have one entry per pair of zeros and no nodes without ``residual``).
    """
    b = u.shape[0]
    cc = np.zeros(b + 1, np.int64)
    cu = np.zeros(b + 1, np.int64)
    cv = np.zeros(b + 1, np.int64)
    for t in prange(b):
        x, y = u[t], v[t]
        both, oa, ob = _merge_count(indices, indptr[x], indptr[x + 1], indptr[y], indptr[y + 1], x, y)
        cc[t + 1] = both
        if residual:
            cu[t + 1] = oa
            cv[t + 1] = ob
    cptr = np.cumsum(cc)
    uptr = np.cumsum(cu)
    vptr = np.cumsum(cv)
    cnodes = np.empty(cptr[b], np.int64)
    unodes = np.empty(uptr[b], np.int64)
    vnodes = np.empty(vptr[b], np.int64)
    for t in prange(b):
        x, y = u[t], v[t]
        i, iend = indptr[x], indptr[x + 1]
        j, jend = indptr[y], indptr[y + 1]
        pc, pu, pv = cptr[t], uptr[t], vptr[t]
        while i < iend or j < jend:
            if j >= jend or (i < iend and indices[i] < indices[j]):
                if residual and indices[i] != y:
                    unodes[pu] = indices[i]
                    pu += 1
                i += 1
            elif i >= iend or indices[j] < indices[i]:
                if residual and indices[j] != x:
                    vnodes[pv] = indices[j]
                    pv += 1
                j += 1
            else:
                cnodes[pc] = indices[i]
                pc += 1
                i += 1
                j += 1
    return cptr, cnodes, uptr, unodes, vptr, vnodes


@njit(cache=True, nogil=True, parallel=True)
def weighted_common_neighbors(indptr, indices, u, v, node_weight):
    """sum of node_weight[w] over the common neighbours w of every pair, (B,) float64."""
    out = np.zeros(u.shape[0], np.float64)
    for t in prange(u.shape[0]):
        i, iend = indptr[u[t]], indptr[u[t] + 1]
        j, jend = indptr[v[t]], indptr[v[t] + 1]
        s = 0.0
        while i < iend and j < jend:
            if indices[i] < indices[j]:
                i += 1
            elif indices[j] < indices[i]:
                j += 1
            else:
                s += node_weight[indices[i]]
                i += 1
                j += 1
        out[t] = s
    return out


# Below this much work (pairs times mean degree) the pair kernels run on one thread: waking
# Numba's OpenMP pool costs more than the work, and its spinning workers then slow the
# caller's torch ops down (by 100x on a loaded 2-core machine).
PARALLEL_WORK = 1 << 20


def _threads(indptr, u) -> int:
    """Threads for a pair kernel over ``u``: all of Numba's for big batches, else one."""
    import numba

    n = max(indptr.shape[0] - 1, 1)
    big = u.shape[0] * 2 * (indptr[-1] / n + 1) >= PARALLEL_WORK
    return numba.get_num_threads() if big else 1


def _run(kernel, threads, *args):
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(before)


# --------------------------------------------------------------------------- two-hop candidates


@njit(cache=True, nogil=True, parallel=True)
def two_hop_top_k(indptr, indices, queries, node_weight, k, chunks):
    """The k best non-neighbours two hops from every query, by weighted common neighbours.

    For query u, every node v with a common neighbour w (v != u, v not a neighbour of u)
    scores sum_w node_weight[w]; the k highest scores are kept, ties by ascending id.
    Returns (ids (n, k) int64, scores (n, k) float64), padded with (-1, -inf) where fewer
    than k nodes are two hops away. ``chunks`` blocks of queries run in parallel, each with
    its own (N,) accumulator.
    """
    n = indptr.shape[0] - 1
    nq = queries.shape[0]
    ids = np.full((nq, k), -1, np.int64)
    scores = np.full((nq, k), -np.inf, np.float64)
    per = (nq + chunks - 1) // chunks
    for c in prange(chunks):
        acc = np.zeros(n, np.float64)
        mark = np.zeros(n, np.int8)  # 0 unseen, 1 candidate, 2 the query or its neighbour
        touched = np.empty(n, np.int64)
        for t in range(c * per, min(nq, (c + 1) * per)):
            u = queries[t]
            mark[u] = 2
            for p in range(indptr[u], indptr[u + 1]):
                mark[indices[p]] = 2
            m = 0
            for p in range(indptr[u], indptr[u + 1]):
                w = indices[p]
                wt = node_weight[w]
                for r in range(indptr[w], indptr[w + 1]):
                    v = indices[r]
                    if mark[v] == 0:
                        mark[v] = 1
                        touched[m] = v
                        m += 1
                    if mark[v] == 1:
                        acc[v] += wt
            cand = np.sort(touched[:m])
            sc = acc[cand]
            order = np.argsort(-sc, kind="mergesort")  # stable: ties stay in id order
            for j in range(min(k, m)):
                ids[t, j] = cand[order[j]]
                scores[t, j] = sc[order[j]]
            for j in range(m):
                acc[cand[j]] = 0.0
                mark[cand[j]] = 0
            mark[u] = 0
            for p in range(indptr[u], indptr[u + 1]):
                mark[indices[p]] = 0
    return ids, scores


# --------------------------------------------------------------------------- topological concentration


@njit(cache=True, nogil=True)
def _hop_layers(indptr, indices, src, hops, dist, order):
    """Breadth-first search from ``src`` to depth ``hops``.

    Writes the hop distance (1..hops) of every reached node other than ``src`` into
    ``dist`` (which must hold -1 everywhere on entry; ``src`` itself gets 0) and the reached
    nodes, by layer, into ``order``. Returns (number of reached nodes incl. src, layer
    sizes (hops+1,)): the caller resets ``dist[order[:n]]`` to -1.
    """
    sizes = np.zeros(hops + 1, np.int64)
    dist[src] = 0
    order[0] = src
    sizes[0] = 1
    head, tail = 0, 1
    for h in range(1, hops + 1):
        end = tail
        while head < end:
            x = order[head]
            head += 1
            for p in range(indptr[x], indptr[x + 1]):
                y = indices[p]
                if dist[y] < 0:
                    dist[y] = h
                    order[tail] = y
                    tail += 1
                    sizes[h] += 1
    return tail, sizes


@njit(cache=True, nogil=True, parallel=True)
def topological_concentration(indptr, indices, nodes, hops, beta):
    """Exact topological concentration of every node in ``nodes``, (n,) float64.

    TC(i) = mean over neighbours j of i of
        sum_{k1, k2 = 1..hops} beta^(k1+k2-2) |H_i^k1 & H_j^k2| / |H_i^k1 | H_j^k2|
    normalised by sum beta^(k1+k2-2), with H_x^k the nodes exactly k hops from x (terms
    with an empty union count 0). Nodes without neighbours get NaN.
    """
    n = indptr.shape[0] - 1
    out = np.empty(nodes.shape[0], np.float64)
    norm = 0.0
    for k1 in range(1, hops + 1):
        for k2 in range(1, hops + 1):
            norm += beta ** (k1 + k2 - 2)
    for t in prange(nodes.shape[0]):
        i = nodes[t]
        deg = indptr[i + 1] - indptr[i]
        if deg == 0:
            out[t] = np.nan
            continue
        dist_i = np.full(n, -1, np.int64)
        order_i = np.empty(n, np.int64)
        dist_j = np.full(n, -1, np.int64)
        order_j = np.empty(n, np.int64)
        _, size_i = _hop_layers(indptr, indices, i, hops, dist_i, order_i)
        inter = np.zeros((hops + 1, hops + 1), np.int64)
        total = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            reached, size_j = _hop_layers(indptr, indices, j, hops, dist_j, order_j)
            inter[:, :] = 0
            for q in range(1, reached):
                w = order_j[q]
                if dist_i[w] > 0:
                    inter[dist_i[w], dist_j[w]] += 1
            s = 0.0
            for k1 in range(1, hops + 1):
                for k2 in range(1, hops + 1):
                    union = size_i[k1] + size_j[k2] - inter[k1, k2]
                    if union > 0:
                        s += beta ** (k1 + k2 - 2) * inter[k1, k2] / union
            total += s / norm
            for q in range(reached):
                dist_j[order_j[q]] = -1
        out[t] = total / deg
    return out


# --------------------------------------------------------------------------- dispatch entries
# Signatures shared with native.kernels.linkpred_cuda; node ids int64.


@register("linkpred.pair_sets", "cpu")
def pair_sets_cpu(indptr, indices, u, v, residual):
    """(cptr, cnodes, uptr, unodes, vptr, vnodes); see :func:`pair_sets`."""
    return _run(pair_sets, _threads(indptr, u), indptr, indices, u, v, residual)


@register("linkpred.weighted_cn", "cpu")
def weighted_cn_cpu(indptr, indices, u, v, node_weight):
    """(B,) float64 sums of ``node_weight`` (N,) float64 over common neighbours."""
    return _run(weighted_common_neighbors, _threads(indptr, u), indptr, indices, u, v, node_weight)


@register("linkpred.tc", "cpu")
def tc_cpu(indptr, indices, nodes, hops, beta):
    """(n,) float64 exact topological concentration; see :func:`topological_concentration`."""
    return topological_concentration(indptr, indices, nodes, int(hops), float(beta))


@register("linkpred.two_hop_top_k", "cpu")
def two_hop_top_k_cpu(indptr, indices, queries, node_weight, k):
    """(ids (n, k) int64, scores (n, k) float64); see :func:`two_hop_top_k`."""
    import numba

    chunks = max(1, min(numba.get_num_threads(), queries.shape[0]))
    return two_hop_top_k(indptr, indices, queries, node_weight, int(k), chunks)
