"""CUDA implementations of the CSR kernels, written with torch tensor ops.

Imported for registration only; torch is imported when a kernel runs, never at import, so
this module loads with no GPU and no CUDA package. The functions take and return torch
tensors and only use device-generic ops, so they also run (and are tested) on CPU tensors.
Signatures match :mod:`native.kernels.graph`; node and edge ids are int64 tensors.

Sampling draws from a ``torch.Generator`` seeded from ``(seed, hop)``: deterministic for a
seed on a given device, but not the same draws as the CPU kernels.
"""

from __future__ import annotations

import warnings

from native.device import register


def _exclusive_cumsum(x):
    import torch

    out = torch.zeros(x.numel() + 1, dtype=torch.int64, device=x.device)
    torch.cumsum(x, 0, out=out[1:])
    return out


def _segments(starts, lengths):
    """Concatenated ranges starts[i] .. starts[i]+lengths[i]-1 and the segment of each entry."""
    import torch

    seg = torch.repeat_interleave(torch.arange(lengths.numel(), device=lengths.device), lengths)
    offsets = _exclusive_cumsum(lengths)
    pos = torch.arange(seg.numel(), device=lengths.device) - offsets[seg] + starts[seg]
    return pos, seg


def _sort_by(primary, secondary):
    """Permutation ordering entries by (primary, secondary), stable."""
    import torch

    order = torch.argsort(secondary, stable=True)
    return order[torch.argsort(primary[order], stable=True)]


def _indptr_from_rows(rows, num_nodes):
    return _exclusive_cumsum(_bincount(rows, num_nodes))


def _bincount(x, n):
    import torch

    return torch.bincount(x.long(), minlength=n)


@register("csr.build", "cuda")
def build_cuda(src, dst, num_nodes):
    """(indptr (N+1,), perm (E,)): edges sorted by (src, dst), ties in input order."""
    return _indptr_from_rows(src, num_nodes), _sort_by(src, dst)


@register("csr.edge_rows", "cuda")
def edge_rows_cuda(indptr):
    """Row of every edge, (E,) int64."""
    import torch

    return torch.repeat_interleave(torch.arange(indptr.numel() - 1, device=indptr.device), indptr.diff())


@register("csr.in_degree", "cuda")
def in_degree_cuda(indices, num_nodes):
    """Number of edges into each node, (N,) int64."""
    return _bincount(indices, num_nodes)


@register("csr.subgraph", "cuda")
def subgraph_cuda(indptr, indices, nodes, num_nodes):
    """(indptr (n+1,), local indices (e,), parent positions (e,)) of the induced subgraph."""
    import torch

    local = torch.full((num_nodes,), -1, dtype=torch.int64, device=indptr.device)
    local[nodes] = torch.arange(nodes.numel(), device=indptr.device)
    pos, src = _segments(indptr[nodes], indptr[nodes + 1] - indptr[nodes])
    dst = local[indices[pos].long()]
    keep = dst >= 0
    src, dst, pos = src[keep], dst[keep], pos[keep]
    sub_indptr, perm = build_cuda(src, dst, nodes.numel())
    return sub_indptr, dst[perm], pos[perm]


@register("csr.dedup", "cuda")
def dedup_cuda(indptr, indices, weights, reduce):
    """(indptr, first positions, merged weights or None); reduce is 'sum' or 'max'."""
    import torch

    rows = edge_rows_cuda(indptr)
    first = torch.ones(indices.numel(), dtype=torch.bool, device=indices.device)
    first[1:] = (indices[1:] != indices[:-1]) | (rows[1:] != rows[:-1])
    keep = torch.nonzero(first).squeeze(1)
    merged = None
    if weights is not None:
        group = torch.cumsum(first.long(), 0) - 1
        merged = torch.zeros(keep.numel(), dtype=weights.dtype, device=weights.device)
        if reduce == "max":
            merged.scatter_reduce_(0, group, weights, "amax", include_self=False)
        else:
            merged.index_add_(0, group, weights)
    return _indptr_from_rows(rows[keep], indptr.numel() - 1), keep, merged


@register("csr.remove_self_loops", "cuda")
def remove_self_loops_cuda(indptr, indices):
    """(indptr, positions of the edges (i, j) with i != j)."""
    import torch

    rows = edge_rows_cuda(indptr)
    keep = torch.nonzero(indices != rows).squeeze(1)
    return _indptr_from_rows(rows[keep], indptr.numel() - 1), keep


@register("graphops.common_neighbors", "cuda")
def common_neighbors_cuda(indptr, indices, u, v):
    """(B,) int64 counts: each distinct column of the shorter row is binary-searched in the other."""
    import torch

    deg = indptr.diff()
    swap = deg[u] > deg[v]
    short, long_ = torch.where(swap, v, u), torch.where(swap, u, v)
    pos, pair = _segments(indptr[short], deg[short])
    x = indices[pos]
    distinct = torch.ones(x.numel(), dtype=torch.bool, device=x.device)
    distinct[1:] = (x[1:] != x[:-1]) | (pair[1:] != pair[:-1])
    lo, hi = indptr[long_][pair], indptr[long_ + 1][pair]
    end = hi.clone()
    steps = int(deg.max()).bit_length() if deg.numel() else 0
    for _ in range(steps):  # lower bound of x in indices[lo:hi]
        active = lo < hi
        mid = torch.where(active, (lo + hi) // 2, lo)
        right = active & (indices[mid.clamp_max(max(indices.numel() - 1, 0))] < x)
        lo = torch.where(right, mid + 1, lo)
        hi = torch.where(active & ~right, mid, hi)
    found = lo < end
    found[found.clone()] = indices[lo[found]] == x[found]
    return _bincount(pair[found & distinct], u.numel())


@register("graphops.spmm", "cuda")
def spmm_cuda(indptr, indices, weights, X, mean):
    """(N, F) = A @ X through a torch sparse CSR matrix (row means with ``mean``)."""
    import torch

    n = indptr.numel() - 1
    values = (
        weights.to(X.dtype)
        if weights is not None
        else torch.ones(indices.numel(), dtype=X.dtype, device=X.device)
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        A = torch.sparse_csr_tensor(indptr, indices.long(), values, size=(n, n), check_invariants=False)
        out = A @ X
    if mean:
        out = out / indptr.diff().clamp_min(1).to(X.dtype)[:, None]
    return out


def _generator(device, seed, hop):
    import torch

    gen = torch.Generator(device=device)
    gen.manual_seed((int(seed) * 0x9E3779B97F4A7C15 + hop) % (1 << 63))
    return gen


@register("sampling.one_hop", "cuda")
def one_hop_cuda(indptr, nodes, k, replace, seed, hop=0):
    """(counts (B,), edge positions grouped by node); without replacement ascending per node."""
    import torch

    starts = indptr[nodes]
    deg = indptr[nodes + 1] - starts
    if k < 0 or (not replace and deg.numel() and k >= int(deg.max())):
        pos, _ = _segments(starts, deg)
        return deg, pos
    gen = _generator(nodes.device, seed, hop)
    if replace:
        counts = torch.where(deg > 0, k, 0)
        seg = torch.repeat_interleave(torch.arange(nodes.numel(), device=nodes.device), counts)
        r = torch.rand(seg.numel(), generator=gen, dtype=torch.float64, device=nodes.device)
        offset = (r * deg[seg]).long().minimum(deg[seg] - 1)
        return counts, starts[seg] + offset
    # a uniform random subset: the k smallest of one random key per candidate edge
    pos, seg = _segments(starts, deg)
    key = torch.rand(pos.numel(), generator=gen, device=nodes.device)
    order = _sort_by(seg, key)
    rank = torch.arange(pos.numel(), device=nodes.device) - _exclusive_cumsum(deg)[seg[order]]
    chosen = order[rank < k]
    pos, seg = pos[chosen], seg[chosen]
    pos = pos[_sort_by(seg, pos)]
    return deg.clamp_max(k), pos


@register("sampling.multi_hop", "cuda")
def multi_hop_cuda(indptr, indices, seeds, fanouts, replace, seed):
    """Same outputs as :func:`native.kernels.graph.sample_multi_hop`, as tensors."""
    import torch

    dev = seeds.device
    nodes = seeds.long()
    frontier = nodes
    rows, cols, positions = [], [], []
    nodes_per_hop, edges_per_hop = [nodes.numel()], []
    for h, k in enumerate(fanouts.tolist()):
        counts, pos = one_hop_cuda(indptr, frontier, k, replace, seed, h)
        begin = nodes.numel() - frontier.numel()
        row = begin + torch.repeat_interleave(torch.arange(frontier.numel(), device=dev), counts)
        v = indices[pos].long()
        sorted_nodes, order = torch.sort(nodes)
        at = torch.searchsorted(sorted_nodes, v).clamp_max(max(nodes.numel() - 1, 0))
        known = (sorted_nodes[at] == v) if nodes.numel() else torch.zeros_like(v, dtype=torch.bool)
        col = torch.where(known, order[at], -1)
        fresh, inverse = torch.unique(v[~known], return_inverse=True)
        # number the new nodes in order of first appearance, as the CPU kernel does
        first = torch.full((fresh.numel(),), v.numel(), dtype=torch.int64, device=dev)
        first.scatter_reduce_(0, inverse, torch.arange(inverse.numel(), device=dev), "amin")
        by_first = torch.argsort(first)
        new_id = torch.empty_like(by_first)
        new_id[by_first] = nodes.numel() + torch.arange(fresh.numel(), device=dev)
        col[~known] = new_id[inverse]
        frontier = fresh[by_first]
        nodes = torch.cat([nodes, frontier])
        rows.append(row)
        cols.append(col)
        positions.append(pos)
        nodes_per_hop.append(frontier.numel())
        edges_per_hop.append(pos.numel())
    empty = torch.empty(0, dtype=torch.int64, device=dev)
    return (
        nodes,
        torch.cat(rows) if rows else empty,
        torch.cat(cols) if cols else empty,
        torch.cat(positions) if positions else empty,
        torch.tensor(nodes_per_hop, dtype=torch.int64, device=dev),
        torch.tensor(edges_per_hop, dtype=torch.int64, device=dev),
    )
