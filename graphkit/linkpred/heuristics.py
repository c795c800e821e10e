"""Neighbourhood heuristics for link prediction: common neighbours, Adamic-Adar, resource
allocation. All three are sums over the common neighbours w of a pair (u, v), computed by
the ``native`` kernels, and equal networkx's ``common_neighbors`` / ``adamic_adar_index`` /
``resource_allocation_index`` on an undirected simple graph:

    CN(u, v) = |N(u) & N(v)|
    AA(u, v) = sum_w 1 / log |N(w)|          (Adamic & Adar, Social Networks 2003)
    RA(u, v) = sum_w 1 / |N(w)|              (Zhou, Lu & Zhang, Eur. Phys. J. B 2009)
"""

from __future__ import annotations

import numpy as np
import torch

from graphkit.linkpred.neighbors import _as_graph, _kernel_array, _out, weighted_common_neighbors

HEURISTICS = ("cn", "aa", "ra")


def _check_name(name: str) -> None:
    if name not in HEURISTICS:
        raise ValueError(f"heuristic must be one of {HEURISTICS}, got {name!r}")


def node_weight(name: str, graph) -> np.ndarray:
    """(N,) float64 weight a common neighbour w adds to a pair's score under heuristic ``name``:
    1 (CN), 1 / log deg w (AA; 0 below degree 2, where w cannot be common), 1 / deg w (RA)."""
    from native import device as _dev

    _check_name(name)
    deg = _dev.as_numpy(graph.degree()).astype(np.float64)
    if name == "cn":
        return np.ones(deg.shape[0])
    if name == "aa":
        with np.errstate(divide="ignore"):
            return np.where(deg > 1, 1.0 / np.log(np.maximum(deg, 2)), 0.0)
    return np.where(deg > 0, 1.0 / np.maximum(deg, 1), 0.0)


def common_neighbors(edge_index, pairs: torch.Tensor, num_nodes: int | None = None) -> torch.Tensor:
    """|N(u) & N(v)| for every pair.

    Args:
        edge_index: (2, E) tensor with both directions of every undirected edge, or a
            ``CSRGraph`` from :func:`graphkit.linkpred.link_graph`.
        pairs: (2, B) integer tensor.
        num_nodes: N (default: max id + 1).

    Returns:
        (B,) float64 tensor on the pairs' device.
    """
    g = _as_graph(edge_index, num_nodes)
    return weighted_common_neighbors(g, pairs, np.ones(g.num_nodes))


def adamic_adar(edge_index, pairs: torch.Tensor, num_nodes: int | None = None) -> torch.Tensor:
    """sum over common neighbours w of 1 / log(deg w); (B,) float64. Args as :func:`common_neighbors`."""
    g = _as_graph(edge_index, num_nodes)
    return weighted_common_neighbors(g, pairs, node_weight("aa", g))


def resource_allocation(edge_index, pairs: torch.Tensor, num_nodes: int | None = None) -> torch.Tensor:
    """sum over common neighbours w of 1 / deg w; (B,) float64. Args as :func:`common_neighbors`."""
    g = _as_graph(edge_index, num_nodes)
    return weighted_common_neighbors(g, pairs, node_weight("ra", g))


def heuristic(name: str, edge_index, pairs: torch.Tensor, num_nodes: int | None = None) -> torch.Tensor:
    """The heuristic ``name`` ('cn', 'aa' or 'ra') of every pair.

    Raises:
        ValueError: an unknown name.
    """
    _check_name(name)
    fns = {"cn": common_neighbors, "aa": adamic_adar, "ra": resource_allocation}
    return fns[name](edge_index, pairs, num_nodes)


def two_hop_candidates(edge_index, queries, k: int, heuristic: str = "ra", num_nodes: int | None = None,
                       block: int = 1024):
    """The ``k`` best new links of every query node among the nodes two hops away.

    Every node v sharing a neighbour with query u (v != u, v not already a neighbour) is
    scored by the heuristic's sum over the common neighbours (CN, AA or RA, as the pair
    functions above); the k highest are returned, ties by ascending id. Cost per query is
    the sum of its neighbours' degrees, independent of N: a candidate generator for
    whole-graph link prediction (:class:`CandidateReranker` with ``source='two_hop'``).

    Args:
        edge_index: (2, E) tensor with both directions of every undirected edge, or a
            ``CSRGraph`` from :func:`graphkit.linkpred.link_graph`.
        queries: (n,) node ids.
        k: candidates per query (>= 1).
        heuristic: 'cn', 'aa' or 'ra'.
        num_nodes: N (default: max id + 1).
        block: queries per kernel call (bounds the GPU path's memory).

    Returns:
        (scores (n, k) float64, ids (n, k) int64) tensors on the queries' device; rows
        with fewer than k two-hop nodes are padded with (-inf, -1).
    """
    from native import device as _dev

    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    g = _as_graph(edge_index, num_nodes)
    w = node_weight(heuristic, g)
    q = torch.as_tensor(queries).reshape(-1)
    qa = g._node_ids(_kernel_array(q, g), "queries")
    if g.device != _dev.CPU:
        w = torch.as_tensor(w, device=g.indptr.device)
    kernel = _dev.dispatch("linkpred.two_hop_top_k", g.device)
    parts = [kernel(g.indptr, g.indices, qa[i:i + block], w, int(k)) for i in range(0, qa.shape[0], block)]
    if not parts:
        return torch.empty((0, int(k)), dtype=torch.float64), torch.empty((0, int(k)), dtype=torch.int64)
    ids = torch.cat([_out(p[0], q) for p in parts])
    scores = torch.cat([_out(p[1], q) for p in parts])
    return scores, ids
