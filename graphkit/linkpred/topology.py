"""Topological concentration (TC): how much a node's neighbourhood overlaps with its
neighbours' neighbourhoods, a predictor of how well GNN link prediction works at that node.

    TC(i) = mean_{j in N(i)}  sum_{k1,k2 <= K} beta^(k1+k2-2) |H_i^k1 & H_j^k2| / |H_i^k1 | H_j^k2|
            / sum_{k1,k2 <= K} beta^(k1+k2-2)

with H_x^k the nodes exactly k hops from x (K = 1: the mean Jaccard similarity of N(i)
and N(j) over the neighbours j). The exact value is a native kernel (breadth-first search
per node and neighbour, nodes in parallel). The approximation ATC propagates random
Gaussian vectors, R = sum_{l=1..K} beta^(l-1) Z_l with Z_l = rownorm(A Z_{l-1}) and
Z_0 (N, d) ~ N(0, 1), and averages the cosine of R_i and R_j over the neighbours j: K sparse
products instead of one search per edge. At K = 1 the cosine estimates
|N(i) & N(j)| / sqrt(|N(i)| |N(j)|) (Salton's index) where TC averages the Jaccard index;
the error of the estimate shrinks as 1 / sqrt(d).

Paper: Y. Wang, T. Zhao, Y. Zhao, Y. Liu, X. Cheng, N. Shah, T. Derr, "A Topological
Perspective on Demystifying GNN-Based Link Prediction Performance", ICLR 2024 / KDD 2024
(reference code: YuWVandy/Topo_LP_GNN). The ATC here follows the paper's idea (random
projections propagated over the graph compared across edges); its normalisation is ours.
"""

from __future__ import annotations

import numpy as np
import torch

from native import device as _dev
from graphkit._checks import check_edge_index
from graphkit.linkpred.neighbors import _as_graph


def topological_concentration(edge_index, num_nodes: int | None = None, hops: int = 1, beta: float = 0.5,
                              nodes: torch.Tensor | None = None) -> torch.Tensor:
    """Exact topological concentration of every node (or of ``nodes``).

    Args:
        edge_index: (2, E) undirected graph (both directions), or a ``CSRGraph`` from
            :func:`graphkit.linkpred.link_graph`.
        num_nodes: N. hops: K >= 1. beta: weight decay per hop, > 0.
        nodes: (n,) node ids (default all).

    Returns:
        (n,) float64 tensor; NaN for isolated nodes. Runs on the CPU (the graph is moved there).

    Raises:
        ValueError: hops < 1, beta <= 0, ids outside [0, N).
    """
    if isinstance(hops, bool) or int(hops) != hops or hops < 1:
        raise ValueError(f"hops must be an integer >= 1, got {hops!r}")
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta!r}")
    g = _as_graph(edge_index, num_nodes).to("cpu")
    ids = np.arange(g.num_nodes, dtype=np.int64) if nodes is None else g._node_ids(_dev.as_numpy(nodes), "nodes")
    out = _dev.dispatch("linkpred.tc", "cpu")(g.indptr, g.indices, ids, int(hops), float(beta))
    return torch.from_numpy(out)


def random_projection_embedding(edge_index: torch.Tensor, num_nodes: int, hops: int = 1, beta: float = 0.5,
                                dim: int = 128, seed: int = 0, normalize: bool = True) -> torch.Tensor:
    """R = sum_{l=1..K} beta^(l-1) Z_l, Z_l = rownorm(A Z_{l-1}), Z_0 (N, d) ~ N(0, 1); (N, d) float64.

    With ``normalize`` False, Z_l = A Z_{l-1} and Z_0 ~ N(0, 1/d): then R_i . R_j estimates
    the number of common neighbours |N(i) & N(j)| at K = 1.

    cos(R_i, R_j) estimates the overlap of the neighbourhoods of i and j (at K = 1,
    |N(i) & N(j)| / sqrt(|N(i)| |N(j)|)): the structure vectors of ATC, and candidate
    vectors for retrieval by common neighbours.
    """
    check_edge_index(edge_index, num_nodes)
    if isinstance(hops, bool) or int(hops) != hops or hops < 1:
        raise ValueError(f"hops must be an integer >= 1, got {hops!r}")
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim!r}")
    dev = edge_index.device
    ei = edge_index[:, edge_index[0] != edge_index[1]]
    A = torch.sparse_coo_tensor(torch.stack([ei[1], ei[0]]), torch.ones(ei.shape[1], dtype=torch.float64, device=dev),
                                (num_nodes, num_nodes), check_invariants=False).coalesce()  # ids checked above
    gen = torch.Generator(device="cpu").manual_seed(seed)
    z = torch.randn(num_nodes, dim, generator=gen, dtype=torch.float64).to(dev)
    if not normalize:
        z = z / dim ** 0.5
    r = torch.zeros_like(z)
    for k in range(hops):
        z = torch.sparse.mm(A, z)
        if normalize:
            z = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
        r = r + beta ** k * z
    return r


def approximate_topological_concentration(edge_index: torch.Tensor, num_nodes: int, hops: int = 1,
                                          beta: float = 0.5, dim: int = 128, seed: int = 0) -> torch.Tensor:
    """Approximate TC (ATC) of every node by propagated random projections.

    Args:
        edge_index: (2, E) undirected graph (both directions). num_nodes: N.
        hops: K >= 1. beta: weight decay per hop. dim: d, random dimensions. seed: of Z.

    Returns:
        (N,) float64 tensor on edge_index's device; NaN for isolated nodes.
    """
    r = random_projection_embedding(edge_index, num_nodes, hops, beta, dim, seed)
    r = r / r.norm(dim=1, keepdim=True).clamp_min(1e-12)
    ei = edge_index[:, edge_index[0] != edge_index[1]]
    src, dst = ei[0], ei[1]
    deg = torch.zeros(num_nodes, dtype=torch.float64, device=r.device).index_add_(
        0, dst, torch.ones(dst.numel(), dtype=torch.float64, device=r.device))
    cos = (r[src] * r[dst]).sum(1)
    total = torch.zeros(num_nodes, dtype=torch.float64, device=r.device).index_add_(0, dst, cos)
    return torch.where(deg > 0, total / deg.clamp_min(1), torch.full_like(total, float("nan")))


def per_node_hits(pos_pairs: torch.Tensor, pos_scores: torch.Tensor, neg_scores: torch.Tensor,
                  num_nodes: int, k: int = 100) -> torch.Tensor:
    """Per-node Hits@K: for each node, the fraction of its held-out links (as either end)
    scoring above the k-th highest negative score. (N,) float64, NaN without held-out links."""
    neg = neg_scores.detach().double().cpu()
    kth = torch.topk(neg, min(k, neg.numel())).values[-1] if neg.numel() >= k else torch.tensor(-float("inf"))
    hit = (pos_scores.detach().double().cpu() > kth).double()
    ends = pos_pairs.cpu().reshape(-1)
    hits = torch.zeros(num_nodes, dtype=torch.float64).index_add_(0, ends, hit.repeat(2))
    cnt = torch.zeros(num_nodes, dtype=torch.float64).index_add_(0, ends, torch.ones(ends.numel(), dtype=torch.float64))
    return torch.where(cnt > 0, hits / cnt.clamp_min(1), torch.full_like(hits, float("nan")))


def tc_edge_weights(edge_index: torch.Tensor, tc: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """Edge weights for message passing that amplify messages into low-TC nodes.

    w(s -> t) = 1 + strength * (1 - TC(t)) (NaN TC counts as 0): a node whose neighbours
    share little of its neighbourhood, where the paper finds GNN link prediction weakest,
    is pulled harder towards its neighbours. Pass the result as ``edge_weight`` to the
    encoders of :mod:`graphkit.linkpred` (GCN normalisation is applied afterwards).

    Args:
        edge_index: (2, E). tc: (N,) values in [0, 1]. strength: >= 0.

    Returns:
        (E,) float32 tensor on edge_index's device.
    """
    if strength < 0:
        raise ValueError(f"strength must be >= 0, got {strength!r}")
    t = torch.nan_to_num(tc.to(edge_index.device).float(), nan=0.0).clamp(0, 1)
    return 1.0 + strength * (1.0 - t[edge_index[1]])


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two (n,) tensors over entries where both are finite."""
    from scipy.stats import spearmanr

    a, b = a.detach().double().cpu().numpy(), b.detach().double().cpu().numpy()
    ok = np.isfinite(a) & np.isfinite(b)
    return float(spearmanr(a[ok], b[ok]).statistic)
