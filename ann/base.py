"""The protocol every index shares, input validation, ids, and the index file container.

Every index has ``dim``, ``metric``, ``ntotal``, ``add(X, ids=None)``,
``search(Q, k, ...) -> (D, I)``, ``remove(ids)``, ``save(path)``, ``info()`` and is read
back by :func:`ann.load`. ``D`` holds float32 distances (smaller is closer: squared L2,
``1 - ip`` or ``1 - cos``), ``I`` int64 ids; rows are padded with ``inf`` / ``-1`` where
fewer than ``k`` results exist.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np

from native import container
from native.container import CorruptFileError
from native.device import as_numpy
from native.distance import abs_max, check_finite_rows, check_metric, check_real_dtype

FILE_KIND_PREFIX = "ann."
_KINDS: dict[str, type["Index"]] = {}

Filter = Any  # None | bool mask indexed by id | iterable of allowed ids | callable(ids) -> mask


# --------------------------------------------------------------------------- validation
def as_vectors(X: Any, dim: int, what: str = "vectors") -> np.ndarray:
    """Validate and coerce vectors to a C-contiguous float32 (n, dim) array.

    Accepts numpy arrays, torch tensors and nested sequences of any real numeric dtype;
    a 1-D input of length ``dim`` is taken as one vector.

    Raises:
        TypeError: non-numeric dtype (complex, bool, strings, objects).
        ValueError: wrong number of dimensions, wrong dimension, NaN or infinity.
    """
    if (type(X) is np.ndarray and X.dtype == np.float32 and 1 <= X.ndim <= 2 and X.shape[-1] == dim
            and X.flags.c_contiguous):
        A = X if X.ndim == 2 else X[None, :]  # the common case, short for one-query searches
    else:
        A = as_numpy(X) if not isinstance(X, np.ndarray) else X
        if not isinstance(A, np.ndarray):
            try:
                A = np.asarray(A)
            except (ValueError, TypeError) as e:
                raise TypeError(f"{what} must be a numeric array: {e}") from None
        check_real_dtype(A, what)
        if A.ndim == 1 and A.shape[0] == dim:
            A = A[None, :]
        if A.ndim != 2:
            raise ValueError(f"{what} must be a 2-D array (n, {dim}), got shape {A.shape}")
        if A.shape[1] != dim:
            raise ValueError(f"{what} have dimension {A.shape[1]}, index has {dim}")
        with np.errstate(over="ignore"):  # a float64 beyond float32's range: named as infinity below
            A = np.ascontiguousarray(A, dtype=np.float32)
    if A.size:
        top = abs_max(A)  # one pass, no temporary; inf or NaN if a value is not finite
        if not top <= 1e18:  # NaN compares false
            check_finite_rows(A, what)  # raises, naming the first such row
            raise ValueError(f"{what} have components beyond 1e18; their squared distances overflow float32")
    return A


def as_ids(ids: Any, n: int) -> np.ndarray:
    """Validate user ids: n distinct non-negative integers -> int64 (n,).

    Raises:
        TypeError: non-integer ids. ValueError: wrong length, negative or repeated ids.
    """
    a = as_numpy(ids) if not isinstance(ids, np.ndarray) else ids
    a = np.asarray(a)
    if a.ndim == 0:
        a = a[None]
    if a.dtype.kind not in "iu" and a.size:
        raise TypeError(f"ids must have an integer dtype, got {a.dtype}")
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"expected {n} ids (one per vector), got shape {a.shape}")
    if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError("ids must fit in int64")
    a = a.astype(np.int64, copy=False)
    if a.size and a.min() < 0:
        raise ValueError(f"ids must be >= 0 (-1 marks a missing result), got {int(a.min())}")
    if np.unique(a).size != a.size:
        u, c = np.unique(a, return_counts=True)
        raise ValueError(f"ids must be distinct; id {int(u[c > 1][0])} is repeated")
    return a


def check_k(k: Any) -> int:
    """k must be a positive integer."""
    if type(k) is int and k > 0:
        return k
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an integer, got {type(k).__name__}")
    if k <= 0:
        raise ValueError(f"k must be >= 1, got {k}")
    return int(k)


# --------------------------------------------------------------------------- the protocol
class Index:
    """Base class of all indexes: validation, id bookkeeping, files.

    Subclasses set ``kind`` and implement ``_add(X, ids)``, ``_search(Q, k, allowed,
    **kwargs)``, ``_remove(slots)``, ``_state()`` and ``_from_state(meta, arrays)``.
    Vectors live in *slots* 0..ntotal-1; ``self._ids[slot]`` is the user id.
    """

    kind: ClassVar[str] = ""
    kind_version: ClassVar[int] = 1

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.kind:
            _KINDS[cls.kind] = cls

    def __init__(self, dim: int, metric: str = "l2"):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim <= 0:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self.dim = int(dim)
        self.metric = check_metric(metric)
        self._ids = np.empty(0, dtype=np.int64)
        self._next_id = 0
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None  # (sorted ids, their slots)
        self._identity: tuple[np.ndarray, bool] | None = None  # (ids array, whether id == slot)

    # ----------------------------------------------------------------- sizes
    @property
    def ntotal(self) -> int:
        """Number of vectors that searches can return."""
        return int(self._ids.shape[0])

    def __len__(self) -> int:
        return self.ntotal

    @property
    def ids(self) -> np.ndarray:
        """The ids of the stored vectors, by slot (read-only view)."""
        v = self._ids.view()
        v.flags.writeable = False
        return v

    def memory_bytes(self) -> int:
        """Bytes held by the index's arrays (ids included)."""
        return int(self._ids.nbytes + sum(a.nbytes for a in self._state()[1].values()))

    def info(self) -> dict[str, Any]:
        """Sizes and parameters, as ``ann info`` prints them."""
        return {
            "kind": self.kind,
            "dim": self.dim,
            "metric": self.metric,
            "ntotal": self.ntotal,
            "memory_bytes": self.memory_bytes(),
            **self._state()[0],
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim}, metric={self.metric!r}, ntotal={self.ntotal})"

    # ----------------------------------------------------------------- verbs
    def add(self, X: Any, ids: Any = None) -> np.ndarray:
        """Add vectors.

        Args:
            X: (n, dim) vectors (any real dtype; stored as float32).
            ids: (n,) distinct non-negative int64 ids; default: the next n integers after
                the largest id used so far.

        Returns:
            (n,) int64 ids of the added vectors.

        Raises:
            TypeError / ValueError: bad vectors or ids; ValueError: an id already present.
        """
        X = as_vectors(X, self.dim)
        n = X.shape[0]
        if ids is None:
            ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        else:
            ids = as_ids(ids, n)
            if self.ntotal and n:
                present = self.contains(ids)
                if present.any():
                    raise ValueError(f"id {int(ids[present][0])} is already in the index")
        if n == 0:
            return ids
        slot_ids = self._add(X, ids)  # an index that reuses slots returns its new slot -> id map
        self._ids = np.concatenate([self._ids, ids]) if slot_ids is None else slot_ids
        self._next_id = max(self._next_id, int(ids.max()) + 1)
        self._sorted = None
        return ids

    def search(self, Q: Any, k: int, filter: Filter = None, **kwargs: Any):
        """k nearest neighbours of each query.

        Args:
            Q: (nq, dim) queries (or one (dim,) query).
            k: results per query; where fewer than k vectors exist (or pass the filter)
                rows are padded with distance inf and id -1.
            filter: restrict results to some ids: a bool mask indexed by id, an iterable
                of allowed ids, or a callable taking an int64 id array and returning a
                bool array.
            **kwargs: index-specific search parameters (e.g. ``ef`` for HNSW).

        Returns:
            D: (nq, k) float32 distances ascending; I: (nq, k) int64 ids.

        Raises:
            ValueError: the index is empty, k < 1, bad queries.
        """
        k = check_k(k)
        Q = as_vectors(Q, self.dim, "queries")
        if self.ntotal == 0:
            raise ValueError("the index is empty: add vectors before searching")
        allowed = None if filter is None else self._allowed_slots(filter)
        D, slots = self._search(Q, k, allowed, **kwargs)
        I = self._ids[slots]  # slot -1 reads the last id: reset below
        I[slots < 0] = -1
        return D, I

    def remove(self, ids: Any) -> int:
        """Remove vectors by id; they are never returned again. Returns how many.

        Raises:
            KeyError: an id is not in the index.
        """
        ids = np.unique(np.atleast_1d(np.asarray(ids)))
        if ids.size == 0:
            return 0
        ids = as_ids(ids, ids.size)
        slots = self.slots_of(ids)
        self._remove(slots)
        self._sorted = None
        return int(slots.size)

    def save(self, path: str | os.PathLike) -> int:
        """Write the index to ``path`` (versioned, checksummed, atomic). Returns bytes."""
        meta, arrays = self._state()
        meta = {"dim": self.dim, "metric": self.metric, "next_id": self._next_id, **meta}
        arrays = {"ids": self._ids, **arrays}
        return container.save(path, FILE_KIND_PREFIX + self.kind, arrays, meta, self.kind_version)

    # ----------------------------------------------------------------- ids
    def _sorted_ids(self) -> tuple[np.ndarray, np.ndarray]:
        if self._sorted is None:
            order = np.argsort(self._ids, kind="stable")
            self._sorted = (self._ids[order], order.astype(np.int64))
        return self._sorted

    def contains(self, ids: Any) -> np.ndarray:
        """Bool array: which of ``ids`` are in the index."""
        ids = np.atleast_1d(np.asarray(ids, dtype=np.int64))
        s, _ = self._sorted_ids()
        if s.size == 0:
            return np.zeros(ids.shape, dtype=bool)
        pos = np.minimum(np.searchsorted(s, ids), s.size - 1)
        return s[pos] == ids

    def slots_of(self, ids: np.ndarray) -> np.ndarray:
        """Slots of ``ids`` (int64). Raises KeyError naming ids that are not present."""
        ids = np.asarray(ids, dtype=np.int64)
        present = self.contains(ids)
        if not present.all():
            missing = ids[~present]
            raise KeyError(f"{missing.size} id(s) not in the index, e.g. {missing[:5].tolist()}")
        s, order = self._sorted_ids()
        return order[np.searchsorted(s, ids)]

    def _allowed_slots(self, filter: Filter) -> np.ndarray:
        """Turn a filter into a bool mask over slots."""
        if callable(filter):
            mask = np.asarray(filter(self._ids.copy()))
            if mask.dtype != np.bool_ or mask.shape != self._ids.shape:
                raise TypeError(
                    f"a callable filter must return a bool array of shape {self._ids.shape}, "
                    f"got {mask.dtype} {mask.shape}"
                )
            return mask
        f = np.asarray(list(filter) if isinstance(filter, (set, frozenset)) else filter)
        if f.dtype == np.bool_:
            if f.ndim != 1:
                raise ValueError(f"a bool filter mask must be 1-D (indexed by id), got shape {f.shape}")
            if f.shape[0] >= self.ntotal and self._ids_are_slots():
                return f[: self.ntotal]  # read only by every _search: no O(n) gather per call
            inside = self._ids < f.shape[0]
            out = np.zeros(self.ntotal, dtype=bool)
            out[inside] = f[self._ids[inside]]
            return out
        if f.size == 0:
            return np.zeros(self.ntotal, dtype=bool)
        if f.dtype.kind not in "iu":
            raise TypeError(f"filter must be a bool mask, ids or a callable, got dtype {f.dtype}")
        return np.isin(self._ids, f.astype(np.int64).ravel())

    def _ids_are_slots(self) -> bool:
        """Whether slot i holds id i for every slot (ids 0..n-1 added in order, nothing
        removed): then an id mask is a slot mask. Checked once per ids array."""
        ids = self._ids
        cached = self._identity
        if cached is None or cached[0] is not ids:
            n = ids.shape[0]
            same = n == 0 or (int(ids[0]) == 0 and int(ids[-1]) == n - 1
                              and bool(np.array_equal(ids, np.arange(n, dtype=ids.dtype))))
            self._identity = cached = (ids, same)
        return cached[1]

    # ----------------------------------------------------------------- to implement
    def _add(self, X: np.ndarray, ids: np.ndarray) -> None:
        raise NotImplementedError

    def _search(self, Q: np.ndarray, k: int, allowed: np.ndarray | None, **kwargs: Any):
        raise NotImplementedError

    def _remove(self, slots: np.ndarray) -> None:
        raise NotImplementedError

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON meta, arrays) that describe the index, ids excluded."""
        raise NotImplementedError

    @classmethod
    def _from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "Index":
        raise NotImplementedError

    def _restore_ids(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._ids = np.array(arrays["ids"], dtype=np.int64)
        self._next_id = int(meta["next_id"])


def load(path: str | os.PathLike, mmap: bool = False) -> Index:
    """Read an index written by ``Index.save``, whatever its kind.

    Args:
        path: the file.
        mmap: map large arrays from the file instead of reading them (read-only).

    Raises:
        FileNotFoundError; CorruptFileError (a ValueError) for a truncated, corrupt or
        foreign file, or one written by a newer graphkit.
    """
    c = container.load(path, kind=FILE_KIND_PREFIX, mmap=mmap)
    kind = c.kind[len(FILE_KIND_PREFIX) :]
    cls = _KINDS.get(kind)
    if cls is None:
        raise CorruptFileError(f"{os.fspath(path)!r} holds an index of unknown kind {kind!r}")
    if c.kind_version > cls.kind_version:
        raise CorruptFileError(
            f"{os.fspath(path)!r} holds a {kind} index of layout version {c.kind_version}; "
            f"this graphkit reads up to {cls.kind_version}: upgrade graphkit"
        )
    try:
        return cls._from_state(c.meta, c.arrays)
    except (KeyError, ValueError, TypeError) as e:
        raise CorruptFileError(f"{os.fspath(path)!r} is not a valid {kind} index: {e}") from None


def known_kinds() -> dict[str, type[Index]]:
    """Index kinds that ``ann.load`` can read."""
    return dict(_KINDS)

