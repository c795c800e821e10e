"""TemporalGraph: a time-sorted event stream with its per-node temporal adjacency.

The temporal half of the storage core, for memory-based temporal GNNs (TGN, PRES, SPLASH,
NAT, SEMBA): each event ``(src, dst, t)`` is an interaction at time ``t``, and the model
needs, for a batch of ``(node, time)`` queries, the node's most recent interactions before
that time (the "temporal neighbour finder" of TGN, Rossi et al. 2020).

Conventions (shared by every method):

- *event index*: the position of an event in this graph's stored arrays (``src, dst, t,
  edge_attr, edge_label``), which are sorted stably by time. Neighbour queries return event
  indices, so ``g.t[e] == timestamps`` and ``g.edge_attr[e]`` are the events' features.
  ``g.event_ids[e]`` is the event's position in the stream the graph was built from (for a
  sub-stream or a split, in the original stream).
- *order*: ties in time keep stream order; "newest first" sorts by (time, event index)
  descending.
- *before*: ``strict=True`` means event time ``< t`` (what a model may see when predicting
  the events at ``t``), ``strict=False`` means ``<= t``.
- *undirected* (the default, as TGN's neighbour finder): event u->v makes v a neighbour of u
  and u a neighbour of v; a self-loop u->u is entered once. *directed*: out-neighbours only.
- *results*: numpy in, numpy out; torch tensors in, torch tensors out on the input's device.
  Work runs where the graph lives (``to("cuda")``), through :func:`native.device.dispatch`.
"""

from __future__ import annotations

import operator
import os
from typing import Any, Iterator, NamedTuple

import numpy as np

from native import container
from native import device as _dev
from native.kernels import temporal as _cpu  # noqa: F401 - registers the CPU kernels
from native.kernels import temporal_cuda as _cuda  # noqa: F401 - registers the CUDA kernels

KIND = "native.temporal"
KIND_VERSION = 1


class TemporalNeighbors(NamedTuple):
    """Batched temporal neighbours: three (B, k) arrays, padded after the last event found.

    Attributes:
        neighbors: (B, k) int64 node ids, -1 padded.
        timestamps: (B, k) event times in the graph's time dtype (int64 or float64), 0
            padded (never NaN, so ``t - timestamps`` stays finite; mask it out).
        event_ids: (B, k) int64 event indices into the graph's stored arrays, -1 padded.
    """

    neighbors: Any
    timestamps: Any
    event_ids: Any

    @property
    def mask(self):
        """(B, k) bool, True where an event was found."""
        return self.neighbors >= 0

    @property
    def counts(self):
        """(B,) int64, the number of events found per query."""
        return self.mask.sum(1)


# --------------------------------------------------------------------------- validation helpers
def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _kind(x: Any) -> str:
    """numpy's dtype kind letter ('b', 'i', 'u', 'f', 'c', ...) of a numpy array or tensor."""
    if _is_torch(x):
        import torch

        if x.dtype == torch.bool:
            return "b"
        if x.dtype.is_complex:
            return "c"
        return "f" if x.dtype.is_floating_point else "i"
    return x.dtype.kind


def _host(name: str, x: Any, ndim: int) -> np.ndarray:
    """``x`` (numpy, torch or list) as a numpy array of ``ndim`` dimensions."""
    a = _dev.as_numpy(x)
    if a.ndim != ndim:
        want = "(E,)" if ndim == 1 else "(E, F)"
        raise ValueError(f"{name} must be {ndim}-D {want}, got shape {a.shape}")
    return a


def _ids(name: str, x: Any) -> np.ndarray:
    a = _host(name, x, 1)
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer node ids, got dtype {a.dtype}")
    if int(a.min()) < 0:
        i = int(np.argmin(a))
        raise ValueError(f"{name}[{i}] = {int(a[i])}: node ids must be >= 0")
    if int(a.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name} holds ids up to {int(a.max())}, above the int64 range")
    return a.astype(np.int64)


def _length(name: str, a: np.ndarray, E: int) -> None:
    if a.shape[0] != E:
        raise ValueError(f"{name} has {a.shape[0]} entries, expected {E} (one per event, as src)")


def _event_times(x: Any, E: int) -> np.ndarray:
    a = _host("t", x, 1)
    _length("t", a, E)
    if a.dtype.kind in "iu":
        if a.size and int(a.max()) > np.iinfo(np.int64).max:
            raise ValueError(f"t holds times up to {int(a.max())}, above the int64 range")
        return a.astype(np.int64)
    if a.dtype.kind != "f":
        raise TypeError(f"t must hold int or float timestamps, got dtype {a.dtype}")
    a = a.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ValueError(f"t[{bad[0]}] = {a[bad[0]]}: timestamps must be finite")
    return a


def _numeric(name: str, a: np.ndarray) -> np.ndarray:
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
    return a


def _count(name: str, value: Any) -> int:
    """A non-negative Python int from ``value`` (bools refused)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a non-negative integer, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be a non-negative integer, got {value!r}") from None
    if n < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {n}")
    return n


def _readonly(arrays):
    for a in arrays:
        if isinstance(a, np.ndarray):
            a.flags.writeable = False
    return arrays


def _take(a: Any, index: slice | np.ndarray) -> Any:
    """``a[index]`` for a numpy array or tensor (None stays None)."""
    if a is None or isinstance(index, slice) or isinstance(a, np.ndarray):
        return None if a is None else a[index]
    import torch

    return a[torch.as_tensor(index, device=a.device)]


def _like(arrays, like: Any):
    """Numpy arrays, or tensors on ``like``'s device when ``like`` is a tensor."""
    if _is_torch(like):
        return tuple(_dev.as_torch(a).to(like.device) for a in arrays)
    return tuple(_dev.as_numpy(a) for a in arrays)


# --------------------------------------------------------------------------- the class
class TemporalGraph:
    """An event stream sorted by time, with a per-node time-sorted adjacency (CSR).

    The adjacency is built on first use by a stable O(E + N) counting sort over the
    time-sorted events; each node's list (``indptr``, ``nbr``, ``nbr_t``, ``nbr_eid``) is
    sorted by (time, event index). Queries binary-search it, in parallel over queries, as the
    neighbour finder of TGN (E. Rossi, B. Chamberlain, F. Frasca, D. Eynard, F. Monti,
    M. Bronstein, *Temporal Graph Networks for Deep Learning on Dynamic Graphs*, 2020),
    except that an undirected self-loop is entered once, not twice.

    Args:
        src: (E,) int source node ids (numpy, torch or list). dst: (E,) int destinations.
        t: (E,) int or float timestamps (stored int64 or float64; must be finite).
        edge_attr: optional (E, F) event features (stored float32).
        edge_label: optional (E,) numeric per-event labels (dtype kept).
        num_nodes: N; default ``max id + 1`` (0 for an empty stream).
        directed: out-neighbours only when True (default False: both endpoints).

    Attributes:
        src, dst (E,) int64; t (E,); edge_attr (E, F) float32 or None; edge_label (E,) or
        None: the events sorted stably by time. event_ids (E,) int64: each stored event's
        position in the input. num_nodes, num_events, directed. device: 'cpu' (numpy
        arrays, read-only) or 'cuda' (torch tensors, after :meth:`to`).
        indptr (N+1,) int64, nbr (M,) int64, nbr_t (M,), nbr_eid (M,) int64: the adjacency
        (M = E if directed, else 2E minus the self-loops).

    Raises:
        ValueError: mismatched lengths, wrong shapes, negative ids, ids >= num_nodes,
            non-finite times or event features (a float64 beyond float32's range included).
        TypeError: non-integer ids, non-numeric times or features.
    """

    def __init__(
        self,
        src: Any,
        dst: Any,
        t: Any,
        edge_attr: Any = None,
        edge_label: Any = None,
        num_nodes: int | None = None,
        directed: bool = False,
    ) -> None:
        src = _ids("src", src)
        E = src.shape[0]
        dst = _ids("dst", dst)
        _length("dst", dst, E)
        t = _event_times(t, E)
        if edge_attr is not None:
            edge_attr = _numeric("edge_attr", _host("edge_attr", edge_attr, 2))
            _length("edge_attr", edge_attr, E)
            with np.errstate(over="ignore"):  # beyond float32's range: refused as infinity below
                edge_attr = edge_attr.astype(np.float32)
            bad = np.flatnonzero(~np.isfinite(edge_attr).all(axis=1))
            if bad.size:
                row = edge_attr[bad[0]]
                raise ValueError(
                    f"edge_attr[{bad[0]}] holds {row[~np.isfinite(row)][0]} (as float32): event features must be finite"
                )
        if edge_label is not None:
            edge_label = _numeric("edge_label", _host("edge_label", edge_label, 1))
            _length("edge_label", edge_label, E)
        top = int(max(src.max(), dst.max())) + 1 if E else 0
        if num_nodes is None:
            num_nodes = top
        num_nodes = _count("num_nodes", num_nodes)
        if top > num_nodes:
            which, arr = ("src", src) if int(src.max()) + 1 == top else ("dst", dst)
            i = int(np.argmax(arr))
            raise ValueError(f"{which}[{i}] = {top - 1}: node ids must be < num_nodes = {num_nodes}")
        if E and not bool(np.all(t[1:] >= t[:-1])):
            order = np.argsort(t, kind="stable")
        else:
            order = np.arange(E, dtype=np.int64)
        self._set(
            src[order],
            dst[order],
            t[order],
            None if edge_attr is None else edge_attr[order],
            None if edge_label is None else edge_label[order],
            order.astype(np.int64),
            num_nodes,
            bool(directed),
            _dev.CPU,
        )

    def _set(self, src, dst, t, edge_attr, edge_label, event_ids, num_nodes, directed, device):
        (self.src, self.dst, self.t, self.edge_attr, self.edge_label, self.event_ids) = _readonly(
            (src, dst, t, edge_attr, edge_label, event_ids)
        )
        self.num_nodes = num_nodes
        self.num_events = int(src.shape[0])
        self.directed = directed
        self.device = device
        self._index = None

    def _derived(self, index: slice | np.ndarray) -> TemporalGraph:
        """The sub-stream at ``index`` (a slice or int array, time order kept), unchecked."""
        g = TemporalGraph.__new__(TemporalGraph)
        g._set(
            *(_take(a, index) for a in (self.src, self.dst, self.t, self.edge_attr)),
            _take(self.edge_label, index),
            _take(self.event_ids, index),
            self.num_nodes,
            self.directed,
            self.device,
        )
        return g

    # ----------------------------------------------------------------------- adjacency
    def _adjacency(self):
        if self._index is None:
            build = _dev.dispatch("temporal.index", self.device)
            self._index = _readonly(build(self.src, self.dst, self.t, self.num_nodes, self.directed))
        return self._index

    @property
    def indptr(self):
        """(N+1,) int64: node u's events are ``indptr[u]:indptr[u+1]`` of the adjacency."""
        return self._adjacency()[0]

    @property
    def nbr(self):
        """(M,) int64: the other endpoint of each adjacency entry."""
        return self._adjacency()[1]

    @property
    def nbr_t(self):
        """(M,): the time of each adjacency entry (sorted within each node)."""
        return self._adjacency()[2]

    @property
    def nbr_eid(self):
        """(M,) int64: the event index of each adjacency entry."""
        return self._adjacency()[3]

    # ----------------------------------------------------------------------- queries
    def _queries(self, nodes: Any, times: Any):
        """Validated 1-D (nodes, times), numpy or torch as given (lists become numpy)."""
        nodes = nodes if _is_torch(nodes) else np.asarray(nodes)
        times = times if _is_torch(times) else np.asarray(times)
        if nodes.ndim != 1 or tuple(times.shape) != tuple(nodes.shape):
            raise ValueError(
                f"nodes and times must be 1-D of one length, got shapes {tuple(nodes.shape)} "
                f"and {tuple(times.shape)}"
            )
        if nodes.shape[0] and _kind(nodes) not in "iu":
            raise TypeError(f"nodes must hold integer ids, got dtype {nodes.dtype}")
        if times.shape[0] and _kind(times) not in "iuf":
            raise TypeError(f"times must be int or float, got dtype {times.dtype}")
        if nodes.shape[0]:
            lo, hi = int(nodes.min()), int(nodes.max())
            if lo < 0 or hi >= self.num_nodes:
                bad = lo if lo < 0 else hi
                raise ValueError(f"query node {bad} is out of range [0, {self.num_nodes})")
            if bool((times != times).any()):
                raise ValueError("query times must not be NaN")
        return nodes, times

    def most_recent_neighbors(self, nodes: Any, times: Any, k: int, strict: bool = True) -> TemporalNeighbors:
        """The k most recent neighbours of each node before its query time, newest first.

        Args:
            nodes: (B,) int node ids. times: (B,) int or float query times (+-inf allowed).
            k: neighbours per query; rows with fewer events are padded.
            strict: events at time < t if True (default), <= t if False.

        Returns:
            :class:`TemporalNeighbors` (neighbors (B, k) int64 -1 padded, timestamps (B, k)
            0 padded, event_ids (B, k) int64 -1 padded) with ``.mask`` and ``.counts``.
            Numpy, or torch on ``nodes``' device when ``nodes`` is a tensor.

        Raises:
            ValueError: shapes differ, a node is out of range, a time is NaN, k < 0.
            TypeError: non-integer nodes or k.
        """
        nodes, times = self._queries(nodes, times)
        k = _count("k", k)
        out = _dev.dispatch("temporal.most_recent", self.device)(
            self._adjacency(), nodes, times, k, bool(strict)
        )
        return TemporalNeighbors(*_like(out, nodes))

    def neighbors_before(self, node: int, time: Any, strict: bool = True):
        """All neighbours of one node before ``time``, newest first.

        Args:
            node: a node id. time: the query time. strict: ``<`` (default) or ``<=``.

        Returns:
            (neighbors (n,) int64, timestamps (n,), event_ids (n,) int64) numpy arrays.
        """
        node = _count("node", node)
        if node >= self.num_nodes:
            raise ValueError(f"node {node} is out of range [0, {self.num_nodes})")
        indptr = self.indptr
        degree = int(indptr[node + 1] - indptr[node])
        res = self.most_recent_neighbors(np.array([node]), np.array([time]), degree, strict)
        n = int(res.counts[0])
        return res.neighbors[0, :n], res.timestamps[0, :n], res.event_ids[0, :n]

    def sample_neighbors_before(
        self, nodes: Any, times: Any, k: int, seed: int | None = None, strict: bool = True
    ) -> TemporalNeighbors:
        """k neighbours per query drawn uniformly, with replacement, among its events before t.

        TGN's uniform temporal sampler: every event of the node before the query time is
        equally likely, and the k draws of a row are sorted newest first. The draws depend
        on ``seed`` and the query's position in the batch only, not on the thread count (the
        CUDA implementation draws its own, also seeded, samples).

        Args:
            nodes: (B,) int node ids. times: (B,) query times. k: draws per query.
            seed: an int; None draws a fresh one. strict: ``<`` (default) or ``<=``.

        Returns:
            :class:`TemporalNeighbors` as :meth:`most_recent_neighbors`; a query with no
            event before its time gets a padded row, every other row k entries.

        Raises:
            as :meth:`most_recent_neighbors`; TypeError for a non-integer seed.
        """
        nodes, times = self._queries(nodes, times)
        k = _count("k", k)
        if seed is None:
            seed = int(np.random.default_rng().integers(2**63))
        if isinstance(seed, bool):
            raise TypeError(f"seed must be an int, got {seed!r}")
        try:
            seed = operator.index(seed) % 2**64
        except TypeError:
            raise TypeError(f"seed must be an int, got {seed!r}") from None
        out = _dev.dispatch("temporal.sample", self.device)(
            self._adjacency(), nodes, times, k, seed, bool(strict)
        )
        return TemporalNeighbors(*_like(out, nodes))

    # ----------------------------------------------------------------------- sub-streams
    def __len__(self) -> int:
        return self.num_events

    def __getitem__(self, index: Any) -> TemporalGraph:
        """The sub-stream of the events at ``index``: a slice, an int array or a bool mask.

        The events keep this graph's order (time, then stream order) whatever the order of
        ``index``; repeated positions repeat the event. ``num_nodes``, ``directed`` and the
        original ``event_ids`` carry over. Slices with step 1 share memory with this graph.

        Raises:
            TypeError: an index of another kind. IndexError: a position out of range.
        """
        E = self.num_events
        if isinstance(index, slice):
            start, stop, step = index.indices(E)
            if step == 1:
                return self._derived(slice(start, stop))
            index = np.arange(start, stop, step)
        index = _dev.as_numpy(index) if _is_torch(index) else np.asarray(index)
        if index.ndim != 1 or index.dtype.kind not in "biu" and index.size:
            raise TypeError(
                "index a TemporalGraph with a slice, a 1-D int array or a bool mask, got "
                f"{type(index).__name__} of dtype {index.dtype} and shape {index.shape}"
            )
        if index.dtype.kind == "b":
            if index.shape[0] != E:
                raise IndexError(f"bool mask has {index.shape[0]} entries, expected {E}")
            index = np.flatnonzero(index)
        index = index.astype(np.int64)
        if index.size and (int(index.min()) < -E or int(index.max()) >= E):
            bad = int(index.min()) if int(index.min()) < -E else int(index.max())
            raise IndexError(f"event index {bad} is out of range for {E} events")
        return self._derived(np.sort(np.where(index < 0, index + E, index)))

    def split(self, val_ratio: float = 0.15, test_ratio: float = 0.15):
        """Chronological train / validation / test split, at time quantiles (as PyG's TGN).

        ``val_time`` and ``test_time`` are the ``1 - val - test`` and ``1 - test`` quantiles
        of the event times; train holds times ``<= val_time``, validation ``(val_time,
        test_time]``, test the rest, so events sharing a time are never split apart. Each
        part keeps ``num_nodes``; query neighbours on the full graph, not on a part.

        Args:
            val_ratio, test_ratio: fractions of events, each in [0, 1), summing below 1.

        Returns:
            (train, val, test) TemporalGraphs: contiguous sub-streams sharing memory with
            this one (``event_ids`` maps their events back to the input).
        """
        for name, r in (("val_ratio", val_ratio), ("test_ratio", test_ratio)):
            if not 0.0 <= r < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {r!r}")
        if val_ratio + test_ratio >= 1.0:
            raise ValueError(f"val_ratio + test_ratio must be < 1, got {val_ratio + test_ratio!r}")
        times = _dev.as_numpy(self.t)
        if times.size == 0:
            return self[0:0], self[0:0], self[0:0]
        val_time, test_time = np.quantile(times, [1.0 - val_ratio - test_ratio, 1.0 - test_ratio])
        a = int(np.searchsorted(times, val_time, side="right"))
        b = int(np.searchsorted(times, test_time, side="right"))
        return self[:a], self[a:b], self[b:]

    def batches(self, batch_size: int) -> Iterator[TemporalGraph]:
        """Consecutive time-ordered sub-streams of ``batch_size`` events (the last may be
        shorter), as TGN trains; each shares memory with this graph."""
        batch_size = _count("batch_size", batch_size)
        if batch_size == 0:
            raise ValueError("batch_size must be positive, got 0")
        for start in range(0, self.num_events, batch_size):
            yield self[start : start + batch_size]

    # ----------------------------------------------------------------------- conversions
    def to_csr(self):
        """The adjacency as a :class:`native.CSRGraph` (numpy arrays).

        Returns:
            ``CSRGraph(indptr, indices, num_nodes=N, edge_ids=..., timestamps=...)``: row u
            holds u's adjacency entries sorted by neighbour id (CSRGraph's invariant), the
            entries of one neighbour oldest first; edge ids are event indices of this graph.
        """
        from native.csr import CSRGraph

        indptr, nbr, nbr_t, nbr_eid = (_dev.as_numpy(a) for a in self._adjacency()[:4])
        rows = np.repeat(np.arange(self.num_nodes, dtype=np.int64), np.diff(indptr))
        order = np.lexsort((nbr, rows))  # stable: time order kept among equal neighbours
        return CSRGraph(
            indptr,
            nbr[order],
            num_nodes=self.num_nodes,
            edge_ids=nbr_eid[order],
            timestamps=nbr_t[order],
        )

    def to(self, device: Any) -> TemporalGraph:
        """This graph on ``device`` ('cpu': numpy arrays; 'cuda' / 'cuda:1': torch tensors).

        Returns ``self`` when it is on the CPU already and 'cpu' is asked for.

        Raises:
            RuntimeError: 'cuda' without a CUDA device. ValueError: an unknown device.
        """
        dev = _dev.resolve_device(device)
        if dev == _dev.CPU:
            if self.device == _dev.CPU:
                return self
            move = _dev.as_numpy
        else:
            import torch

            target = device if str(device).startswith("cuda") else "cuda"

            def move(a):
                return (a if _is_torch(a) else torch.tensor(a)).to(target)

        g = TemporalGraph.__new__(TemporalGraph)
        arrays = (self.src, self.dst, self.t, self.edge_attr, self.edge_label, self.event_ids)
        g._set(
            *(None if a is None else move(a) for a in arrays),
            self.num_nodes,
            self.directed,
            dev,
        )
        return g

    def save(self, path: str | os.PathLike) -> int:
        """Write the stream to a container file (kind ``"native.temporal"``, no pickle),
        atomically; the adjacency is rebuilt on load. Returns the number of bytes written."""
        arrays = {"src": self.src, "dst": self.dst, "t": self.t, "event_ids": self.event_ids}
        if self.edge_attr is not None:
            arrays["edge_attr"] = self.edge_attr
        if self.edge_label is not None:
            arrays["edge_label"] = self.edge_label
        meta = {"num_nodes": self.num_nodes, "directed": self.directed}
        return container.save(
            path,
            KIND,
            {name: _dev.as_numpy(a) for name, a in arrays.items()},
            meta,
            kind_version=KIND_VERSION,
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> TemporalGraph:
        """Read a graph written by :meth:`save` (on the CPU), checking it like the constructor.

        Raises:
            FileNotFoundError; :class:`native.CorruptFileError` for a damaged file, another
            kind or a newer layout.
        """
        c = container.load(path, kind=KIND)
        if c.kind_version > KIND_VERSION:
            raise container.CorruptFileError(
                f"{c.path!r} has native.temporal layout {c.kind_version}; this graphkit reads "
                f"up to {KIND_VERSION}: upgrade graphkit"
            )
        missing = {"src", "dst", "t", "event_ids"} - set(c.arrays)
        if missing or "num_nodes" not in c.meta:
            raise container.CorruptFileError(f"{c.path!r} lacks {sorted(missing) or ['num_nodes']}")
        a = c.arrays
        try:
            g = cls(
                a["src"],
                a["dst"],
                a["t"],
                a.get("edge_attr"),
                a.get("edge_label"),
                num_nodes=c.meta["num_nodes"],
                directed=bool(c.meta.get("directed", False)),
            )
            event_ids = _ids("event_ids", a["event_ids"])
            _length("event_ids", event_ids, g.num_events)
        except (TypeError, ValueError) as e:
            raise container.CorruptFileError(f"{c.path!r} holds an invalid stream: {e}") from None
        if not np.array_equal(g.event_ids, np.arange(g.num_events)):
            raise container.CorruptFileError(f"{c.path!r} holds events out of time order")
        g._set(g.src, g.dst, g.t, g.edge_attr, g.edge_label, event_ids, g.num_nodes, g.directed, g.device)
        return g

    def __repr__(self) -> str:
        span = ""
        if self.num_events:
            t = _dev.as_numpy(self.t)
            span = f", t=[{t[0]}, {t[-1]}]"
        feats = None if self.edge_attr is None else f"({self.num_events}, {self.edge_attr.shape[1]})"
        labels = None if self.edge_label is None else str(self.edge_label.dtype).replace("torch.", "")
        return (
            f"TemporalGraph(num_nodes={self.num_nodes}, num_events={self.num_events}{span}, "
            f"edge_attr={feats}, edge_label={labels}, "
            f"directed={self.directed}, device={self.device!r})"
        )
