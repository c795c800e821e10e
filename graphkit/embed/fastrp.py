"""FastRP: node embeddings by very sparse random projection of powers of the transition matrix.

H. Chen, S. F. Sultan, Y. Tian, M. Chen, S. Skiena, *Fast and Accurate Network Embeddings
via Very Sparse Random Projection*, CIKM 2019 (Algorithm 1).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from native import device as _dev
from native.csr import CSRGraph
from native.graphops import spmm


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def very_sparse_projection(num_rows: int, dim: int, s: float, seed: int = 0) -> np.ndarray:
    """A (num_rows, dim) float32 very sparse random projection matrix (Li, Hastie, Church 2006).

    Every entry is independently ``sqrt(s)`` with probability 1/(2s), ``-sqrt(s)`` with
    probability 1/(2s) and 0 otherwise, so E[R_ij] = 0 and E[R_ij^2] = 1.

    Args:
        num_rows: rows (nodes). dim: columns (embedding dimension).
        s: sparsity, >= 1 (s = 1: dense Rademacher; s = 3: Achlioptas; s = sqrt(n): very sparse).
        seed: random seed.

    Raises:
        ValueError: s < 1, negative sizes.
    """
    if not (isinstance(s, (int, float, np.floating, np.integer)) and s >= 1):
        raise ValueError(f"s must be a number >= 1, got {s!r}")
    if num_rows < 0 or dim < 0:
        raise ValueError(f"num_rows and dim must be >= 0, got {num_rows} and {dim}")
    rng = np.random.default_rng(seed)
    u = rng.random((num_rows, dim), dtype=np.float32)
    v = np.float32(math.sqrt(s))
    half = np.float32(1.0 / (2.0 * s))
    out = np.zeros((num_rows, dim), np.float32)
    out[u < half] = v
    out[(u >= half) & (u < 2 * half)] = -v
    return out


class FastRP:
    r"""FastRP node embeddings (training free).

    With S the (weighted) adjacency, D its diagonal of row sums, A = D^{-1} S the transition
    matrix, R a very sparse random projection (entries ±sqrt(s) with probability 1/(2s)
    each, s = sqrt(N) by default) and L = diag((d_j / 2m)^beta) the degree normalisation
    (m: total edge weight / 2):

    .. math::
        N_1 = A L R,\qquad N_i = A N_{i-1},\qquad
        N = \sum_{i=1}^{k} \alpha_i \, \mathrm{rownorm}(N_i)

    ``rownorm`` scales each row of N_i to unit L2 norm (``normalize=True``, the merge of the
    authors' code); the powers are propagated un-normalised. Each power is one sparse-dense
    product on the CSR graph: Numba on the CPU, torch sparse CSR on CUDA
    (:func:`native.graphops.spmm`).

    Args:
        dim: embedding dimension d.
        weights: alpha_1..alpha_k, one per power of A (k = len(weights) >= 1).
        beta: normalisation strength; negative values shrink the contribution of high
            degree nodes.
        s: sparsity of the projection; None takes sqrt(N).
        normalize: L2-normalise each power's rows before the weighted sum.
        seed: seed of the projection (the same on every device).

    Shapes:
        ``edge_index`` (2, E) (row 0 sources; give both directions of undirected edges),
        ``edge_weight`` (E,), result (N, d) float32 on ``edge_index``'s device.

    Example::

        emb = FastRP(dim=512, weights=(0, 0, 1, 6), beta=-0.9)(edge_index, num_nodes)
    """

    def __init__(
        self,
        dim: int = 512,
        weights: Sequence[float] = (0.0, 0.0, 1.0, 6.0),
        beta: float = -0.9,
        s: float | None = None,
        normalize: bool = True,
        seed: int = 0,
    ) -> None:
        if not (_is_int(dim) and dim >= 1):
            raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
        w = [float(a) for a in weights]
        if not w or not all(math.isfinite(a) for a in w):
            raise ValueError(f"weights must be a non-empty sequence of finite numbers, got {weights!r}")
        if not math.isfinite(float(beta)):
            raise ValueError(f"beta must be a finite number, got {beta!r}")
        if s is not None and not (isinstance(s, (int, float, np.integer, np.floating)) and s >= 1):
            raise ValueError(f"s must be None or a number >= 1, got {s!r}")
        if not (_is_int(seed) and seed >= 0):
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.dim = int(dim)
        self.weights = tuple(w)
        self.beta = float(beta)
        self.s = s
        self.normalize = bool(normalize)
        self.seed = int(seed)

    def __repr__(self) -> str:
        return (
            f"FastRP(dim={self.dim}, weights={self.weights}, beta={self.beta}, s={self.s}, "
            f"normalize={self.normalize}, seed={self.seed})"
        )

    def _graph(self, edge_index: Any, num_nodes: int | None, edge_weight: Any):
        """(CSR graph of S on edge_index's device, row sums (N,) float32 torch, reduce)."""
        if isinstance(edge_index, CSRGraph):
            if edge_weight is not None:
                raise ValueError("edge_weight must be None for a CSRGraph (its weights are used)")
            g = edge_index
        else:
            g = CSRGraph.from_edge_index(edge_index, num_nodes=num_nodes, weights=edge_weight)
        if g.weights is None:
            deg = _dev.as_torch(g.degree()).to(torch.float32)
            return g, deg, "mean"
        w = _dev.as_torch(g.weights).to(torch.float64)
        if bool((w < 0).any()):
            raise ValueError("edge_weight must be non-negative for a transition matrix")
        rows = torch.repeat_interleave(
            torch.arange(g.num_nodes, device=w.device), _dev.as_torch(g.degree()).to(w.device)
        )
        deg = torch.zeros(g.num_nodes, dtype=torch.float64, device=w.device).index_add_(0, rows, w)
        inv = torch.where(deg > 0, 1.0 / deg, torch.zeros_like(deg))
        wn = (w * inv[rows]).to(torch.float32)
        wn = wn if _dev.device_of(g.indptr) == _dev.CUDA else wn.numpy()
        g = CSRGraph._trusted(g.indptr, g.indices, wn, g.edge_ids, g.timestamps)
        return g, deg.to(torch.float32), "sum"

    def __call__(self, edge_index: Any, num_nodes: int | None = None, edge_weight: Any = None) -> torch.Tensor:
        """Embeddings of all nodes, (N, dim) float32 on ``edge_index``'s device.

        Args:
            edge_index: (2, E) integer tensor/array, or a :class:`native.CSRGraph`.
            num_nodes: N; default max id + 1.
            edge_weight: (E,) non-negative weights; None for 1.

        Raises:
            TypeError / ValueError: bad edge_index, ids outside [0, N), negative weights.
        """
        g, deg, reduce = self._graph(edge_index, num_nodes, edge_weight)
        n = g.num_nodes
        dev = deg.device
        s = math.sqrt(n) if self.s is None else float(self.s)
        R = torch.from_numpy(very_sparse_projection(n, self.dim, max(s, 1.0), self.seed)).to(dev)
        total = deg.sum()
        scale = torch.zeros_like(deg)
        pos = deg > 0
        scale[pos] = (deg[pos] / total).pow(self.beta)
        cur = R * scale[:, None]
        out = torch.zeros(n, self.dim, dtype=torch.float32, device=dev)
        for alpha in self.weights:
            cur = spmm(g, cur, reduce=reduce)
            if alpha == 0.0:
                continue
            if self.normalize:
                out += alpha * cur / cur.norm(dim=1, keepdim=True).clamp_min(1e-30)
            else:
                out += alpha * cur
        return out

