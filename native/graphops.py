"""Graph operations on a CSRGraph: common-neighbour counts and sparse-dense matmul (spmm).

Both run on the graph's device (Numba on the CPU, torch on CUDA) and return the type of
their array argument: numpy in, numpy out; torch in, torch out on the argument's device.
No autograd: the results are plain arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from native import device as _dev
from native.csr import CSRGraph, _coerce, _dtype_name, _is_torch, _kind, _target

_SPMM_REDUCTIONS = ("sum", "mean")


def _like(out: Any, x: Any) -> Any:
    """``out`` as a torch tensor on x's device when ``x`` is a tensor, else as numpy."""
    return _dev.as_torch(out).to(x.device) if _is_torch(x) else _dev.as_numpy(out)


def common_neighbors(graph: CSRGraph, pairs: Any):
    """Number of distinct common out-neighbours of each node pair.

    The count for (u, v) is |N(u) & N(v)| with N(x) the *set* of out-neighbours of x:
    duplicate edges count once, and a self-loop makes x its own neighbour. In matrix terms
    it is (B @ B.T)[u, v] for the 0/1 adjacency B; on a symmetric graph without self-loops
    it equals ``networkx.common_neighbors``. Rows are intersected by sorted merge, pairs in
    parallel.

    Args:
        graph: the graph.
        pairs: (2, B) or (B, 2) integer node ids (a (2, 2) batch is read as (2, B)).

    Returns:
        (B,) int64 counts; numpy, or torch when ``pairs`` is a torch tensor.

    Raises:
        TypeError: non-integer ids. ValueError: another shape, ids outside [0, N).
    """
    p = _coerce(pairs, "pairs", _target(graph.indptr), ndim=2)
    if p.shape[0] == 2:
        u, v = p[0], p[1]
    elif p.shape[1] == 2:
        u, v = p[:, 0], p[:, 1]
    else:
        raise ValueError(f"pairs must have shape (2, B) or (B, 2), got {tuple(p.shape)}")
    u, v = graph._node_ids(u, "pairs"), graph._node_ids(v, "pairs")
    out = _dev.dispatch("graphops.common_neighbors", graph.device)(graph.indptr, graph.indices, u, v)
    return _like(out, pairs)


def spmm(graph: CSRGraph, X: Any, reduce: str = "sum"):
    """Sparse-dense product ``A @ X``: row i of the result aggregates X over i's out-neighbours.

    ``A[i, j]`` is the edge's weight (1 without weights), duplicates adding up. PyG's
    ``propagate`` aggregates at edge *targets*; for that build the graph from
    ``edge_index.flip(0)``.

    Args:
        graph: the graph (N nodes).
        X: (N, F) features, numpy or torch on the graph's device; float32 and float64 are
            kept, other real dtypes become float32.
        reduce: 'sum', or 'mean' (divided by the number of stored edges in the row; rows
            without edges give 0).

    Returns:
        (N, F) array in X's float dtype; numpy or torch like ``X``.

    Raises:
        ValueError: unknown reduce, X not (N, F). TypeError: complex or non-numeric X.
    """
    if reduce not in _SPMM_REDUCTIONS:
        raise ValueError(f"reduce must be one of {_SPMM_REDUCTIONS}, got {reduce!r}")
    Xc = _coerce(X, "X", _target(graph.indptr), ndim=2)
    if Xc.shape[0] != graph.num_nodes:
        raise ValueError(f"X has {Xc.shape[0]} rows, graph has {graph.num_nodes} nodes")
    if _kind(Xc) not in "ifb":
        raise TypeError(f"X must hold real numbers, got dtype {_dtype_name(Xc)}")
    dtype = _dtype_name(Xc) if _dtype_name(Xc) in ("float32", "float64") else "float32"
    if _is_torch(Xc):
        import torch

        Xc = Xc.to(getattr(torch, dtype)).contiguous()
    else:
        Xc = np.ascontiguousarray(Xc, dtype=dtype)
    out = _dev.dispatch("graphops.spmm", graph.device)(
        graph.indptr, graph.indices, graph.weights, Xc, reduce == "mean"
    )
    return _like(out, X)
