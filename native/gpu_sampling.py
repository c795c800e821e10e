"""Multi-hop neighbour sampling with torch ops (CUDA or CPU), PyG-compatible mini-batches, and a
loader that composes the sampler with a :class:`native.features.FeatureStore` (and its cache).

Every hop is a handful of batched tensor ops over the whole frontier, no per-node Python:

- a node of degree d <= k (the hop's fan-out; -1: all) keeps all its edges;
- a node of degree d > k draws k distinct edges uniformly by Floyd's algorithm, vectorised
  over the frontier: for i = 0..k-1, t ~ U{0..d-k+i}; keep t unless an earlier draw took it,
  else take d-k+i. Work is O(k^2) per node, whatever its degree (no per-edge random keys).

Neighbours are a node's CSR row (its out-neighbours). PyG's NeighborLoader aggregates over
incoming edges: build the graph from ``edge_index.flip(0)``, or use an undirected graph.

The batch follows PyG's NeighborLoader: ``n_id`` global ids with the seeds first, then the
new nodes of each hop in order of first appearance; ``edge_index`` (2, E) local ids, row 0
the sampled neighbour (message source), row 1 the node that sampled it; ``e_id`` the edges'
ids (see :mod:`native.csr`); ``batch_size`` the number of seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from native import device as _dev
from native.csr import CSRGraph


@dataclass
class SampledSubgraph:
    """One mini-batch's computation graph (tensors on the sampler's device).

    Attributes:
        n_id: (n,) int64 global node ids, seeds first. edge_index: (2, e) int64 local ids,
        [sampled neighbour; sampling node]. e_id: (e,) int64 edge ids. batch_size: seeds.
        num_sampled_nodes: H+1 ints (seeds, then new nodes per hop). num_sampled_edges: H ints.
    """

    n_id: torch.Tensor
    edge_index: torch.Tensor
    e_id: torch.Tensor
    batch_size: int
    num_sampled_nodes: list
    num_sampled_edges: list

    def to_data(self, x: Any = None, y: Any = None):
        """A ``torch_geometric.data.Data`` like NeighborLoader's (x, y of the sampled nodes)."""
        from torch_geometric.data import Data

        d = Data(edge_index=self.edge_index, n_id=self.n_id, e_id=self.e_id, num_nodes=self.n_id.numel())
        d.batch_size = self.batch_size
        d.num_sampled_nodes = self.num_sampled_nodes
        d.num_sampled_edges = self.num_sampled_edges
        if x is not None:
            d.x = x
        if y is not None:
            d.y = y
        return d


def _segment_arange(lengths: torch.Tensor) -> torch.Tensor:
    """[0..l0-1, 0..l1-1, ...] for the lengths (int64, >= 0)."""
    total = int(lengths.sum())
    starts = torch.cumsum(lengths, 0) - lengths
    return torch.arange(total, device=lengths.device) - torch.repeat_interleave(starts, lengths)


def floyd_sample(deg: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(R, k) distinct offsets in [0, deg[r]) per row, each k-subset equally likely (deg >= k).

    Floyd's algorithm, one step for all rows at a time.
    """
    r = deg.numel()
    out = torch.empty((r, k), dtype=torch.int64, device=deg.device)
    for i in range(k):
        top = deg - k + i  # draw from 0..top
        u = torch.rand(r, generator=generator, device=deg.device, dtype=torch.float64)
        t = torch.minimum((u * (top + 1).to(torch.float64)).to(torch.int64), top)
        if i:
            taken = (out[:, :i] == t[:, None]).any(1)
            t = torch.where(taken, top, t)
        out[:, i] = t
    return out


class GPUNeighborSampler:
    """Uniform multi-hop fan-out sampling without replacement on a CSR graph, in torch.

    Args:
        graph: a :class:`native.CSRGraph` (numpy or CUDA arrays), or (indptr, indices).
        fanouts: neighbours per node for each hop; -1 takes all.
        device: where to sample ('cpu' / 'cuda'); None: the graph's device.
        seed: seed of the sampler's generator; None draws one.

    Raises:
        ValueError: fan-outs below -1 or not integers; TypeError: a bad graph.
    """

    def __init__(self, graph: Any, fanouts: Sequence[int], device: Any = None, seed: int | None = None) -> None:
        if isinstance(graph, CSRGraph):
            indptr, indices, eids = graph.indptr, graph.indices, graph.edge_ids
            default = graph.device
        elif isinstance(graph, (tuple, list)) and len(graph) == 2:
            g = CSRGraph(graph[0], graph[1])
            indptr, indices, eids, default = g.indptr, g.indices, None, g.device
        else:
            raise TypeError(f"graph must be a CSRGraph or (indptr, indices), got {type(graph).__name__}")
        fan = list(fanouts)
        for k in fan:
            if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < -1:
                raise ValueError(f"fanouts entries must be integers >= -1 (-1: all neighbours), got {k!r}")
        if not fan:
            raise ValueError("fanouts must have at least one hop")
        self.fanouts = [int(k) for k in fan]
        dev = _dev.resolve_device(device) if device is not None else default
        self.device = torch.device("cuda") if dev == _dev.CUDA else torch.device("cpu")
        self.indptr = _dev.as_torch(indptr).to(self.device, torch.int64)
        self.indices = _dev.as_torch(indices).to(self.device, torch.int64)
        self.edge_ids = None if eids is None else _dev.as_torch(eids).to(self.device, torch.int64)
        self.num_nodes = self.indptr.numel() - 1
        self._local = torch.full((self.num_nodes,), -1, dtype=torch.int64, device=self.device)
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint32)[0])
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(int(seed))

    def _seeds(self, seeds: Any) -> torch.Tensor:
        s = seeds if isinstance(seeds, torch.Tensor) else torch.as_tensor(np.asarray(seeds, dtype=np.int64))
        if s.dim() != 1:
            raise ValueError(f"seeds must be 1-D, got shape {tuple(s.shape)}")
        if s.dtype.is_floating_point or s.dtype == torch.bool:
            raise TypeError(f"seeds must hold integers, got dtype {s.dtype}")
        s = s.to(self.device, torch.int64)
        if s.numel():
            lo, hi = int(s.min()), int(s.max())
            if lo < 0 or hi >= self.num_nodes:
                raise ValueError(f"seeds must lie in [0, {self.num_nodes}), found {lo if lo < 0 else hi}")
            if torch.unique(s).numel() != s.numel():
                raise ValueError("seeds must be distinct")
        return s

    def _hop(self, frontier: torch.Tensor, k: int):
        """(row position in frontier, edge position) of the sampled edges of every frontier node."""
        start = self.indptr[frontier]
        deg = self.indptr[frontier + 1] - start
        rows = torch.arange(frontier.numel(), device=self.device)
        if k < 0:
            take_all = torch.ones_like(deg, dtype=torch.bool)
        else:
            take_all = deg <= k
        a_rows = rows[take_all]
        a_len = deg[take_all]
        a_row = torch.repeat_interleave(a_rows, a_len)
        a_pos = torch.repeat_interleave(start[take_all], a_len) + _segment_arange(a_len)
        big = ~take_all
        if k > 0 and bool(big.any()):
            off = floyd_sample(deg[big], k, self.generator)
            b_row = rows[big].repeat_interleave(k)
            b_pos = (start[big][:, None] + off).flatten()
            row = torch.cat([a_row, b_row])
            pos = torch.cat([a_pos, b_pos])
            order = torch.sort(row, stable=True).indices  # edges grouped by sampling node
            return row[order], pos[order]
        return a_row, a_pos

    def sample(self, seeds: Any) -> SampledSubgraph:
        """The sampled computation graph of ``seeds`` (distinct node ids).

        Raises:
            TypeError / ValueError: non-integer, repeated or out-of-range seeds.
        """
        seeds = self._seeds(seeds)
        local = self._local
        nodes = [seeds]
        local[seeds] = torch.arange(seeds.numel(), device=self.device)
        count = seeds.numel()
        frontier, frontier_base = seeds, 0
        srcs, dsts, poss = [], [], []
        nodes_per_hop, edges_per_hop = [seeds.numel()], []
        for k in self.fanouts:
            row, pos = self._hop(frontier, k)
            nbr = self.indices[pos]
            # new nodes in order of first appearance
            uniq, inv = torch.unique(nbr, return_inverse=True)
            first = torch.full((uniq.numel(),), pos.numel(), dtype=torch.int64, device=self.device)
            first.scatter_reduce_(0, inv, torch.arange(pos.numel(), device=self.device), reduce="amin")
            fresh = uniq[local[uniq] < 0]
            fresh = fresh[torch.sort(first[local[uniq] < 0]).indices]
            local[fresh] = torch.arange(count, count + fresh.numel(), device=self.device)
            count += fresh.numel()
            srcs.append(local[nbr])
            dsts.append(row + frontier_base)
            poss.append(pos)
            nodes.append(fresh)
            nodes_per_hop.append(fresh.numel())
            edges_per_hop.append(pos.numel())
            frontier_base += frontier.numel()
            frontier = fresh
        n_id = torch.cat(nodes)
        local[n_id] = -1  # reset for the next batch
        pos = torch.cat(poss)
        e_id = pos if self.edge_ids is None else self.edge_ids[pos]
        return SampledSubgraph(
            n_id=n_id,
            edge_index=torch.stack([torch.cat(srcs), torch.cat(dsts)]),
            e_id=e_id,
            batch_size=seeds.numel(),
            num_sampled_nodes=nodes_per_hop,
            num_sampled_edges=edges_per_hop,
        )


class GPUNeighborLoader:
    """Mini-batches of a :class:`GPUNeighborSampler` with features from a FeatureStore.

    Iterating yields ``torch_geometric.data.Data`` batches like PyG's NeighborLoader: ``x``
    (gathered by the store, through its cache), ``edge_index``, ``y`` (labels of the sampled
    nodes when given), ``n_id``, ``e_id``, ``batch_size`` (the seeds are the first
    ``batch_size`` nodes). While the caller trains on batch i, batch i+1 is already sampled
    and its missing feature rows are being read (:meth:`FeatureStore.prefetch`).

    Args:
        sampler: the sampler. store: the features (rows = nodes).
        input_nodes: (M,) seed nodes of the epoch (default all). batch_size: seeds per batch.
        labels: (N,) or (N, C) tensor of labels, indexed by ``n_id``, or None.
        shuffle: reshuffle the seeds every epoch (seeded by ``seed`` and the epoch).
        prefetch: overlap as above.

    Example::

        loader = GPUNeighborLoader(GPUNeighborSampler(graph, [15, 10]), store, batch_size=1024, labels=y)
        for batch in loader:
            out = model(batch.x, batch.edge_index)[: batch.batch_size]
    """

    def __init__(self, sampler: GPUNeighborSampler, store: Any, input_nodes: Any = None, batch_size: int = 1024,
                 labels: Any = None, shuffle: bool = True, prefetch: bool = True, seed: int = 0) -> None:
        if store.num_rows != sampler.num_nodes:
            raise ValueError(f"store has {store.num_rows} rows, graph has {sampler.num_nodes} nodes")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.sampler, self.store = sampler, store
        nodes = torch.arange(sampler.num_nodes) if input_nodes is None else sampler._seeds(input_nodes).cpu()
        self.input_nodes = nodes
        self.batch_size = int(batch_size)
        self.labels = None if labels is None else _dev.as_torch(labels).to(sampler.device)
        if self.labels is not None and self.labels.shape[0] != sampler.num_nodes:
            raise ValueError(f"labels has {self.labels.shape[0]} rows, graph has {sampler.num_nodes} nodes")
        self.shuffle, self.prefetch = bool(shuffle), bool(prefetch)
        self.seed, self._epoch = int(seed), 0

    def __len__(self) -> int:
        return -(-self.input_nodes.numel() // self.batch_size)

    def __iter__(self) -> Iterator:
        nodes = self.input_nodes
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + self._epoch)
            nodes = nodes[torch.randperm(nodes.numel(), generator=gen)]
        self._epoch += 1
        batches = list(torch.split(nodes, self.batch_size))
        cur = self.sampler.sample(batches[0]) if batches else None
        for i in range(len(batches)):
            x = self.store.gather(cur.n_id)
            nxt = self.sampler.sample(batches[i + 1]) if i + 1 < len(batches) else None
            if nxt is not None and self.prefetch:
                self.store.prefetch(nxt.n_id)
            y = None if self.labels is None else self.labels[cur.n_id]
            yield cur.to_data(x=x.to(self.sampler.device), y=y)
            cur = nxt
