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

from graphkit.linkpred.neighbors import _as_graph, weighted_common_neighbors

HEURISTICS = ("cn", "aa", "ra")


def _degree(g) -> np.ndarray:
    from native import device as _dev

    return _dev.as_numpy(g.degree()).astype(np.float64)


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
    deg = _degree(g)
    with np.errstate(divide="ignore"):
        w = np.where(deg > 1, 1.0 / np.log(np.maximum(deg, 2)), 0.0)  # a common neighbour has degree >= 2
    return weighted_common_neighbors(g, pairs, w)


def resource_allocation(edge_index, pairs: torch.Tensor, num_nodes: int | None = None) -> torch.Tensor:
    """sum over common neighbours w of 1 / deg w; (B,) float64. Args as :func:`common_neighbors`."""
    g = _as_graph(edge_index, num_nodes)
    deg = _degree(g)
    w = np.where(deg > 0, 1.0 / np.maximum(deg, 1), 0.0)
    return weighted_common_neighbors(g, pairs, w)


def heuristic(name: str, edge_index, pairs: torch.Tensor, num_nodes: int | None = None) -> torch.Tensor:
    """The heuristic ``name`` ('cn', 'aa' or 'ra') of every pair.

    Raises:
        ValueError: an unknown name.
    """
    fns = {"cn": common_neighbors, "aa": adamic_adar, "ra": resource_allocation}
    if name not in fns:
        raise ValueError(f"heuristic must be one of {HEURISTICS}, got {name!r}")
    return fns[name](edge_index, pairs, num_nodes)
