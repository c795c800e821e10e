"""Uniform neighbour sampling on a CSRGraph: one hop, or multi-hop like PyG's NeighborLoader.

A node's neighbours are its out-neighbours (its CSR row). For PyG's message-passing
convention (a node aggregates from the sources of its incoming edges) build the graph from
``edge_index.flip(0)``, or use an undirected graph.

Sampling is deterministic for a given ``seed``: every expanded node draws from its own
random stream, derived from the seed, the hop and the node's position in the batch, so
results do not depend on the number of threads. CUDA graphs sample on the GPU,
deterministically for a seed but with other draws than the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from native import device as _dev
from native.csr import CSRGraph, _cast


@dataclass(frozen=True)
class NeighborSample:
    """The sampled computation graph of :func:`sample_neighbors` (numpy on CPU, torch on CUDA).

    Attributes:
        nodes: (n,) int64 global ids: the seeds first, then the nodes each hop added, in
            order of first appearance.
        row: (e,) int64 local id (index into ``nodes``) of the node whose edge was sampled.
        col: (e,) int64 local id of the sampled neighbour; edge ``t`` is the graph edge
            ``nodes[row[t]] -> nodes[col[t]]``.
        edge_ids: (e,) int64 ids of the sampled edges (see :mod:`native.csr`).
        num_sampled_nodes: H+1 ints, nodes added per hop (the first entry counts the seeds).
        num_sampled_edges: H ints, edges sampled per hop; the edges are grouped by hop.
    """

    nodes: Any
    row: Any
    col: Any
    edge_ids: Any
    num_sampled_nodes: list[int]
    num_sampled_edges: list[int]

    def to_pyg_edge_index(self):
        """(2, e) int64 torch tensor ``[col; row]``: messages flow from each sampled neighbour
        to the node that sampled it, as in PyG's NeighborLoader output."""
        import torch

        return torch.stack([_dev.as_torch(self.col), _dev.as_torch(self.row)])


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _fanout(k: Any, name: str) -> int:
    if not (_is_int(k) and k >= -1):
        raise ValueError(f"{name} must be an integer >= -1 (-1: all neighbours), got {k!r}")
    return int(k)


def _seed(seed: Any) -> int:
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
    if not (_is_int(seed) and 0 <= seed < 2**64):
        raise ValueError(f"seed must be an integer in [0, 2**64) or None, got {seed!r}")
    return int(seed)


def sample_one_hop(graph: CSRGraph, seeds: Any, k: int, replace: bool = False, seed: int | None = None):
    """Sample ``k`` out-neighbours of every seed, uniformly.

    Args:
        graph: the graph.
        seeds: (B,) node ids (repeats allowed; each copy samples independently).
        k: neighbours per seed; -1 takes all. Without replacement a seed of degree d gets
            min(k, d) distinct edges (in CSR order); with replacement exactly k (0 if d = 0).
        replace: sample with replacement.
        seed: random seed in [0, 2**64); None draws one from the OS.

    Returns:
        (counts, neighbors, edge_ids): (B,) int64 samples per seed, and (counts.sum(),) int64
        neighbour ids and edge ids grouped by seed in seed order. numpy on CPU, torch on CUDA.

    Raises:
        TypeError / ValueError: bad seeds, k or seed.
    """
    seeds = graph._node_ids(seeds, "seeds")
    counts, pos = _dev.dispatch("sampling.one_hop", graph.device)(
        graph.indptr, seeds, _fanout(k, "k"), bool(replace), _seed(seed)
    )
    return counts, _cast(graph.indices[pos], "int64"), graph._edge_ids_at(pos)


def sample_neighbors(
    graph: CSRGraph,
    seeds: Any,
    fanouts: Sequence[int],
    replace: bool = False,
    seed: int | None = None,
) -> NeighborSample:
    """Multi-hop uniform neighbour sampling (PyG NeighborLoader, ``directed=True``).

    Hop ``h`` samples ``fanouts[h]`` out-neighbours of every node that hop ``h-1`` added
    (the seeds for hop 0), with :func:`sample_one_hop`'s rules; each node is expanded once.
    Only the sampled edges are returned, not the induced subgraph.

    Args:
        graph: the graph.
        seeds: (B,) distinct node ids.
        fanouts: neighbours per node for each hop; -1 takes all.
        replace: sample with replacement.
        seed: random seed in [0, 2**64); None draws one from the OS.

    Returns:
        A :class:`NeighborSample`.

    Raises:
        TypeError / ValueError: bad or repeated seeds, fan-outs below -1, a bad seed.
    """
    seeds = graph._node_ids(seeds, "seeds", distinct=True)
    fanouts = np.array([_fanout(k, "fanouts entries") for k in fanouts], dtype=np.int64)
    nodes, row, col, pos, nodes_per_hop, edges_per_hop = _dev.dispatch(
        "sampling.multi_hop", graph.device
    )(graph.indptr, graph.indices, seeds, fanouts, bool(replace), _seed(seed))
    return NeighborSample(
        nodes=nodes,
        row=row,
        col=col,
        edge_ids=graph._edge_ids_at(pos),
        num_sampled_nodes=nodes_per_hop.tolist(),
        num_sampled_edges=edges_per_hop.tolist(),
    )
