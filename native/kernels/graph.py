"""CPU kernels for CSR graphs (Numba): building, structure ops, common neighbours, spmm, sampling.

A CSR graph here is ``indptr`` (N+1,) int64 and ``indices`` (E,) int32/int64 with the columns
of every row sorted ascending; the kernels rely on that order and never check it. Kernels
that rearrange edges return *positions* into their input edge arrays, so the caller can
carry weights, edge ids and timestamps along with one gather.

Random numbers come from SplitMix64 streams, one per expanded node, started from
``(seed, hop, position of the node in the batch)``: results depend on the seed only, never
on the number of threads or the scheduling of ``prange``.

The ``*_cpu`` functions at the end are what :mod:`native.device` dispatches to: thin wrappers
that turn optional arrays into empty ones, plus the (numpy) hop loop of multi-hop sampling.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from native.device import register

# --------------------------------------------------------------------------- building


@njit(cache=True, nogil=True)
def _counting_sort(keys, order, num_keys):
    """Stable counting sort of the permutation ``order`` by ``keys[order]``.

    Returns (sorted order (E,), bucket starts (num_keys+1,)).
    """
    starts = np.zeros(num_keys + 1, np.int64)
    for p in range(order.shape[0]):
        starts[keys[order[p]] + 1] += 1
    for i in range(num_keys):
        starts[i + 1] += starts[i]
    cursor = starts[:num_keys].copy()
    out = np.empty_like(order)
    for p in range(order.shape[0]):
        k = keys[order[p]]
        out[cursor[k]] = order[p]
        cursor[k] += 1
    return out, starts


@njit(cache=True, nogil=True)
def coo_to_csr(src, dst, num_nodes):
    """CSR layout of the edges (src[e], dst[e]) by two stable counting sorts, O(E + N).

    Returns indptr (N+1,) int64 and perm (E,) int64: the edges in CSR order are
    ``dst[perm]``, sorted by (src, dst); edges equal in both keep their input order.
    """
    order = np.arange(src.shape[0])
    order, _ = _counting_sort(dst, order, num_nodes)
    order, indptr = _counting_sort(src, order, num_nodes)
    return indptr, order


@njit(cache=True, nogil=True)
def induced_subgraph(indptr, indices, nodes, num_nodes):
    """Edges among ``nodes`` relabelled to 0..len(nodes)-1 in the given order.

    Returns indptr (n+1,), indices (e,) int64 local ids, positions (e,) of the kept edges
    in the parent's edge arrays.
    """
    local = np.full(num_nodes, -1, np.int64)
    for i in range(nodes.shape[0]):
        local[nodes[i]] = i
    count = 0
    for i in range(nodes.shape[0]):
        for p in range(indptr[nodes[i]], indptr[nodes[i] + 1]):
            if local[indices[p]] >= 0:
                count += 1
    src = np.empty(count, np.int64)
    dst = np.empty(count, np.int64)
    pos = np.empty(count, np.int64)
    m = 0
    for i in range(nodes.shape[0]):
        for p in range(indptr[nodes[i]], indptr[nodes[i] + 1]):
            j = local[indices[p]]
            if j >= 0:
                src[m] = i
                dst[m] = j
                pos[m] = p
                m += 1
    sub_indptr, perm = coo_to_csr(src, dst, nodes.shape[0])
    return sub_indptr, dst[perm], pos[perm]


@njit(cache=True, nogil=True)
def dedup_sorted(indptr, indices, weights, has_weights, reduce_max):
    """Merge repeated columns within each row (rows must be sorted).

    Returns indptr (N+1,), positions (E',) of the first copy of every edge, and the merged
    weights (E',) float32 (summed, or the maximum when ``reduce_max``; empty without weights).
    """
    n = indptr.shape[0] - 1
    e = indices.shape[0]
    new_indptr = np.zeros(n + 1, np.int64)
    keep = np.empty(e, np.int64)
    merged = np.empty(e if has_weights else 0, np.float32)
    m = 0
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            if p > indptr[i] and indices[p] == indices[p - 1]:
                if has_weights:
                    if reduce_max:
                        merged[m - 1] = max(merged[m - 1], weights[p])
                    else:
                        merged[m - 1] += weights[p]
            else:
                keep[m] = p
                if has_weights:
                    merged[m] = weights[p]
                m += 1
        new_indptr[i + 1] = m
    return new_indptr, keep[:m].copy(), merged[: m if has_weights else 0].copy()


@njit(cache=True, nogil=True)
def drop_self_loops(indptr, indices):
    """Returns indptr (N+1,) and positions (E',) of the edges (i, j) with i != j."""
    n = indptr.shape[0] - 1
    new_indptr = np.zeros(n + 1, np.int64)
    keep = np.empty(indices.shape[0], np.int64)
    m = 0
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            if indices[p] != i:
                keep[m] = p
                m += 1
        new_indptr[i + 1] = m
    return new_indptr, keep[:m].copy()


# --------------------------------------------------------------------------- graph ops


@njit(cache=True, nogil=True, parallel=True)
def common_neighbors(indptr, indices, u, v):
    """Number of distinct columns shared by rows u[b] and v[b], by sorted merge. (B,) int64."""
    out = np.zeros(u.shape[0], np.int64)
    for b in prange(u.shape[0]):
        i, iend = indptr[u[b]], indptr[u[b] + 1]
        j, jend = indptr[v[b]], indptr[v[b] + 1]
        c = 0
        while i < iend and j < jend:
            x, y = indices[i], indices[j]
            if x < y:
                i += 1
            elif y < x:
                j += 1
            else:
                c += 1
                while i < iend and indices[i] == x:
                    i += 1
                while j < jend and indices[j] == x:
                    j += 1
        out[b] = c
    return out


@njit(cache=True, nogil=True, parallel=True)
def spmm(indptr, indices, weights, has_weights, X, mean):
    """out = A @ X with A[i, j] = weight (1 without weights), summed over duplicates.

    With ``mean`` every row is divided by its number of stored edges (empty rows stay 0).
    Returns (N, F) in X's dtype.
    """
    n = indptr.shape[0] - 1
    f = X.shape[1]
    out = np.zeros((n, f), X.dtype)
    for i in prange(n):
        for p in range(indptr[i], indptr[i + 1]):
            w = weights[p] if has_weights else np.float32(1.0)
            j = indices[p]
            for c in range(f):
                out[i, c] += w * X[j, c]
        deg = indptr[i + 1] - indptr[i]
        if mean and deg > 0:
            for c in range(f):
                out[i, c] /= deg
    return out


# --------------------------------------------------------------------------- random streams

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TWO53 = np.int64(1) << np.int64(53)


@njit(cache=True, nogil=True, inline="always")
def _mix64(z):
    """SplitMix64's finaliser: a bijection of uint64 that scrambles every bit."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def _below(state, n):
    """(next state, uniform integer in [0, n)) for n >= 1, from 53 bits, without modulo bias."""
    limit = _TWO53 - _TWO53 % n
    while True:
        state = state + _GAMMA
        r = np.int64(_mix64(state) >> np.uint64(11))
        if r < limit:
            return state, r % n


@njit(cache=True, nogil=True, inline="always")
def _sample_count(deg, k, replace):
    """How many neighbours a node of degree ``deg`` gets for fan-out ``k`` (-1: all)."""
    if k < 0:
        return deg
    if replace:
        return k if deg > 0 else 0
    return min(k, deg)


@njit(cache=True, nogil=True)
def _sample_row(start, deg, k, replace, state, out, off):
    """Write the sampled edge positions of one row (edges start..start+deg) to out[off:].

    Without replacement the positions come out ascending: selection sampling (Knuth's
    Algorithm S, O(deg)) when deg <= k*k, else Floyd's algorithm (O(k^2)) and a sort.
    """
    if k < 0 or (not replace and k >= deg):
        for t in range(deg):
            out[off + t] = start + t
    elif replace:
        if deg > 0:
            for t in range(k):
                state, r = _below(state, deg)
                out[off + t] = start + r
    elif deg <= k * k:
        m = 0
        for t in range(deg):
            state, r = _below(state, deg - t)
            if r < k - m:
                out[off + m] = start + t
                m += 1
                if m == k:
                    break
    else:
        m = 0
        for j in range(deg - k, deg):
            state, t = _below(state, j + 1)
            pick = start + t
            for q in range(off, off + m):
                if out[q] == pick:
                    pick = start + j
                    break
            out[off + m] = pick
            m += 1
        out[off : off + m].sort()


@njit(cache=True, nogil=True, parallel=True)
def sample_positions(indptr, nodes, k, replace, seed, hop):
    """Sample up to ``k`` out-edges of every node, uniformly (-1: all of them).

    Args: seed uint64; hop selects an independent family of streams.
    Returns counts (B,) int64 and the sampled edge positions (sum(counts),) int64, grouped
    by node in the order of ``nodes``.
    """
    b = nodes.shape[0]
    offsets = np.zeros(b + 1, np.int64)
    for i in range(b):
        deg = indptr[nodes[i] + 1] - indptr[nodes[i]]
        offsets[i + 1] = offsets[i] + _sample_count(deg, k, replace)
    out = np.empty(offsets[b], np.int64)
    base = _mix64(seed ^ _mix64(np.uint64(hop) + _GAMMA))
    for i in prange(b):
        state = _mix64(base + np.uint64(i) * _GAMMA)
        start = indptr[nodes[i]]
        _sample_row(start, indptr[nodes[i] + 1] - start, k, replace, state, out, offsets[i])
    return offsets[1:] - offsets[:-1], out


# --------------------------------------------------------------------------- multi-hop relabelling


def _relabel(v, nodes):
    """Local ids of the global ids ``v``, numbering unseen ones after ``nodes`` in order of
    first appearance. Returns (local ids (len(v),), the unseen ids in that order)."""
    order = np.argsort(nodes, kind="stable")
    at = np.minimum(np.searchsorted(nodes[order], v), max(nodes.shape[0] - 1, 0))
    known = nodes[order[at]] == v if nodes.shape[0] else np.zeros(v.shape[0], np.bool_)
    col = np.empty(v.shape[0], np.int64)
    col[known] = order[at[known]]
    fresh, first, inverse = np.unique(v[~known], return_index=True, return_inverse=True)
    by_first = np.argsort(first)
    new_id = np.empty(fresh.shape[0], np.int64)
    new_id[by_first] = nodes.shape[0] + np.arange(fresh.shape[0])
    col[~known] = new_id[inverse]
    return col, fresh[by_first]


# --------------------------------------------------------------------------- dispatch entries
# Signatures shared with native.kernels.graph_cuda. Arrays are numpy; node ids int64.


@register("csr.build", "cpu")
def build_cpu(src, dst, num_nodes):
    """(indptr (N+1,), perm (E,)) for int64 src/dst; see :func:`coo_to_csr`."""
    return coo_to_csr(src, dst, num_nodes)


@register("csr.edge_rows", "cpu")
def edge_rows_cpu(indptr):
    """Row of every edge, (E,) int64."""
    return np.repeat(np.arange(indptr.shape[0] - 1, dtype=np.int64), np.diff(indptr))


@register("csr.in_degree", "cpu")
def in_degree_cpu(indices, num_nodes):
    """Number of edges into each node, (N,) int64."""
    return np.bincount(indices, minlength=num_nodes).astype(np.int64, copy=False)


@register("csr.subgraph", "cpu")
def subgraph_cpu(indptr, indices, nodes, num_nodes):
    """See :func:`induced_subgraph`."""
    return induced_subgraph(indptr, indices, nodes, num_nodes)


@register("csr.dedup", "cpu")
def dedup_cpu(indptr, indices, weights, reduce):
    """(indptr, first positions, merged weights or None); reduce is 'sum' or 'max'."""
    has_w = weights is not None
    w = weights if has_w else np.empty(0, np.float32)
    new_indptr, keep, merged = dedup_sorted(indptr, indices, w, has_w, reduce == "max")
    return new_indptr, keep, merged if has_w else None


@register("csr.remove_self_loops", "cpu")
def remove_self_loops_cpu(indptr, indices):
    """(indptr, positions of the kept edges)."""
    return drop_self_loops(indptr, indices)


@register("graphops.common_neighbors", "cpu")
def common_neighbors_cpu(indptr, indices, u, v):
    """(B,) int64 counts of distinct common out-neighbours."""
    return common_neighbors(indptr, indices, u, v)


@register("graphops.spmm", "cpu")
def spmm_cpu(indptr, indices, weights, X, mean):
    """(N, F) = A @ X (row means with ``mean``); X (N, F) float32/float64, C order."""
    has_w = weights is not None
    w = weights if has_w else np.empty(0, np.float32)
    return spmm(indptr, indices, w, has_w, X, mean)


@register("sampling.one_hop", "cpu")
def one_hop_cpu(indptr, nodes, k, replace, seed):
    """(counts (B,), edge positions (sum(counts),)); seed is an int in [0, 2**64)."""
    return sample_positions(indptr, nodes, k, replace, np.uint64(seed), 0)


@register("sampling.multi_hop", "cpu")
def multi_hop_cpu(indptr, indices, seeds, fanouts, replace, seed):
    """Multi-hop sampling; every node is expanded once, in the hop after it appears.

    The hop loop runs in Python: :func:`sample_positions` must be entered through its own
    dispatcher, which starts Numba's thread pool (a cached non-parallel kernel calling it
    would not, and crash when it is the first parallel kernel of the process).

    Returns nodes (n,) global ids (seeds first, then in order of first appearance), row/col
    (e,) local ids of each sampled edge (row = expanded node), edge positions (e,), nodes
    added per hop (H+1,) and edges sampled per hop (H,); fanouts (H,) int64.
    """
    nodes = seeds.astype(np.int64)
    rows, cols, positions = [], [], []
    nodes_per_hop, edges_per_hop = [nodes.shape[0]], []
    begin = 0
    for h, k in enumerate(fanouts.tolist()):
        counts, pos = sample_positions(indptr, nodes[begin:], k, replace, np.uint64(seed), h)
        rows.append(np.repeat(np.arange(begin, nodes.shape[0]), counts))
        col, fresh = _relabel(indices[pos].astype(np.int64), nodes)
        cols.append(col)
        positions.append(pos)
        nodes_per_hop.append(fresh.shape[0])
        edges_per_hop.append(pos.shape[0])
        begin, nodes = nodes.shape[0], np.concatenate((nodes, fresh))

    def cat(parts):
        return np.concatenate(parts) if parts else np.empty(0, np.int64)

    return (
        nodes,
        cat(rows),
        cat(cols),
        cat(positions),
        np.array(nodes_per_hop, np.int64),
        np.array(edges_per_hop, np.int64),
    )
