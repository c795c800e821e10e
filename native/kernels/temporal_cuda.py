"""CUDA implementation of the temporal adjacency with torch ops (any torch device works).

Imported by :mod:`native.temporal` for registration only; torch is imported when a kernel
runs, never at import. The index adds to the CSR arrays of :mod:`native.kernels.temporal`
a per-node segmented sorted key: each adjacency entry gets ``owner * (U + 1) + rank``, where
``rank`` is the rank of its time among the U distinct event times. Entries are sorted by
(owner, time), so the key is sorted, and the end of a node's events before ``t`` is one
``searchsorted`` of ``node * (U + 1) + (number of distinct times < t)`` (``<= t`` when not
strict). Results equal the CPU kernels'; the sampler draws from torch's generator instead,
so it is deterministic per seed on one device but differs from the CPU sampler.
"""

from __future__ import annotations

import numpy as np

from native.device import register


def _tensor(x, dtype, device):
    """``x`` (numpy or torch) as a tensor of ``dtype`` on ``device``."""
    import torch

    if not isinstance(x, torch.Tensor):
        x = torch.tensor(np.asarray(x))
    return x.to(device=device, dtype=dtype)


@register("temporal.index", "cuda")
def index_cuda(src, dst, t, num_nodes, directed):
    """The adjacency of (src, dst, t) (tensors, sorted by t) plus its search key.

    Returns:
        indptr (N+1,), nbr (M,), nbr_t (M,), nbr_eid (M,), distinct times (U,), key (M,);
        all on the device of ``src``, int64 but for the times (``t.dtype``).

    Raises:
        OverflowError: N * (U + 1) does not fit in int64.
    """
    import torch

    dev = src.device
    eid = torch.arange(src.numel(), device=dev)
    if directed:
        owner, other, ent = src, dst, eid
    else:
        keep = src != dst
        owner = torch.cat([src, dst[keep]])
        other = torch.cat([dst, src[keep]])
        ent = torch.cat([eid, eid[keep]])
    by_event = torch.sort(ent, stable=True).indices
    order = by_event[torch.sort(owner[by_event], stable=True).indices]
    owner, nbr, nbr_eid = owner[order], other[order], ent[order]
    nbr_t = t[nbr_eid]
    indptr = torch.zeros(num_nodes + 1, dtype=torch.int64, device=dev)
    indptr[1:] = torch.cumsum(torch.bincount(owner, minlength=num_nodes), 0)
    distinct = torch.unique_consecutive(t)
    stride = distinct.numel() + 1
    if num_nodes * stride >= 2**63:
        raise OverflowError(
            f"{num_nodes} nodes x {stride - 1} distinct times overflow the int64 search key"
        )
    key = owner * stride + torch.searchsorted(distinct, nbr_t)
    return indptr, nbr, nbr_t, nbr_eid, distinct, key


def _prefix(index, nodes, times, strict):
    """(lo, end): each query's adjacency range start and the end of its events before t."""
    import torch

    indptr, _, nbr_t, _, distinct, key = index
    dev = indptr.device
    nodes = _tensor(nodes, torch.int64, dev)
    times = _tensor(times, None, dev)
    if times.is_floating_point() or distinct.is_floating_point():
        seq, times = distinct.double(), times.double()
    else:
        seq, times = distinct, times.long()
    below = torch.searchsorted(seq, times, right=not strict)
    end = torch.searchsorted(key, nodes * (distinct.numel() + 1) + below)
    return indptr[nodes], end


def _gather(index, pos, valid):
    """Neighbours, times and event indices at adjacency positions ``pos`` where ``valid``;
    -1 / 0 / -1 elsewhere."""
    import torch

    _, nbr, nbr_t, nbr_eid, _, _ = index
    if nbr.numel() == 0:
        return (
            torch.full_like(pos, -1),
            torch.zeros(pos.shape, dtype=nbr_t.dtype, device=pos.device),
            torch.full_like(pos, -1),
        )
    pos = pos.clamp(0, nbr.numel() - 1)
    return (
        torch.where(valid, nbr[pos], -1),
        torch.where(valid, nbr_t[pos], 0),
        torch.where(valid, nbr_eid[pos], -1),
    )


@register("temporal.most_recent", "cuda")
def most_recent_cuda(index, nodes, times, k, strict):
    """The k newest events of each query before its time, newest first; (B, k) tensors
    padded with -1 / 0 / -1, like :func:`native.kernels.temporal.most_recent`."""
    import torch

    lo, end = _prefix(index, nodes, times, strict)
    j = torch.arange(k, device=lo.device)
    valid = j[None, :] < (end - lo)[:, None]
    return _gather(index, end[:, None] - 1 - j[None, :], valid)


@register("temporal.sample", "cuda")
def sample_cuda(index, nodes, times, k, seed, strict):
    """k events per query drawn uniformly with replacement among those before its time,
    rows sorted newest first; a torch generator seeded with ``seed`` draws them."""
    import torch

    lo, end = _prefix(index, nodes, times, strict)
    cnt = (end - lo)[:, None]
    gen = torch.Generator(device=lo.device)
    gen.manual_seed(seed)
    u = torch.rand((lo.numel(), k), generator=gen, device=lo.device, dtype=torch.float64)
    r = torch.minimum((u * cnt).long(), cnt - 1)
    pos = torch.sort(lo[:, None] + r, dim=1, descending=True).values
    return _gather(index, pos, (cnt > 0).expand(-1, k))
