"""CSRGraph: compressed sparse row adjacency with optional weights, edge ids and timestamps.

Row ``i`` of the graph lists the out-neighbours of node ``i``: the edges ``i -> indices[p]``
for ``p`` in ``indptr[i] : indptr[i+1]``, sorted by column within the row (an invariant that
every constructor establishes and ``__init__`` checks). Duplicate edges are kept unless
deduplicated explicitly.

**Edge ids.** ``edge_ids[p]`` says where edge ``p`` came from: the constructors store the
edge's position in their input (column of ``edge_index``, entry of the scipy COO form,
edge of ``G.edges``), and every derived graph (subgraph, dedup, symmetrize, ...) carries
them along, so they always index the arrays of the input the graph was first built from.
A graph without stored ids uses positions in its own edge arrays instead.

Arrays are numpy on the CPU and torch tensors on CUDA (``graph.to("cuda")``); every method
runs its kernel on the graph's device through :mod:`native.device`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from native import container
from native import device as _dev
from native.kernels import graph as _cpu  # noqa: F401 - registers the CPU kernels
from native.kernels import graph_cuda as _cuda  # noqa: F401 - registers the CUDA kernels

KIND = "native.csr"
KIND_VERSION = 1
_REDUCTIONS = ("sum", "max")
_FIELDS = ("indptr", "indices", "weights", "edge_ids", "timestamps")
_INT32_MAX = int(np.iinfo(np.int32).max)


# --------------------------------------------------------------------------- numpy / torch helpers


def _is_torch(a: Any) -> bool:
    return hasattr(a, "detach")


def _dtype_name(a: Any) -> str:
    return str(a.dtype).replace("torch.", "")


def _kind(a: Any) -> str:
    """'i' for any integer dtype, 'f' float, 'b' bool, 'c' complex (numpy or torch)."""
    if not _is_torch(a):
        return "i" if a.dtype.kind in "iu" else a.dtype.kind
    if a.dtype.is_complex:
        return "c"
    if a.dtype.is_floating_point:
        return "f"
    return "b" if _dtype_name(a) == "bool" else "i"


def _cast(a: Any, dtype: str) -> Any:
    """``a`` as dtype ``'int32'``, ``'int64'``, ``'float32'``, ... (no copy when it already is)."""
    if _is_torch(a):
        import torch

        return a.to(getattr(torch, dtype))
    with np.errstate(over="ignore"):  # a float64 beyond float32's range: _check_finite names it
        return a.astype(dtype, copy=False)


def _cat(a: Any, b: Any) -> Any:
    if _is_torch(a):
        import torch

        return torch.cat([a, b])
    return np.concatenate((a, b))


def _arange(n: int, like: Any) -> Any:
    if _is_torch(like):
        import torch

        return torch.arange(n, device=like.device)
    return np.arange(n, dtype=np.int64)


def _first(mask: Any) -> int:
    """Index of the first True in a 1-D boolean array."""
    if _is_torch(mask):
        return int(mask.nonzero()[0, 0])
    return int(np.flatnonzero(mask)[0])


def _take(a: Any, pos: Any) -> Any:
    return None if a is None else a[pos]


def _target(*arrays: Any):
    """None when the arrays should live on the CPU, else the torch device of the first CUDA one."""
    for a in arrays:
        if a is not None and _dev.device_of(a) == _dev.CUDA:
            return a.device
    return None


def _coerce(a: Any, name: str, target, ndim: int = 1) -> Any:
    """``a`` as a numpy array (target None) or a torch tensor on ``target``, of ``ndim`` dims."""
    if not (isinstance(a, np.ndarray) or _is_torch(a)):
        a = np.asarray(a)
        if a.size == 0:  # an empty sequence has no dtype of its own: take it as ids
            a = a.astype(np.int64)
    if target is None:
        a = _dev.as_numpy(a)
    else:
        import torch

        a = torch.as_tensor(a, device=target)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(a.shape)}")
    return a


def _integers(a: Any, name: str) -> Any:
    if _kind(a) != "i":
        raise TypeError(f"{name} must hold integers, got dtype {_dtype_name(a)}")
    return a


def _check_range(a: Any, name: str, n: int) -> None:
    """Raise ValueError naming the first entry of ``a`` outside [0, n)."""
    if a.shape[0] and (int(a.min()) < 0 or int(a.max()) >= n):
        p = _first((a < 0) | (a >= n))
        raise ValueError(f"{name} must lie in [0, {n}), found {int(a[p])} at position {p}")


def _check_finite(a: Any, name: str) -> None:
    """Raise ValueError naming the first NaN or infinite entry of a float array (after its
    cast: a float64 weight beyond float32's range is infinite there)."""
    if _kind(a) != "f":
        return
    if _is_torch(a):
        import torch

        bad = ~torch.isfinite(a)
    else:
        bad = ~np.isfinite(a)
    if bool(bad.any()):
        p = _first(bad)
        raise ValueError(f"{name} must be finite, found {float(a[p])} at position {p}")


def _check_length(a: Any, name: str, e: int) -> None:
    if a.shape[0] != e:
        raise ValueError(f"{name} has {a.shape[0]} entries, expected one per edge ({e})")


def _check_reduce(reduce: str) -> None:
    if reduce not in _REDUCTIONS:
        raise ValueError(f"reduce must be one of {_REDUCTIONS}, got {reduce!r}")


def _index_dtype(index_dtype: Any) -> str:
    """'int32' or 'int64' from a numpy / torch dtype, scalar type or name; else TypeError."""
    name = str(getattr(index_dtype, "__name__", index_dtype)).replace("torch.", "")
    if name not in ("int32", "int64"):
        raise TypeError(f"index_dtype must be int32 or int64, got {index_dtype!r}")
    return name


def _num_nodes(num_nodes: Any) -> int:
    if isinstance(num_nodes, (bool, np.bool_)) or int(num_nodes) != num_nodes or num_nodes < 0:
        raise ValueError(f"num_nodes must be a non-negative integer, got {num_nodes!r}")
    return int(num_nodes)


def _weights(w: Any, target, e: int) -> Any:
    if w is None:
        return None
    w = _coerce(w, "weights", target)
    if _kind(w) not in "ifb":
        raise TypeError(f"weights must be real numbers, got dtype {_dtype_name(w)}")
    _check_length(w, "weights", e)
    w = _cast(w, "float32")
    _check_finite(w, "weights")
    return w


def _timestamps(t: Any, target, e: int) -> Any:
    if t is None:
        return None
    t = _coerce(t, "timestamps", target)
    if _kind(t) not in "if":
        raise TypeError(f"timestamps must be integers or floats, got dtype {_dtype_name(t)}")
    _check_length(t, "timestamps", e)
    t = _cast(t, "int64" if _kind(t) == "i" else "float64")
    _check_finite(t, "timestamps")
    return t


# --------------------------------------------------------------------------- the class


class CSRGraph:
    """A directed graph in CSR form, with optional per-edge weights, ids and timestamps.

    Args:
        indptr: (N+1,) integer row pointers; stored as int64.
        indices: (E,) int32 or int64 column ids, sorted within each row (other integer
            dtypes become int64).
        num_nodes: N, checked against ``indptr`` when given.
        weights: (E,) real weights, stored as float32.
        edge_ids: (E,) integer ids, stored as int64 (see the module docstring).
        timestamps: (E,) integer (int64) or float (float64) times.

    Arrays may be numpy arrays, torch tensors or sequences. If any is a CUDA tensor, all of
    them are put on its device; otherwise they are held as numpy arrays.

    Raises:
        TypeError: a non-integer ``indptr`` / ``indices`` / ``edge_ids``, or non-real weights.
        ValueError: wrong shapes or lengths, ``indptr`` not starting at 0, decreasing or not
            ending at E, columns outside [0, N) or unsorted within a row.
    """

    __slots__ = _FIELDS

    def __init__(
        self,
        indptr: Any,
        indices: Any,
        num_nodes: int | None = None,
        weights: Any = None,
        edge_ids: Any = None,
        timestamps: Any = None,
    ) -> None:
        target = _target(indptr, indices, weights, edge_ids, timestamps)
        indptr = _cast(_integers(_coerce(indptr, "indptr", target), "indptr"), "int64")
        indices = _integers(_coerce(indices, "indices", target), "indices")
        if _dtype_name(indices) not in ("int32", "int64"):
            indices = _cast(indices, "int64")
        n = indptr.shape[0] - 1
        if n < 0:
            raise ValueError("indptr must have N+1 >= 1 entries, got an empty array")
        if num_nodes is not None and _num_nodes(num_nodes) != n:
            raise ValueError(f"num_nodes is {num_nodes}, but indptr has {n + 1} entries (N = {n})")
        e = indices.shape[0]
        if int(indptr[0]) != 0:
            raise ValueError(f"indptr[0] must be 0, got {int(indptr[0])}")
        if int(indptr[-1]) != e:
            raise ValueError(f"indptr[-1] must equal the number of edges ({e}), got {int(indptr[-1])}")
        drops = indptr[1:] < indptr[:-1]
        if n and bool(drops.any()):
            i = _first(drops)
            raise ValueError(
                f"indptr must be non-decreasing, got indptr[{i + 1}] = {int(indptr[i + 1])} "
                f"< indptr[{i}] = {int(indptr[i])}"
            )
        _check_range(indices, "indices", n)
        if e > 1:
            unsorted = indices[1:] < indices[:-1]
            starts = indptr[1:-1]
            starts = starts[(starts > 0) & (starts < e)]
            unsorted[starts - 1] = False  # a new row may start lower
            if bool(unsorted.any()):
                p = _first(unsorted)
                raise ValueError(
                    f"indices must be sorted within each row, got {int(indices[p])} then "
                    f"{int(indices[p + 1])} at positions {p}, {p + 1}; build unsorted edges "
                    f"with CSRGraph.from_edge_list"
                )
        if edge_ids is not None:
            edge_ids = _cast(_integers(_coerce(edge_ids, "edge_ids", target), "edge_ids"), "int64")
            _check_length(edge_ids, "edge_ids", e)
        self.indptr = indptr
        self.indices = indices
        self.weights = _weights(weights, target, e)
        self.edge_ids = edge_ids
        self.timestamps = _timestamps(timestamps, target, e)

    @classmethod
    def _trusted(cls, indptr, indices, weights=None, edge_ids=None, timestamps=None) -> CSRGraph:
        """A graph from arrays that a kernel produced (already valid): no checks, no copies."""
        g = cls.__new__(cls)
        for name, a in zip(_FIELDS, (indptr, indices, weights, edge_ids, timestamps)):
            setattr(g, name, a)
        return g

    # ----------------------------------------------------------------------- properties

    @property
    def num_nodes(self) -> int:
        """N, the number of nodes (rows)."""
        return int(self.indptr.shape[0]) - 1

    @property
    def num_edges(self) -> int:
        """E, the number of stored edges (duplicates included)."""
        return int(self.indices.shape[0])

    @property
    def device(self) -> str:
        """'cpu' (numpy arrays) or 'cuda' (torch CUDA tensors)."""
        return _dev.device_of(self.indptr)

    def __repr__(self) -> str:
        def dt(a):
            return None if a is None else _dtype_name(a)

        return (
            f"CSRGraph(num_nodes={self.num_nodes}, num_edges={self.num_edges}, "
            f"indices={dt(self.indices)}, weights={dt(self.weights)}, "
            f"edge_ids={dt(self.edge_ids)}, timestamps={dt(self.timestamps)}, "
            f"device={self.device!r})"
        )

    # ----------------------------------------------------------------------- constructors

    @classmethod
    def from_edge_list(
        cls,
        src: Any,
        dst: Any,
        num_nodes: int | None = None,
        weights: Any = None,
        timestamps: Any = None,
        dedup: bool = False,
        index_dtype: Any = np.int64,
    ) -> CSRGraph:
        """Graph with the edges ``src[e] -> dst[e]`` (counting sort, O(E + N)).

        Args:
            src, dst: (E,) integer node ids (numpy, torch or sequences; CUDA tensors build
                the graph on their device).
            num_nodes: N; default ``max(src, dst) + 1`` (0 without edges).
            weights: (E,) real weights; timestamps: (E,) times.
            dedup: merge repeated edges (weights summed; see :meth:`dedup`).
            index_dtype: dtype of ``indices``, int64 or int32.

        Returns:
            A CSRGraph whose rows are sorted by column, stably, and whose ``edge_ids`` are
            the positions of the edges in ``src`` / ``dst``.

        Raises:
            TypeError: non-integer ids, bad ``index_dtype``.
            ValueError: shape mismatch, ids outside [0, num_nodes), int32 overflow.
        """
        target = _target(src, dst, weights, timestamps)
        src = _integers(_coerce(src, "src", target), "src")
        dst = _integers(_coerce(dst, "dst", target), "dst")
        if src.shape != dst.shape:
            raise ValueError(f"src and dst must have the same length, got {src.shape[0]} and {dst.shape[0]}")
        e = src.shape[0]
        if num_nodes is None:
            num_nodes = max(int(src.max()), int(dst.max())) + 1 if e else 0
        n = _num_nodes(num_nodes)
        _check_range(src, "src", n)
        _check_range(dst, "dst", n)
        index_dtype = _index_dtype(index_dtype)
        if index_dtype == "int32" and n - 1 > _INT32_MAX:
            raise ValueError(f"index_dtype int32 holds node ids up to {_INT32_MAX}, graph has {n} nodes")
        weights, timestamps = _weights(weights, target, e), _timestamps(timestamps, target, e)
        return cls._build(src, dst, n, weights, timestamps, None, index_dtype, dedup)

    @classmethod
    def from_edge_index(
        cls,
        edge_index: Any,
        num_nodes: int | None = None,
        weights: Any = None,
        timestamps: Any = None,
        dedup: bool = False,
        index_dtype: Any = np.int64,
    ) -> CSRGraph:
        """Graph from a PyG-style ``edge_index`` (2, E): row 0 sources, row 1 targets.

        Same arguments and result as :meth:`from_edge_list` (``edge_ids`` are columns of
        ``edge_index``).
        """
        target = _target(edge_index)
        edge_index = _coerce(edge_index, "edge_index", target, ndim=2)
        if edge_index.shape[0] != 2:
            raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
        return cls.from_edge_list(
            edge_index[0], edge_index[1], num_nodes, weights, timestamps, dedup, index_dtype
        )

    @classmethod
    def from_scipy(cls, matrix: Any, index_dtype: Any = np.int64) -> CSRGraph:
        """Graph of a square scipy sparse matrix (any format); stored entries become weighted edges.

        Explicit zeros are kept as edges of weight 0; ``edge_ids`` are positions in
        ``matrix.tocoo()`` (the storage order for CSR/COO input).

        Raises:
            TypeError: not a scipy sparse matrix / array. ValueError: not square.
        """
        import scipy.sparse as sp

        if not sp.issparse(matrix):
            raise TypeError(f"expected a scipy sparse matrix, got {type(matrix).__name__}")
        if matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"adjacency matrix must be square, got shape {matrix.shape}")
        coo = matrix.tocoo()
        return cls.from_edge_list(
            coo.row, coo.col, matrix.shape[0], weights=coo.data, index_dtype=index_dtype
        )

    @classmethod
    def from_networkx(cls, G: Any, weight: str | None = None, index_dtype: Any = np.int64) -> CSRGraph:
        """Graph of a networkx (Multi)(Di)Graph; node ``list(G.nodes)[i]`` becomes node ``i``.

        Undirected edges become two directed edges (one for a self-loop), both with the
        edge's position in ``G.edges`` as their edge id; parallel edges of multigraphs are
        kept.

        Args:
            G: the graph. weight: edge attribute to store as weights (missing: 1.0);
                None stores no weights.
        """
        index = {v: i for i, v in enumerate(G.nodes)}
        edges = list(G.edges(data=weight, default=1.0) if weight is not None else G.edges())
        src = np.array([index[e[0]] for e in edges], dtype=np.int64)
        dst = np.array([index[e[1]] for e in edges], dtype=np.int64)
        w = np.array([e[2] for e in edges], dtype=np.float32) if weight is not None else None
        ids = np.arange(len(edges), dtype=np.int64)
        if not G.is_directed():
            back = src != dst
            src, dst = np.concatenate((src, dst[back])), np.concatenate((dst, src[back]))
            ids = np.concatenate((ids, ids[back]))
            w = None if w is None else np.concatenate((w, w[back]))
        return cls._build(src, dst, len(index), w, None, ids, _index_dtype(index_dtype), dedup=False)

    @classmethod
    def _build(cls, src, dst, n, weights, timestamps, edge_ids, index_dtype, dedup) -> CSRGraph:
        """CSR of checked COO arrays; ``edge_ids`` default to positions in src/dst."""
        src, dst = _cast(src, "int64"), _cast(dst, "int64")
        indptr, perm = _dev.dispatch("csr.build", _dev.resolve_device(None, src))(src, dst, n)
        g = cls._trusted(
            indptr,
            _cast(dst[perm], index_dtype),
            _take(weights, perm),
            perm if edge_ids is None else edge_ids[perm],
            _take(timestamps, perm),
        )
        return g.dedup() if dedup else g

    # ----------------------------------------------------------------------- conversions

    def to_edge_index(self):
        """(2, E) int64 torch tensor ``[rows; columns]`` in CSR order, on the graph's device."""
        import torch

        rows = self._edge_rows()
        return torch.stack([_dev.as_torch(rows), _dev.as_torch(_cast(self.indices, "int64"))])

    def to_scipy(self):
        """(N, N) ``scipy.sparse.csr_matrix`` (a copy); data = weights, or 1.0 without them."""
        import scipy.sparse as sp

        g = self.to("cpu")
        data = g.weights if g.weights is not None else np.ones(g.num_edges, np.float32)
        return sp.csr_matrix((data, g.indices, g.indptr), shape=(g.num_nodes,) * 2, copy=True)

    def to_networkx(self, directed: bool = True):
        """networkx DiGraph (or Graph) on nodes 0..N-1, with a 'weight' attribute if weighted.

        Duplicate edges collapse into one (the last one's weight wins).
        """
        import networkx as nx

        g = self.to("cpu")
        G = nx.DiGraph() if directed else nx.Graph()
        G.add_nodes_from(range(g.num_nodes))
        rows, cols = g._edge_rows().tolist(), g.indices.tolist()
        if g.weights is None:
            G.add_edges_from(zip(rows, cols))
        else:
            G.add_weighted_edges_from(zip(rows, cols, g.weights.tolist()))
        return G

    def to(self, device: Any) -> CSRGraph:
        """The graph on ``device``: numpy arrays on 'cpu', torch tensors on 'cuda' / 'cuda:i'.

        Raises:
            RuntimeError: 'cuda' without a CUDA device. ValueError: an unknown device.
        """
        if _dev.resolve_device(device) == _dev.CPU:
            move = _dev.as_numpy
        else:
            import torch

            target = torch.device(device)

            def move(a):
                return torch.as_tensor(a, device=target)

        return CSRGraph._trusted(*(None if a is None else move(a) for a in self._arrays()))

    # ----------------------------------------------------------------------- queries

    def degree(self):
        """Out-degree of every node, (N,) int64 (duplicates counted)."""
        return self.indptr[1:] - self.indptr[:-1]

    def in_degree(self):
        """In-degree of every node, (N,) int64 (duplicates counted)."""
        return self._kernel("csr.in_degree")(self.indices, self.num_nodes)

    def neighbors(self, v: int):
        """Out-neighbours of node ``v``, ascending, as a view of ``indices``.

        Raises:
            ValueError: ``v`` is not a node id in [0, N).
        """
        if isinstance(v, (bool, np.bool_)) or int(v) != v or not 0 <= v < self.num_nodes:
            raise ValueError(f"v must be a node id in [0, {self.num_nodes}), got {v!r}")
        v = int(v)
        return self.indices[int(self.indptr[v]) : int(self.indptr[v + 1])]

    # ----------------------------------------------------------------------- derived graphs

    def subgraph(self, nodes: Any):
        """Induced subgraph on ``nodes``, relabelled 0..n-1 in the given order.

        Args:
            nodes: (n,) distinct node ids, or an (N,) boolean mask (nodes in id order).

        Returns:
            (sub, edge_ids): the subgraph (weights and timestamps carried over) and (e,)
            int64 ids of its edges (module docstring), also stored as ``sub.edge_ids``.

        Raises:
            ValueError: ids out of range or repeated, a mask of the wrong length.
        """
        nodes = self._node_ids(nodes, "nodes", allow_mask=True, distinct=True)
        indptr, indices, pos = self._kernel("csr.subgraph")(
            self.indptr, self.indices, nodes, self.num_nodes
        )
        ids = self._edge_ids_at(pos)
        sub = CSRGraph._trusted(
            indptr,
            _cast(indices, _dtype_name(self.indices)),
            _take(self.weights, pos),
            ids,
            _take(self.timestamps, pos),
        )
        return sub, ids

    def dedup(self, reduce: str = "sum") -> CSRGraph:
        """Merge repeated edges ``i -> j`` into one.

        The merged edge keeps the edge id and timestamp of its first copy (in CSR order,
        i.e. input order); weights are summed (``reduce='sum'``) or the maximum is kept
        (``'max'``).
        """
        _check_reduce(reduce)
        indptr, keep, weights = self._kernel("csr.dedup")(
            self.indptr, self.indices, self.weights, reduce
        )
        return CSRGraph._trusted(
            indptr,
            self.indices[keep],
            weights,
            _take(self.edge_ids, keep),
            _take(self.timestamps, keep),
        )

    def symmetrize(self, reduce: str = "sum") -> CSRGraph:
        """The undirected graph A + A^T, deduplicated.

        With ``reduce='sum'`` weights are those of ``A + A.T`` in scipy (duplicates and the
        two copies of a self-loop add up; a pair stored both ways gets w(i,j) + w(j,i)), as
        PyG's ``to_undirected(reduce='add')``; ``'max'`` keeps the largest. Edge ids and
        timestamps are those of the first copy, the stored direction before the reversed one.
        """
        _check_reduce(reduce)
        rows, cols = self._edge_rows(), _cast(self.indices, "int64")
        ids = self.edge_ids if self.edge_ids is not None else _arange(self.num_edges, rows)

        def twice(a):
            return None if a is None else _cat(a, a)

        both = CSRGraph._build(
            _cat(rows, cols),
            _cat(cols, rows),
            self.num_nodes,
            twice(self.weights),
            twice(self.timestamps),
            twice(ids),
            _dtype_name(self.indices),
            dedup=False,
        )
        return both.dedup(reduce)

    def add_reverse_edges(self) -> CSRGraph:
        """The graph plus the reverse ``j -> i`` of every edge ``i -> j`` that is not a self-loop.

        No deduplication: an edge stored both ways appears twice in each direction. A
        reversed edge has the same weight, timestamp and edge id as its original.
        """
        rows, cols = self._edge_rows(), _cast(self.indices, "int64")
        back = rows != cols
        ids = self.edge_ids if self.edge_ids is not None else _arange(self.num_edges, rows)

        def plus_back(a):
            return None if a is None else _cat(a, a[back])

        return CSRGraph._build(
            _cat(rows, cols[back]),
            _cat(cols, rows[back]),
            self.num_nodes,
            plus_back(self.weights),
            plus_back(self.timestamps),
            plus_back(ids),
            _dtype_name(self.indices),
            dedup=False,
        )

    def remove_self_loops(self) -> CSRGraph:
        """The graph without its edges ``i -> i``."""
        indptr, keep = self._kernel("csr.remove_self_loops")(self.indptr, self.indices)
        return CSRGraph._trusted(
            indptr,
            self.indices[keep],
            _take(self.weights, keep),
            _take(self.edge_ids, keep),
            _take(self.timestamps, keep),
        )

    # ----------------------------------------------------------------------- files

    def save(self, path: str | os.PathLike) -> int:
        """Write the graph to a container file (kind ``"native.csr"``); return its size in bytes."""
        g = self.to("cpu")
        arrays = {name: a for name, a in zip(_FIELDS, g._arrays()) if a is not None}
        meta = {"num_nodes": g.num_nodes, "num_edges": g.num_edges}
        return container.save(path, KIND, arrays, meta, kind_version=KIND_VERSION)

    @classmethod
    def load(cls, path: str | os.PathLike, mmap: bool = False) -> CSRGraph:
        """Read a graph written by :meth:`save` (on the CPU; ``mmap`` maps arrays read-only).

        Raises:
            FileNotFoundError; CorruptFileError: a damaged file, another kind, a newer
            layout or arrays that do not form a valid graph.
        """
        c = container.load(path, kind=KIND, mmap=mmap)
        if c.kind_version > KIND_VERSION:
            raise container.CorruptFileError(
                f"{os.fspath(path)!r} has CSR layout version {c.kind_version}; this graphkit "
                f"reads up to {KIND_VERSION}: upgrade graphkit"
            )
        a = c.arrays
        try:
            return cls(
                a["indptr"],
                a["indices"],
                num_nodes=c.meta.get("num_nodes"),
                weights=a.get("weights"),
                edge_ids=a.get("edge_ids"),
                timestamps=a.get("timestamps"),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise container.CorruptFileError(
                f"{os.fspath(path)!r} does not hold a valid CSR graph: {e}"
            ) from None

    # ----------------------------------------------------------------------- internals

    def _arrays(self):
        return self.indptr, self.indices, self.weights, self.edge_ids, self.timestamps

    def _kernel(self, name: str):
        return _dev.dispatch(name, self.device)

    def _edge_rows(self):
        return self._kernel("csr.edge_rows")(self.indptr)

    def _edge_ids_at(self, pos):
        """Edge ids of the edges at positions ``pos`` (the positions themselves without ids)."""
        return pos if self.edge_ids is None else self.edge_ids[pos]

    def _node_ids(self, nodes: Any, name: str, allow_mask: bool = False, distinct: bool = False):
        """``nodes`` as checked (n,) int64 node ids on the graph's device (for sibling modules).

        Raises:
            TypeError: not integers (nor a mask, where allowed).
            ValueError: out of range, or repeated where ``distinct``.
        """
        nodes = _coerce(nodes, name, _target(self.indptr))
        if allow_mask and _kind(nodes) == "b":
            if nodes.shape[0] != self.num_nodes:
                raise ValueError(
                    f"{name} mask has {nodes.shape[0]} entries, graph has {self.num_nodes} nodes"
                )
            return nodes.nonzero()[0] if not _is_torch(nodes) else nodes.nonzero().squeeze(1)
        nodes = _cast(_integers(nodes, name), "int64")
        if not _is_torch(nodes):
            nodes = np.ascontiguousarray(nodes)
        _check_range(nodes, name, self.num_nodes)
        if distinct and nodes.shape[0] > 1:
            ordered = nodes.sort()[0] if _is_torch(nodes) else np.sort(nodes)
            repeated = ordered[1:] == ordered[:-1]
            if bool(repeated.any()):
                raise ValueError(f"{name} must be distinct, node {int(ordered[_first(repeated)])} repeats")
        return nodes
