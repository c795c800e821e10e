"""Batch hybrid queries: vectors with relational attributes, workload-aware partitions (HQI)."""

from __future__ import annotations

import functools
import re
from typing import Any, Iterable, Mapping

import numpy as np

from ann import _hybrid_kernels as _k
from ann.base import Index
from native.distance import normalize_rows
from native.kernels.distance import _blas_pools, row_sq_norms

ATTRIBUTE_TYPES = ("int", "category", "date")
_I64 = np.iinfo(np.int64)
_TILE_ROWS = 2048
_QUERY_BLOCK = 128


def _type_name(v: Any) -> str:
    return type(v).__name__


# --------------------------------------------------------------------------- predicate language
_TOKEN = re.compile(r"""\s*(?:(?P<num>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|(?P<str>'[^']*'|"[^"]*")|"""
                    r"""(?P<op><=|>=|==|!=|=|<|>)|(?P<punct>[(),\[\]])|(?P<word>[A-Za-z_][A-Za-z_0-9]*))""")


def _tokens(text: str) -> list[tuple[str, Any, int]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read predicate {text!r} at position {pos}: {text[pos:pos + 10]!r}")
        kind = m.lastgroup
        raw = m.group(kind)
        if kind == "num":
            val: Any = float(raw) if any(c in raw for c in ".eE") else int(raw)
        elif kind == "str":
            val = raw[1:-1]
        elif kind == "word" and raw.lower() in ("and", "in"):
            kind, val = raw.lower(), raw.lower()
        else:
            val = raw
        out.append((kind, val, m.start(m.lastgroup)))
        pos = m.end()
    return out


_NUM = r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"
_LIT = _NUM + r"|'[^']*'" + r'|"[^"]*"'
_CLAUSE = re.compile(r"\s*([A-Za-z_][A-Za-z_0-9]*)\s*(?:(<=|>=|==|=|<|>)\s*(" + _LIT + r")|"
                     r"(?<=\s)[iI][nN]\s*[(\[]\s*((?:" + _LIT + r")(?:\s*,\s*(?:" + _LIT + r"))*)\s*[)\]])")
_LITS = re.compile(r"\s*(" + _LIT + r")\s*(?:,|$)")
_AND = re.compile(r"\s+[aA][nN][dD](?=\s)|\s*$")


def _literal(raw: str) -> Any:
    if raw[0] in "'\"":
        return raw[1:-1]
    return float(raw) if any(c in raw for c in ".eE") else int(raw)


def _parse_fast(text: str) -> tuple | None:
    """Well-formed predicates clause by clause (a few regex calls each); None for anything
    else, which :func:`parse_predicate` then reads token by token to report the error."""
    clauses, pos, n = [], 0, len(text)
    while True:
        m = _CLAUSE.match(text, pos)
        if m is None or m.group(1).lower() in ("and", "in"):
            return None
        if m.group(2) is not None:
            op = m.group(2)
            clauses.append((m.group(1), "==" if op == "=" else op, _literal(m.group(3))))
        else:
            clauses.append((m.group(1), "in", tuple(_literal(x) for x in _LITS.findall(m.group(4)))))
        sep = _AND.match(text, m.end())
        if sep is None:
            return None
        if sep.end() == n:
            return tuple(clauses)
        pos = sep.end()


@functools.lru_cache(maxsize=4096)
def parse_predicate(text: str) -> tuple[tuple[str, str, Any], ...]:
    """Parse ``"label == 3 and date >= '2020-01-01' and color in ('red', 'blue')"``.

    Grammar: ``clause ('and' clause)*``; ``clause = NAME OP literal | NAME 'in' (literal, ...)``
    with OP one of ``== = < <= > >=``; literals are integers or quoted strings (dates as
    ``'YYYY-MM-DD'``). An empty string matches every row.

    Returns:
        a tuple of ``(attribute, op, value)`` clauses (``op`` 'in' takes a tuple).

    Raises:
        ValueError: a syntax error, with the position.
    """
    fast = _parse_fast(text)
    if fast is not None:
        return fast
    toks = _tokens(text)
    clauses, i = [], 0

    def want(kinds, what):
        nonlocal i
        if i >= len(toks):
            raise ValueError(f"predicate {text!r} ends early: expected {what}")
        t = toks[i]
        if t[0] not in kinds:
            raise ValueError(f"predicate {text!r}: expected {what} at position {t[2]}, got {t[1]!r}")
        i += 1
        return t

    while toks:
        name = want(("word",), "an attribute name")[1]
        op = want(("op", "in"), "an operator (== < <= > >= in)")[1]
        if op == "!=":
            raise ValueError(f"predicate {text!r}: '!=' is not supported (conjunctions of ==, ranges and IN)")
        if op == "in":
            want(("punct",), "'('")
            vals = [want(("num", "str"), "a literal")[1]]
            while i < len(toks) and toks[i][1] == ",":
                i += 1
                vals.append(want(("num", "str"), "a literal")[1])
            close = want(("punct",), "')'")
            if close[1] not in ")]":
                raise ValueError(f"predicate {text!r}: expected ')' at position {close[2]}")
            clauses.append((name, "in", tuple(vals)))
        else:
            clauses.append((name, "==" if op == "=" else op, want(("num", "str"), "a literal")[1]))
        if i == len(toks):
            break
        want(("and",), "'and'")
    return tuple(clauses)


@functools.lru_cache(maxsize=1 << 16)
def _day_number(x: str) -> int:
    """'YYYY-MM-DD' -> days since 1970-01-01 (predicates repeat their dates)."""
    return int(np.datetime64(x, "D").astype(np.int64))


def _dict_clauses(pred: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    out = []
    for name, v in pred.items():
        if isinstance(v, Mapping):
            for op, x in v.items():
                if op not in ("==", "<", "<=", ">", ">=", "in"):
                    raise ValueError(f"unknown operator {op!r} for attribute {name!r}; "
                                     "expected one of ==, <, <=, >, >=, in")
                out.append((name, op, tuple(x) if op == "in" else x))
        elif isinstance(v, (list, tuple, set, frozenset, np.ndarray)):
            out.append((name, "in", tuple(np.asarray(list(v)).tolist())))
        else:
            out.append((name, "==", v))
    return out


class HybridIndex(Index):
    """Exact k-NN under attribute predicates, answered in batches over workload-aware partitions.

    Every vector carries relational attributes declared in ``schema``: ``'int'`` (int64),
    ``'category'`` (strings or ints, stored as dictionary codes) or ``'date'``
    (``'YYYY-MM-DD'`` strings, ``datetime.date`` or ``datetime64``; stored as days). A hybrid
    query is a vector, ``k`` and a predicate: a conjunction of equalities, ranges and IN
    lists, written as a string (``"label in (3, 5) and date >= '2021-01-01'"``) or a dict
    (``{"label": [3, 5], "date": {">=": "2021-01-01"}}``). The answer is the exact k
    nearest rows that satisfy the predicate.

    Partitioning (a greedy qd-tree, Yang et al., SIGMOD 2020, as HQI uses it): given a
    sample workload, :meth:`partition` cuts the rows recursively on ``attribute < value``
    with the cut values the workload's predicates use, each time taking the cut that
    minimises the rows the workload's queries must read (a query reads every partition
    whose attribute box meets its ranges), keeping partitions of at least ``min_rows``.

    Batch search (multi-query optimisation): every query is routed to the partitions its
    predicate can touch; the (partition, query) pairs are grouped by partition, so each
    partition is read once for all its queries with BLAS products of a query block and
    row tiles; the predicate is tested only for rows that would enter a query's top-k
    and only in partitions not wholly inside the query's ranges; per-partition results
    are merged. Partitions are scanned exhaustively, so results are exact (recall 1.0).

    Args:
        dim: vector dimension.
        metric: 'l2', 'ip' or 'cosine'.
        schema: ``{attribute name: 'int' | 'category' | 'date'}``.

    Example::

        idx = ann.HybridIndex(784, schema={"label": "int", "day": "date"})
        idx.add(X, attributes={"label": y, "day": days})
        idx.partition(["label == 3", "label in (1, 7) and day >= '2024-03-01'", ...])
        D, I = idx.search(Q, 10, predicates=["label == 3"] * len(Q))

    Paper: J. Mohoney, A. Pacaci, S. R. Chowdhury, A. Mousavi, I. F. Ilyas, U. F. Minhas,
    J. Pound, T. Rekatsinas, "High-Throughput Vector Similarity Search in Knowledge
    Graphs" (HQI), SIGMOD 2023.
    """

    kind = "hybrid"

    def __init__(self, dim: int, metric: str = "l2", schema: Mapping[str, str] | None = None):
        super().__init__(dim, metric)
        schema = dict(schema or {})
        for name, t in schema.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"attribute names must be identifiers, got {name!r}")
            if t not in ATTRIBUTE_TYPES:
                raise ValueError(f"attribute {name!r} has type {t!r}; expected one of {ATTRIBUTE_TYPES}")
        self.schema = schema
        self._names = list(schema)
        self._col = {n: i for i, n in enumerate(self._names)}
        self._cats: dict[str, dict[Any, int]] = {n: {} for n, t in schema.items() if t == "category"}
        self._X = np.empty((0, self.dim), np.float32)
        self._A = np.empty((len(self._names), 0), np.int64)
        # qd-tree: node -> (attribute, cut, left, right); leaves have left == -1
        self._tree = np.array([[-1, 0, -1, -1]], np.int64)
        self._dirty = True
        self._part_start = self._part_end = np.empty(0, np.int64)
        self._box_lo = self._box_hi = np.empty((0, len(self._names)), np.int64)

    # ----------------------------------------------------------------- attributes
    def _encode_column(self, name: str, values: Any, n: int) -> np.ndarray:
        t = self.schema[name]
        v = np.asarray(values)
        if v.ndim == 0:
            v = np.full(n, v.item() if v.dtype.kind != "M" else v)
        if v.shape != (n,):
            raise ValueError(f"attribute {name!r} has shape {v.shape}, expected ({n},)")
        if t == "int":
            if v.dtype.kind not in "iu":
                raise TypeError(f"attribute {name!r} is int, got values of dtype {v.dtype}")
            return v.astype(np.int64)
        if t == "date":
            if v.dtype.kind in "iuf" or v.dtype == np.bool_:
                raise TypeError(f"attribute {name!r} is a date, got numbers of dtype {v.dtype}; "
                                "give 'YYYY-MM-DD' strings, datetime.date or datetime64")
            try:
                return v.astype("datetime64[D]").astype(np.int64)
            except (ValueError, TypeError) as e:
                raise TypeError(f"attribute {name!r} is a date: {e}") from None
        if v.dtype.kind not in "iuUSO":
            raise TypeError(f"attribute {name!r} is a category of strings or ints, got dtype {v.dtype}")
        uniq, inv = np.unique(v, return_inverse=True)
        table = self._cats[name]
        codes = np.empty(uniq.size, np.int64)
        for j, u in enumerate(uniq.tolist()):
            if not isinstance(u, (str, int)):
                raise TypeError(f"attribute {name!r}: category values must be str or int, got {_type_name(u)}")
            self._check_category_type(name, u)
            codes[j] = table.setdefault(u, len(table))
        return codes[inv.reshape(-1)]

    def _check_category_type(self, name: str, u: Any) -> None:
        table = self._cats[name]
        if table:
            first = next(iter(table))
            if isinstance(first, str) != isinstance(u, str):
                raise TypeError(f"attribute {name!r} holds {_type_name(first)} categories, got "
                                f"{_type_name(u)} {u!r}")

    def _encode_value(self, name: str, x: Any, op: str) -> int | None:
        """One predicate literal -> int64 code (None: a category never seen, matches nothing)."""
        t = self.schema[name]
        if t == "int":
            if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
                raise TypeError(f"attribute {name!r} is int, got {_type_name(x)} {x!r}")
            return int(x)
        if t == "date":
            if isinstance(x, (bool, int, float, np.number)):
                raise TypeError(f"attribute {name!r} is a date, got {_type_name(x)} {x!r}; "
                                "write dates as 'YYYY-MM-DD'")
            try:
                return _day_number(x) if isinstance(x, str) else int(np.datetime64(x, "D").astype(np.int64))
            except (ValueError, TypeError):
                raise TypeError(f"attribute {name!r} is a date, got {x!r}; write dates as 'YYYY-MM-DD'") from None
        if op not in ("==", "in"):
            raise TypeError(f"attribute {name!r} is a category: only == and in apply, got {op!r}")
        if isinstance(x, np.generic):
            x = x.item()
        if not isinstance(x, (str, int)) or isinstance(x, bool):
            raise TypeError(f"attribute {name!r} is a category of str or int, got {_type_name(x)} {x!r}")
        self._check_category_type(name, x)
        return self._cats[name].get(x)

    def _clauses(self, pred: Any) -> list[tuple[str, str, Any]]:
        if pred is None:
            return []
        if isinstance(pred, str):
            return list(parse_predicate(pred))
        if isinstance(pred, Mapping):
            return _dict_clauses(pred)
        raise TypeError(f"a predicate must be a string, a dict or None, got {_type_name(pred)}")

    def compile(self, predicates: Any, nq: int):
        """Predicates -> (lo, hi, in_ptr, in_vals): per query and attribute an inclusive
        code range and a sorted IN set (CSR over ``q * A + a``; empty = no IN clause).

        ``predicates`` is one predicate for all queries or a sequence of ``nq``.

        Raises:
            ValueError: unknown attribute, bad syntax, wrong count.
            TypeError: a literal of the wrong type for its attribute.
        """
        if predicates is None or isinstance(predicates, (str, Mapping)) or not isinstance(predicates, Iterable):
            predicates = [predicates] * nq
        predicates = list(predicates)
        if len(predicates) != nq:
            raise ValueError(f"got {len(predicates)} predicates for {nq} queries")
        na = len(self._names)
        lo = np.full((nq, na), _I64.min, np.int64)
        hi = np.full((nq, na), _I64.max, np.int64)
        sets: dict[int, set[int]] = {}
        cache: dict[Any, tuple] = {}
        for q, pred in enumerate(predicates):
            key = pred if isinstance(pred, (str, type(None))) else None
            if key is not None and key in cache:
                lo[q], hi[q], qs = cache[key]
                for a, s in qs.items():
                    sets[q * na + a] = s
                continue
            qs = {}
            for name, op, x in self._clauses(pred):
                if name not in self._col:
                    raise ValueError(f"unknown attribute {name!r}; the schema has {self._names}")
                a = self._col[name]
                if op == "in":
                    codes = {c for c in (self._encode_value(name, v, "in") for v in x) if c is not None}
                    qs[a] = codes if a not in qs else qs[a] & codes
                    continue
                c = self._encode_value(name, x, op)
                if c is None:  # equality to an unseen category: nothing matches
                    lo[q, a], hi[q, a] = 1, 0
                elif op == "==":
                    lo[q, a], hi[q, a] = max(lo[q, a], c), min(hi[q, a], c)
                elif op == "<":
                    hi[q, a] = min(hi[q, a], c - 1)
                elif op == "<=":
                    hi[q, a] = min(hi[q, a], c)
                elif op == ">":
                    lo[q, a] = max(lo[q, a], c + 1)
                else:
                    lo[q, a] = max(lo[q, a], c)
            for a, s in qs.items():
                if not s:
                    lo[q, a], hi[q, a] = 1, 0
                sets[q * na + a] = s
            if key is not None:
                cache[key] = (lo[q].copy(), hi[q].copy(), qs)
        counts = np.zeros(nq * na + 1, np.int64)
        for j, s in sets.items():
            counts[j + 1] = len(s)
        in_ptr = np.cumsum(counts)
        in_vals = np.empty(int(in_ptr[-1]), np.int64)
        for j, s in sets.items():
            in_vals[in_ptr[j]:in_ptr[j + 1]] = sorted(s)
        return lo, hi, in_ptr, in_vals

    @staticmethod
    def _routing_box(lo, hi, in_ptr, in_vals):
        """Per query and attribute, [min, max] of the values the predicate admits."""
        qmin, qmax = lo.copy(), hi.copy()
        nq, na = lo.shape
        has_in = np.diff(in_ptr) > 0
        for j in np.flatnonzero(has_in):
            s = in_vals[in_ptr[j]:in_ptr[j + 1]]
            q, a = divmod(int(j), na)
            qmin[q, a] = max(qmin[q, a], s[0])
            qmax[q, a] = min(qmax[q, a], s[-1])
        return qmin, qmax, has_in.reshape(nq, na).any(axis=1) if na else np.zeros(nq, bool)

    def matches(self, predicates: Any, nq: int | None = None) -> np.ndarray:
        """(nq, ntotal) bool, by slot: rows satisfying each predicate (the reference filter)."""
        self._ensure_layout()
        nq = 1 if nq is None and (predicates is None or isinstance(predicates, (str, Mapping))) \
            else (len(predicates) if nq is None else nq)
        return _k.match_matrix(self._A, *self.compile(predicates, nq))

    # ----------------------------------------------------------------- verbs
    def add(self, X: Any, ids: Any = None, attributes: Mapping[str, Any] | None = None) -> np.ndarray:
        """Add vectors with their attributes.

        Args:
            X: (n, dim) vectors. ids: (n,) distinct ids (default: the next n integers).
            attributes: ``{name: (n,) values}`` for every attribute of the schema.

        Raises:
            ValueError: a missing or unknown attribute, wrong lengths; TypeError: values of
                the wrong type.
        """
        attributes = dict(attributes or {})
        unknown = set(attributes) - set(self._names)
        if unknown:
            raise ValueError(f"unknown attribute(s) {sorted(unknown)}; the schema has {self._names}")
        missing = [n for n in self._names if n not in attributes]
        if missing:
            raise ValueError(f"missing attribute(s) {missing}: every vector needs all of {self._names}")
        n = np.shape(X)[0] if np.ndim(X) == 2 else 1
        cols = [self._encode_column(name, attributes[name], n) for name in self._names]
        self._pending = np.stack(cols) if cols else np.empty((0, n), np.int64)
        try:
            return super().add(X, ids)
        finally:
            self._pending = None

    def _add(self, X: np.ndarray, ids: np.ndarray) -> None:
        if self.metric == "cosine":
            X = normalize_rows(X)
        self._X = np.concatenate([self._X, X])
        self._A = np.concatenate([self._A, self._pending], axis=1)
        self._dirty = True

    def search(self, Q: Any, k: int, predicates: Any = None, filter: Any = None, **kwargs: Any):
        """Exact filtered k-NN of a batch of queries.

        Args:
            Q: (nq, dim) queries. k: results per query.
            predicates: one predicate (string, dict or None) for all queries, or a sequence
                of nq of them.
            filter: optional extra id filter (as :meth:`ann.Index.search`).

        Returns:
            D, I: (nq, k) float32 / int64, ascending; inf / -1 where fewer rows match.
        """
        self._ensure_layout()
        return super().search(Q, k, filter=filter, predicates=predicates, **kwargs)

    def _search(self, Q: np.ndarray, k: int, allowed: np.ndarray | None, predicates: Any = None):
        nq, na = Q.shape[0], len(self._names)
        if self.metric == "cosine":
            Q = normalize_rows(Q)
        lo, hi, in_ptr, in_vals = self.compile(predicates, nq)
        part, pq, has_in = self._route_queries(lo, hi, in_ptr, in_vals)
        cover = ~has_in[pq]
        for a in range(na):
            cover &= (lo[pq, a] <= self._box_lo[part, a]) & (hi[pq, a] >= self._box_hi[part, a])
        attrs = self._A
        if allowed is not None:
            cover[:] = False
            attrs, lo, hi, in_ptr, in_vals = self._with_allowed(allowed, lo, hi, in_ptr, in_vals)
        items = self._items(part)
        q_sq = row_sq_norms(Q) if self.metric == "l2" else np.zeros(nq, np.float32)
        x_sq = self._x_sq
        ip = self.metric != "l2"
        with _blas_pools().limit(limits=1):
            hd, hr = _k.scan_partitions(Q, q_sq, self._X, x_sq, attrs, self._part_start, self._part_end,
                                        items, pq.astype(np.int64), cover, lo, hi, in_ptr, in_vals,
                                        k, ip, _TILE_ROWS)
        order = np.argsort(pq, kind="stable")
        q_ptr = np.concatenate([[0], np.cumsum(np.bincount(pq, minlength=nq))])
        return _k.merge_pairs(hd, hr, q_ptr, order, nq, k, not ip)

    def _route_queries(self, lo, hi, in_ptr, in_vals):
        """The (partition, query) pairs to scan, grouped by partition, and which queries have
        an IN clause: a partition is read when its data box meets the query's routing box and,
        for each IN set, holds one of the set's values in its range."""
        nq, na = lo.shape
        qmin, qmax, has_in = self._routing_box(lo, hi, in_ptr, in_vals)
        nonempty = self._part_end > self._part_start
        touch = np.broadcast_to(nonempty, (nq, nonempty.size)).copy()
        for a in range(na):
            touch &= (qmin[:, a, None] <= self._box_hi[None, :, a]) & (qmax[:, a, None] >= self._box_lo[None, :, a])
        part, pq = np.nonzero(touch.T)
        if has_in.any():  # the box of an IN set spans the gaps between its values
            hit = _k.in_sets_hit(part, pq, self._box_lo, self._box_hi, in_ptr, in_vals, na)
            part, pq = part[hit], pq[hit]
        return part, pq, has_in

    def _with_allowed(self, allowed, lo, hi, in_ptr, in_vals):
        """Fold an id filter in as one more attribute (0/1 per row) required to be 1."""
        attrs = np.vstack([self._A, allowed.astype(np.int64)[None, :]])
        nq, na = lo.shape
        lo = np.hstack([lo, np.ones((nq, 1), np.int64)])
        hi = np.hstack([hi, np.ones((nq, 1), np.int64)])
        counts = np.diff(in_ptr).reshape(nq, na)
        counts = np.hstack([counts, np.zeros((nq, 1), np.int64)]).reshape(-1)
        return attrs, lo, hi, np.concatenate([[0], np.cumsum(counts)]), in_vals

    def _items(self, part: np.ndarray) -> np.ndarray:
        """Work items (partition, first pair, end pair): blocks of a partition's queries."""
        if part.size == 0:
            return np.empty((0, 3), np.int64)
        starts = np.flatnonzero(np.r_[True, part[1:] != part[:-1]])
        ends = np.r_[starts[1:], part.size]
        items = []
        for s, e in zip(starts.tolist(), ends.tolist()):
            for b in range(s, e, _QUERY_BLOCK):
                items.append((part[s], b, min(e, b + _QUERY_BLOCK)))
        return np.array(items, np.int64)

    def _remove(self, slots: np.ndarray) -> None:
        keep = np.ones(self.ntotal, bool)
        keep[slots] = False
        self._X = np.ascontiguousarray(self._X[keep])
        self._A = np.ascontiguousarray(self._A[:, keep])
        self._ids = self._ids[keep]
        self._dirty = True

    # ----------------------------------------------------------------- partitions
    def _route(self, A: np.ndarray) -> np.ndarray:
        """Leaf node of each row (columns of A) in the qd-tree."""
        node = np.zeros(A.shape[1], np.int64)
        T = self._tree
        while True:
            inner = T[node, 2] >= 0
            if not inner.any():
                return node
            idx = np.flatnonzero(inner)
            nd = node[idx]
            go_left = A[T[nd, 0], idx] < T[nd, 1]
            node[idx] = np.where(go_left, T[nd, 2], T[nd, 3])

    def _ensure_layout(self) -> None:
        """Order rows by partition (slots change), compute partition ranges and data boxes."""
        if not self._dirty:
            return
        leaves = np.flatnonzero(self._tree[:, 2] < 0)
        leaf_no = np.full(self._tree.shape[0], -1, np.int64)
        leaf_no[leaves] = np.arange(leaves.size)
        p = leaf_no[self._route(self._A)]
        order = np.argsort(p, kind="stable")
        self._X = np.ascontiguousarray(self._X[order])
        self._A = np.ascontiguousarray(self._A[:, order])
        self._ids = self._ids[order]
        self._sorted = None
        self._x_sq = row_sq_norms(self._X) if self._X.shape[0] else np.empty(0, np.float32)
        counts = np.bincount(p, minlength=leaves.size)
        self._part_end = np.cumsum(counts).astype(np.int64)
        self._part_start = self._part_end - counts
        na, L = len(self._names), leaves.size
        self._box_lo = np.full((L, na), _I64.max, np.int64)
        self._box_hi = np.full((L, na), _I64.min, np.int64)
        ps = p[order]
        for a in range(na):
            np.minimum.at(self._box_lo[:, a], ps, self._A[a])
            np.maximum.at(self._box_hi[:, a], ps, self._A[a])
        self._dirty = False

    @property
    def n_partitions(self) -> int:
        return int((self._tree[:, 2] < 0).sum())

    def partition(self, workload: Iterable[Any], min_rows: int = 64, max_partitions: int = 1024) -> int:
        """Build the qd-tree from a sample workload of predicates (replaces the old one).

        Args:
            workload: predicates (strings / dicts) of typical queries.
            min_rows: smallest partition a cut may create.
            max_partitions: stop cutting at this many partitions.

        Returns:
            the number of partitions.
        """
        if isinstance(min_rows, bool) or not isinstance(min_rows, (int, np.integer)) or min_rows < 1:
            raise ValueError(f"min_rows must be a positive integer, got {min_rows!r}")
        workload = list(workload)
        lo, hi, in_ptr, in_vals = self.compile(workload, len(workload))
        qmin, qmax, _ = self._routing_box(lo, hi, in_ptr, in_vals)
        live = np.flatnonzero(np.all(qmin <= qmax, axis=1))
        na = len(self._names)
        A = self._A
        # candidate cuts 'x < c' per attribute: the predicates' bounds and IN values
        in_attr = np.repeat(np.arange(in_ptr.size - 1) % max(na, 1), np.diff(in_ptr))
        cands = []
        for a in range(na):
            v_in = in_vals[in_attr == a]
            c = np.concatenate([qmin[:, a], qmax[:, a] + (qmax[:, a] < _I64.max), v_in, v_in + 1])
            cands.append(np.unique(c[(c > _I64.min) & (c < _I64.max)]))
        tree = [[-1, 0, -1, -1]]
        # stack of (node, row indices, query indices, the queries' routing boxes inside the
        # node: cut to the node's side of every cut above it, IN sets snapped to their values)
        todo = [(0, np.arange(A.shape[1]), live, qmin[live], qmax[live])]
        leaves = 1
        while todo and leaves < max_partitions:
            node, rows, qs, bmin, bmax = todo.pop()
            if rows.size < 2 * min_rows or qs.size == 0:
                continue
            best = (rows.size * qs.size, -1, 0)  # (rows read, attribute, cut)
            for a in range(na):
                v = np.sort(A[a, rows])
                c = cands[a][(cands[a] > v[0]) & (cands[a] <= v[-1])]
                if c.size == 0:
                    continue
                nl = np.searchsorted(v, c, side="left")
                ok = (nl >= min_rows) & (rows.size - nl >= min_rows)
                if not ok.any():
                    continue
                c, nl = c[ok], nl[ok]
                lo_s, hi_s = np.sort(bmin[:, a]), np.sort(bmax[:, a])
                q_left = np.searchsorted(lo_s, c - 1, side="right")  # queries with qmin <= c-1
                q_right = qs.size - np.searchsorted(hi_s, c, side="left")  # qmax >= c
                cost = nl * q_left + (rows.size - nl) * q_right
                j = int(np.argmin(cost))
                if cost[j] < best[0]:
                    best = (int(cost[j]), a, int(c[j]))
            _, a, c = best
            if a < 0:
                continue
            left = A[a, rows] < c
            l_id, r_id = len(tree), len(tree) + 1
            tree[node] = [a, c, l_id, r_id]
            tree += [[-1, 0, -1, -1], [-1, 0, -1, -1]]
            leaves += 1
            for right, keep in ((False, bmin[:, a] <= c - 1), (True, bmax[:, a] >= c)):
                cmin, cmax = bmin[keep], bmax[keep]
                _k.tighten_box(qs[keep], cmin, cmax, a, c, right, in_ptr, in_vals, na)
                todo.append((r_id if right else l_id, rows[~left] if right else rows[left],
                             qs[keep], cmin, cmax))
        self._tree = np.array(tree, np.int64)
        self._dirty = True
        self._ensure_layout()
        return self.n_partitions

    def partition_sizes(self) -> np.ndarray:
        """Rows per partition."""
        self._ensure_layout()
        return self._part_end - self._part_start

    def rows_touched(self, predicates: Any) -> int:
        """Rows a batch with these predicates reads (the cost the partitioning minimises)."""
        self._ensure_layout()
        preds = list(predicates)
        part, _, _ = self._route_queries(*self.compile(preds, len(preds)))
        return int(self.partition_sizes()[part].sum())

    # ----------------------------------------------------------------- introspection and files
    def attributes(self, ids: Any) -> dict[str, np.ndarray]:
        """Stored attribute values of ``ids`` (ints, category values, datetime64[D])."""
        self._ensure_layout()
        slots = self.slots_of(np.atleast_1d(np.asarray(ids, dtype=np.int64)))
        out = {}
        for name in self._names:
            col = self._A[self._col[name], slots]
            t = self.schema[name]
            if t == "date":
                out[name] = col.astype("datetime64[D]")
            elif t == "category":
                inv = list(self._cats[name])
                out[name] = np.array([inv[c] for c in col])
            else:
                out[name] = col.copy()
        return out

    def memory_bytes(self) -> int:
        return int(self._X.nbytes + self._A.nbytes + self._ids.nbytes + self._tree.nbytes
                   + getattr(self, "_x_sq", np.empty(0)).nbytes)

    def _state(self):
        self._ensure_layout()
        meta = {"schema": [[n, self.schema[n]] for n in self._names], "categories": {n: list(t) for n, t in self._cats.items()},
                "partitions": self.n_partitions}
        return meta, {"vectors": self._X, "attributes": self._A, "tree": self._tree}

    @classmethod
    def _from_state(cls, meta, arrays):
        idx = cls(int(meta["dim"]), meta["metric"], schema=dict(meta["schema"]))  # pairs: order kept
        for n, vals in meta["categories"].items():
            if n not in idx._cats:
                raise ValueError(f"categories for {n!r}, which is not a category attribute")
            idx._cats[n] = {v: i for i, v in enumerate(vals)}
        X, A, T = (np.array(arrays[k]) for k in ("vectors", "attributes", "tree"))
        n = arrays["ids"].shape[0]
        if X.shape != (n, idx.dim) or A.shape != (len(idx._names), n):
            raise ValueError(f"vectors {X.shape} / attributes {A.shape} do not match {n} ids")
        nodes = T.shape[0]
        if T.ndim != 2 or T.shape[1] != 4 or nodes == 0:
            raise ValueError(f"bad qd-tree array of shape {T.shape}")
        inner = T[:, 2] >= 0
        if ((T[inner, 2:] <= np.arange(nodes)[inner, None]) | (T[inner, 2:] >= nodes)).any() \
                or ((T[inner, 0] < 0) | (T[inner, 0] >= len(idx._names))).any():
            raise ValueError("qd-tree links point outside the tree")
        idx._X = np.ascontiguousarray(X, np.float32)
        idx._A = np.ascontiguousarray(A, np.int64)
        idx._tree = T.astype(np.int64)
        idx._restore_ids(meta, arrays)
        idx._dirty = True
        return idx

