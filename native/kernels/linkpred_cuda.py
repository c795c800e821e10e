"""CUDA implementations of the link-prediction set kernels, written with torch tensor ops.

Imported for registration only; torch is imported when a kernel runs. Device-generic ops
only, so the tests run them on CPU tensors too. Same signatures and results as
:mod:`native.kernels.linkpred` (rows sorted and duplicate-free; ids int64 tensors).

Every neighbour of u is binary-searched in v's row (and vice versa for the remainder of v),
one thread per entry: no Python loop over pairs.
"""

from __future__ import annotations

from native.device import register


def _ptr(counts):
    import torch

    out = torch.zeros(counts.numel() + 1, dtype=torch.int64, device=counts.device)
    torch.cumsum(counts, 0, out=out[1:])
    return out


def _rows_of(indptr, nodes):
    """Concatenated neighbour lists of ``nodes``: (entries, pair of each entry)."""
    import torch

    deg = indptr.diff()[nodes]
    pair = torch.repeat_interleave(torch.arange(nodes.numel(), device=nodes.device), deg)
    starts = _ptr(deg)
    pos = torch.arange(pair.numel(), device=nodes.device) - starts[pair] + indptr[nodes][pair]
    return pos, pair


def _member(indptr, indices, x, rows):
    """Whether x[e] occurs in row rows[e] (lower-bound binary search per entry), (e,) bool."""
    import torch

    lo, hi = indptr[rows].clone(), indptr[rows + 1].clone()
    end = hi.clone()
    width = int((hi - lo).max()) if x.numel() else 0
    last = max(indices.numel() - 1, 0)
    for _ in range(max(width, 1).bit_length()):
        active = lo < hi
        mid = torch.where(active, (lo + hi) // 2, lo)
        right = active & (indices[mid.clamp_max(last)] < x)
        lo = torch.where(right, mid + 1, lo)
        hi = torch.where(active & ~right, mid, hi)
    found = lo < end
    found[found.clone()] = indices[lo[found]] == x[found]
    return found


@register("linkpred.pair_sets", "cuda")
def pair_sets_cuda(indptr, indices, u, v, residual):
    """(cptr, cnodes, uptr, unodes, vptr, vnodes) as the CPU kernel."""
    import torch

    b = u.numel()
    pos, pair = _rows_of(indptr, u)
    x = indices[pos].long()
    in_v = _member(indptr, indices, x, v[pair])
    cptr = _ptr(torch.bincount(pair[in_v], minlength=b))
    cnodes = x[in_v]
    if not residual:
        zeros = torch.zeros(b + 1, dtype=torch.int64, device=u.device)
        empty = torch.empty(0, dtype=torch.int64, device=u.device)
        return cptr, cnodes, zeros, empty, zeros.clone(), empty.clone()
    keep_u = ~in_v & (x != v[pair])
    uptr = _ptr(torch.bincount(pair[keep_u], minlength=b))
    pos_v, pair_v = _rows_of(indptr, v)
    y = indices[pos_v].long()
    keep_v = ~_member(indptr, indices, y, u[pair_v]) & (y != u[pair_v])
    vptr = _ptr(torch.bincount(pair_v[keep_v], minlength=b))
    return cptr, cnodes, uptr, x[keep_u], vptr, y[keep_v]


@register("linkpred.weighted_cn", "cuda")
def weighted_cn_cuda(indptr, indices, u, v, node_weight):
    """(B,) float64 sums of ``node_weight`` over common neighbours."""
    import torch

    pos, pair = _rows_of(indptr, u)
    x = indices[pos].long()
    hit = _member(indptr, indices, x, v[pair])
    out = torch.zeros(u.numel(), dtype=torch.float64, device=u.device)
    return out.index_add_(0, pair[hit], node_weight[x[hit]].double())


@register("linkpred.two_hop_top_k", "cuda")
def two_hop_top_k_cuda(indptr, indices, queries, node_weight, k):
    """(ids (n, k) int64, scores (n, k) float64): the k best non-neighbours two hops from
    every query by weighted common neighbours, ties by ascending id; (-1, -inf) pads.

    Every path u - w - v is one entry; entries are summed per (query, v) with one sort.
    Memory grows with the number of such paths: the caller passes queries in blocks.
    """
    import torch

    nq, n = queries.numel(), indptr.numel() - 1
    pos, pair = _rows_of(indptr, queries)
    w = indices[pos].long()
    pos2, hop = _rows_of(indptr, w)
    v = indices[pos2].long()
    q_of = pair[hop]
    u = queries[q_of]
    keep = (v != u) & ~_member(indptr, indices, v, u)
    key = q_of[keep] * n + v[keep]
    uniq, inv = torch.unique(key, return_inverse=True)  # sorted: by query, then id
    s = torch.zeros(uniq.numel(), dtype=torch.float64, device=queries.device)
    s.index_add_(0, inv, node_weight[w[hop[keep]]].double())
    qq, vv = uniq // n, uniq % n
    order = torch.argsort(-s, stable=True)
    order = order[torch.argsort(qq[order], stable=True)]
    qq, vv, s = qq[order], vv[order], s[order]
    start = _ptr(torch.bincount(qq, minlength=nq))
    rank = torch.arange(qq.numel(), device=queries.device) - start[qq]
    sel = rank < k
    ids = torch.full((nq, k), -1, dtype=torch.int64, device=queries.device)
    scores = torch.full((nq, k), -float("inf"), dtype=torch.float64, device=queries.device)
    ids[qq[sel], rank[sel]] = vv[sel]
    scores[qq[sel], rank[sel]] = s[sel]
    return ids, scores
