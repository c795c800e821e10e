"""Common-neighbour sets of node pairs, computed by the storage core's kernels.

:func:`link_graph` turns a PyG ``edge_index`` into the sorted, duplicate-free
:class:`native.CSRGraph` the kernels need; :func:`common_neighbor_sets` returns, for a batch
of pairs, their common neighbours (and optionally the one-sided remainders NCNC completes)
as CSR-style ``(ptr, nodes)`` tensors. The work runs in ``native``: Numba on the CPU, torch
ops on CUDA (through ``native.device``), never a Python loop over pairs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from graphkit._checks import check_edge_index
from native import device as _dev
from native.csr import CSRGraph
from native.kernels import linkpred as _cpu  # noqa: F401 - registers the CPU kernels
from native.kernels import linkpred_cuda as _cuda  # noqa: F401 - registers the CUDA kernels


class PairSets(NamedTuple):
    """Node sets of a batch of B pairs in CSR form: pair b owns ``nodes[ptr[b]:ptr[b+1]]``.

    ``ptr`` (B+1,) int64, ``nodes`` (ptr[-1],) int64, both on the pairs' device.
    """

    ptr: torch.Tensor
    nodes: torch.Tensor

    def pair_index(self) -> torch.Tensor:
        """(ptr[-1],) int64: the pair each entry of ``nodes`` belongs to."""
        counts = self.ptr.diff()
        return torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), counts)

    def counts(self) -> torch.Tensor:
        """(B,) int64 set sizes."""
        return self.ptr.diff()


def link_graph(edge_index: torch.Tensor, num_nodes: int | None = None) -> CSRGraph:
    """The CSR adjacency of ``edge_index`` (rows = sources), sorted and without duplicates.

    Self-loops are dropped (a node is not its own common neighbour). Pass both directions
    of an undirected graph. The graph lives on edge_index's device (numpy arrays on the CPU,
    torch tensors on CUDA).

    Args:
        edge_index: (2, E) integer tensor.
        num_nodes: N (default: max id + 1).

    Returns:
        native.CSRGraph with N nodes.
    """
    n = check_edge_index(edge_index, num_nodes)
    ei = edge_index[:, edge_index[0] != edge_index[1]].long()
    if ei.device.type == "cuda":
        g = CSRGraph.from_edge_index(ei, num_nodes=n)
    else:
        g = CSRGraph.from_edge_index(ei.numpy(), num_nodes=n)
    return g.dedup()


def _as_graph(graph, num_nodes=None) -> CSRGraph:
    if isinstance(graph, CSRGraph):
        return graph
    return link_graph(graph, num_nodes)


def _pairs(graph: CSRGraph, pairs: torch.Tensor):
    if not torch.is_tensor(pairs):
        raise TypeError(f"pairs must be a torch tensor, got {type(pairs).__name__}")
    if pairs.dim() != 2 or pairs.shape[0] != 2:
        raise ValueError(f"pairs must have shape (2, B), got {tuple(pairs.shape)}")
    u = graph._node_ids(_kernel_array(pairs[0], graph), "pairs")
    v = graph._node_ids(_kernel_array(pairs[1], graph), "pairs")
    return u, v


def _kernel_array(t: torch.Tensor, graph: CSRGraph):
    """``t`` as the array type of the graph's kernels (numpy on the CPU)."""
    if graph.device == _dev.CPU:
        return t.detach().cpu().numpy()
    return t.to(graph.indptr.device)


def _out(a, like: torch.Tensor) -> torch.Tensor:
    return _dev.as_torch(a).to(like.device)


def common_neighbor_sets(graph, pairs: torch.Tensor, residual: bool = False, num_nodes: int | None = None):
    """Common neighbours N(u) & N(v) of every pair, and optionally the remainders.

    Args:
        graph: a ``CSRGraph`` from :func:`link_graph` (sorted, duplicate-free rows), or an
            ``edge_index`` (2, E) to build one from.
        pairs: (2, B) integer tensor of pairs (u, v).
        residual: also return N(u) - N(v) - {v} and N(v) - N(u) - {u} (what NCNC completes).
        num_nodes: N when ``graph`` is an edge_index.

    Returns:
        PairSets of the common neighbours; with ``residual`` a tuple
        (common, only_u, only_v) of PairSets. Tensors on the pairs' device, nodes ascending
        within each pair.

    Raises:
        TypeError / ValueError: pairs not an integer (2, B) tensor, ids outside [0, N).
    """
    g = _as_graph(graph, num_nodes)
    u, v = _pairs(g, pairs)
    cp, cn, up, un, vp, vn = _dev.dispatch("linkpred.pair_sets", g.device)(g.indptr, g.indices, u, v, residual)
    common = PairSets(_out(cp, pairs), _out(cn, pairs))
    if not residual:
        return common
    return common, PairSets(_out(up, pairs), _out(un, pairs)), PairSets(_out(vp, pairs), _out(vn, pairs))


def weighted_common_neighbors(graph, pairs: torch.Tensor, node_weight, num_nodes: int | None = None) -> torch.Tensor:
    """sum_{w in N(u) & N(v)} node_weight[w] for every pair, (B,) float64 (see heuristics)."""
    g = _as_graph(graph, num_nodes)
    u, v = _pairs(g, pairs)
    w = node_weight
    if g.device == _dev.CPU:
        w = np.ascontiguousarray(_dev.as_numpy(w), dtype=np.float64)
    else:
        w = torch.as_tensor(w, device=g.indptr.device, dtype=torch.float64)
    if w.shape[0] != g.num_nodes:
        raise ValueError(f"node_weight has {w.shape[0]} entries, graph has {g.num_nodes} nodes")
    return _out(_dev.dispatch("linkpred.weighted_cn", g.device)(g.indptr, g.indices, u, v, w), pairs)
