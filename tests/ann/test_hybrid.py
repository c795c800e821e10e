"""HybridIndex: predicates, qd-tree partitions and batched exact search against brute force
with the same filter, on MNIST-10k (digit labels as an attribute)."""

import numpy as np
import pytest

import ann
from ann import _hybrid_kernels as hk
from ann.hybrid import HybridIndex, parse_predicate
from native.container import CorruptFileError

SCHEMA = {"label": "int", "day": "date", "source": "category"}
SOURCES = ["web", "camera", "scan", "fax"]


@pytest.fixture(scope="module")
def data(mnist10k):
    rng = np.random.default_rng(7)
    n = 3000
    X = mnist10k["base"][:n]
    attrs = {"label": mnist10k["labels"][:n],
             "day": np.datetime64("2024-01-01") + rng.integers(0, 366, n),
             "source": rng.choice(SOURCES, n, p=[0.4, 0.3, 0.2, 0.1])}
    return X, mnist10k["query"][:60], attrs


def predicates(m, rng):
    out = []
    for _ in range(m):
        lab = int(rng.integers(10))
        s = np.datetime64("2024-01-01") + int(rng.integers(0, 300))
        r = rng.random()
        if r < 0.25:
            out.append(f"label == {lab}")
        elif r < 0.5:
            out.append(f"label in ({lab}, {(lab + 3) % 10}) and day >= '{s}' and day < '{s + 60}'")
        elif r < 0.75:
            out.append({"source": SOURCES[int(rng.integers(4))], "label": {">": lab - 2, "<=": lab}})
        else:
            out.append(f"day >= '{s}' and day <= '{s + 20}' and source in ('web', 'fax')")
    return out


def numpy_mask(attrs, pred):
    """The obvious reference filter, written independently of the index."""
    lab, day, src = attrs["label"], attrs["day"].astype("datetime64[D]"), attrs["source"]
    m = np.ones(lab.shape[0], bool)
    clauses = parse_predicate(pred) if isinstance(pred, str) else [
        (k, op, v) for k, spec in pred.items()
        for op, v in (spec.items() if isinstance(spec, dict) else [("==", spec)])]
    for name, op, v in clauses:
        col = {"label": lab, "day": day, "source": src}[name]
        if name == "day":
            v = tuple(np.datetime64(x) for x in v) if op == "in" else np.datetime64(v)
        if op == "in":
            m &= np.isin(col, list(v))
        else:
            m &= {"==": col == v, "<": col < v, "<=": col <= v, ">": col > v, ">=": col >= v}[op]
    return m


def brute(X, Q, masks, k, metric="l2"):
    if metric == "cosine":
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
        Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    D = np.full((len(Q), k), np.inf)
    for i, q in enumerate(Q):
        rows = np.flatnonzero(masks[i])
        if metric == "l2":
            d = ((X[rows].astype(np.float64) - q) ** 2).sum(1)
        else:
            d = 1 - X[rows].astype(np.float64) @ q
        d = np.sort(d)[:k]
        D[i, : d.size] = d
    return D


@pytest.fixture(scope="module")
def index(data):
    X, _, attrs = data
    idx = HybridIndex(784, schema=SCHEMA)
    idx.add(X, attributes=attrs)
    idx.partition(predicates(400, np.random.default_rng(1)), min_rows=32)
    return idx


@pytest.mark.parametrize("partitioned", [False, True])
def test_search_matches_brute_force(data, index, partitioned):
    X, Q, attrs = data
    if partitioned:
        idx = index
        assert idx.n_partitions > 4
    else:
        idx = HybridIndex(784, schema=SCHEMA)
        idx.add(X, attributes=attrs)
    preds = predicates(len(Q), np.random.default_rng(2))
    masks = np.array([numpy_mask(attrs, p) for p in preds])
    D, I = idx.search(Q, 10, preds)
    ref = brute(X, Q, masks, 10)
    assert np.allclose(D, ref, rtol=1e-5, atol=0.5)
    for i in range(len(Q)):  # every result passes its predicate, no id twice
        got = I[i][I[i] >= 0]
        assert masks[i][got].all() and np.unique(got).size == got.size
        assert got.size == min(10, masks[i].sum())


def test_match_matrix_kernel_against_numpy(data, index):
    X, _, attrs = data
    preds = predicates(80, np.random.default_rng(3))
    M = index.matches(preds)  # by slot
    ref = np.array([numpy_mask(attrs, p) for p in preds])
    assert np.array_equal(M, ref[:, index.ids])


def test_partition_reduces_rows_read(data, index):
    X, _, attrs = data
    one = HybridIndex(784, schema=SCHEMA)
    one.add(X, attributes=attrs)
    work = predicates(300, np.random.default_rng(4))
    assert index.rows_touched(work) < 0.6 * one.rows_touched(work)
    assert index.partition_sizes().sum() == X.shape[0]
    assert index.partition_sizes().min() >= 32


@pytest.mark.parametrize("metric", ["ip", "cosine"])
def test_other_metrics(data, metric):
    X, Q, attrs = data
    Xs = X / 255.0
    Qs = Q[:20] / 255.0
    idx = HybridIndex(784, metric=metric, schema=SCHEMA)
    idx.add(Xs, attributes=attrs)
    idx.partition(predicates(200, np.random.default_rng(5)), min_rows=32)
    preds = predicates(20, np.random.default_rng(6))
    masks = np.array([numpy_mask(attrs, p) for p in preds])
    D, _ = idx.search(Qs, 5, preds)
    assert np.allclose(D, brute(Xs, Qs, masks, 5, metric), atol=1e-3)


def test_add_remove_filter_and_empty(data):
    X, Q, attrs = data
    idx = HybridIndex(784, schema=SCHEMA)
    half = {k: v[:1500] for k, v in attrs.items()}
    idx.add(X[:1500], attributes=half)
    idx.partition(predicates(200, np.random.default_rng(8)), min_rows=32)
    idx.add(X[1500:], ids=np.arange(1500, 3000), attributes={k: v[1500:] for k, v in attrs.items()})
    gone = np.arange(0, 3000, 3)
    idx.remove(gone)
    preds = ["label == 4"] * 10
    extra = np.arange(3000) % 2 == 0  # id filter on top of the predicate
    D, I = idx.search(Q[:10], 10, preds, filter=extra)
    m = numpy_mask(attrs, "label == 4") & extra
    m[gone] = False
    assert np.allclose(D, brute(X, Q[:10], [m] * 10, 10), atol=0.5)
    assert not np.isin(I, gone).any() and (I[I >= 0] % 2 == 0).all()
    D, I = idx.search(Q[:3], 5, "label == 4 and label == 5")
    assert (I == -1).all() and np.isinf(D).all()
    D, I = idx.search(Q[:3], 5, "source == 'never-seen'")
    assert (I == -1).all()


def test_one_predicate_for_all_and_none(data, index):
    X, Q, attrs = data
    D1, _ = index.search(Q[:5], 3, "label == 1")
    D2, _ = index.search(Q[:5], 3, ["label == 1"] * 5)
    assert np.array_equal(D1, D2)
    D, _ = index.search(Q[:5], 3)
    assert np.allclose(D, brute(X, Q[:5], [np.ones(len(X), bool)] * 5, 3), atol=0.5)


@pytest.mark.parametrize("pred, err, msg", [
    ("colour == 'red'", ValueError, "unknown attribute 'colour'"),
    ("label == 'three'", TypeError, "'label' is int, got str"),
    ("day >= 20240101", TypeError, "'day' is a date"),
    ("source < 'web'", TypeError, "category: only == and in"),
    ({"source": 3}, TypeError, "holds str categories"),
    ("label 3", ValueError, "expected an operator"),
    ("label != 3", ValueError, "'!=' is not supported"),
    ("label == 3 and", ValueError, "ends early"),
    (["label == 1", "label == 2"], ValueError, "2 predicates for 1 queries"),
    ({"label": {"~": 3}}, ValueError, "unknown operator"),
    (3, TypeError, "a predicate must be a string, a dict or None"),
])
def test_predicate_errors(index, pred, err, msg):
    with pytest.raises(err, match=msg):
        index.search(np.zeros((1, 784), np.float32), 1, pred)


def test_add_errors():
    idx = HybridIndex(4, schema={"a": "int", "d": "date"})
    X = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match="missing attribute"):
        idx.add(X, attributes={"a": [1, 2]})
    with pytest.raises(ValueError, match="unknown attribute"):
        idx.add(X, attributes={"a": [1, 2], "d": ["2024-01-01"] * 2, "z": [0, 0]})
    with pytest.raises(TypeError, match="'a' is int"):
        idx.add(X, attributes={"a": [1.5, 2], "d": ["2024-01-01"] * 2})
    with pytest.raises(TypeError, match="'d' is a date"):
        idx.add(X, attributes={"a": [1, 2], "d": [3, 4]})
    with pytest.raises(ValueError, match="shape"):
        idx.add(X, attributes={"a": [1, 2, 3], "d": ["2024-01-01"] * 2})
    with pytest.raises(ValueError, match="expected one of"):
        HybridIndex(4, schema={"a": "float"})


def test_save_load_round_trip(tmp_path, data, index):
    _, Q, _ = data
    preds = predicates(len(Q), np.random.default_rng(9))
    D, I = index.search(Q, 10, preds)
    p = tmp_path / "h.ann"
    index.save(p)
    back = ann.load(p)
    assert isinstance(back, HybridIndex) and back.n_partitions == index.n_partitions
    D2, I2 = back.search(Q, 10, preds)
    assert np.array_equal(D, D2) and np.array_equal(I, I2)
    got = back.attributes([0, 1])
    assert got["day"].dtype == np.dtype("datetime64[D]") and got["source"][0] in SOURCES
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    p.write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError):
        ann.load(p)


def test_scan_kernel_covered_flag_is_only_a_shortcut(rng):
    """scan_partitions + merge_pairs against brute force, with and without the 'covered'
    shortcut (which must only skip tests that would pass)."""
    X = rng.normal(size=(500, 16)).astype(np.float32)
    Q = rng.normal(size=(7, 16)).astype(np.float32)
    A = rng.integers(0, 5, size=(1, 500)).astype(np.int64)
    order = np.argsort(A[0], kind="stable")
    X, A = np.ascontiguousarray(X[order]), np.ascontiguousarray(A[:, order])
    starts = np.searchsorted(A[0], np.arange(5))
    ends = np.r_[starts[1:], 500]
    lo = np.full((7, 1), 1, np.int64)
    hi = np.full((7, 1), 3, np.int64)
    in_ptr = np.zeros(8, np.int64)
    in_vals = np.empty(0, np.int64)
    pq = np.tile(np.arange(7), 3)
    items = np.array([[1, 0, 7], [2, 7, 14], [3, 14, 21]], np.int64)
    for covered in (False, True):
        hd, hr = hk.scan_partitions(Q, (Q * Q).sum(1), X, (X * X).sum(1), A, starts, ends, items, pq,
                                    np.full(21, covered), lo, hi, in_ptr, in_vals, 4, False, 64)
        order_q = np.argsort(pq, kind="stable")
        D, R = hk.merge_pairs(hd, hr, np.arange(0, 22, 3), order_q, 7, 4, True)
        ok = (A[0] >= 1) & (A[0] <= 3)
        ref = brute(X, Q, [ok] * 7, 4)
        assert np.allclose(D, ref, atol=1e-3)
        assert ok[R].all()


def test_cli_build_partition_and_query(tmp_path, data, capsys):
    from ann.cli import main
    from native.vecio import read_vectors, write_vectors

    X, Q, attrs = data
    write_vectors(str(tmp_path / "b.fvecs"), X)
    write_vectors(str(tmp_path / "q.fvecs"), Q[:10])
    np.savez(tmp_path / "a.npz", **{k: np.asarray(v) for k, v in attrs.items()})
    (tmp_path / "w.txt").write_text("\n".join(p for p in predicates(300, np.random.default_rng(11))
                                              if isinstance(p, str)))
    preds = [f"label == {i % 10}" for i in range(10)]
    (tmp_path / "p.txt").write_text("\n".join(preds))
    assert main(["build", "--data", str(tmp_path / "b.fvecs"), "--kind", "hybrid", "--attributes",
                 str(tmp_path / "a.npz"), "--workload", str(tmp_path / "w.txt"), "-o", str(tmp_path / "h.ann"),
                 "--quiet"]) == 0
    assert "partitions from the workload" in capsys.readouterr().out
    assert main(["query", str(tmp_path / "h.ann"), "--queries", str(tmp_path / "q.fvecs"), "--predicates",
                 str(tmp_path / "p.txt"), "-k", "5", "--batch-size", "3", "--distances",
                 str(tmp_path / "d.npy"), "--quiet"]) == 0
    D = read_vectors(str(tmp_path / "d.npy"))
    masks = [numpy_mask(attrs, p) for p in preds]
    assert np.allclose(D, brute(X, Q[:10], masks, 5), atol=0.5)
    assert main(["info", str(tmp_path / "h.ann"), "--json"]) == 0
    assert '"kind": "hybrid"' in capsys.readouterr().out
    with pytest.raises(SystemExit, match="unknown attribute 'colour'"):
        main(["query", str(tmp_path / "h.ann"), "--queries", str(tmp_path / "q.fvecs"), "--predicate",
              "colour == 1", "--quiet"])


def test_in_sets_route_to_their_values_only(data):
    """A partition between two IN values is not read: with partitions pure by label,
    'label in (0, 9)' reads exactly the rows labelled 0 or 9 (its box [0, 9] spans all)."""
    X, Q, attrs = data
    idx = HybridIndex(784, schema=SCHEMA)
    idx.add(X, attributes=attrs)
    idx.partition([f"label == {v}" for v in range(10)] * 5 + ["label in (0, 9)"], min_rows=8)
    want = int(np.isin(attrs["label"], [0, 9]).sum())
    assert idx.rows_touched(["label in (0, 9)"]) == want
    preds = ["label in (0, 9)", "label in (2, 5) and source in ('web', 'fax')"] * (len(Q) // 2)
    masks = np.array([numpy_mask(attrs, p) for p in preds])
    assert np.allclose(idx.search(Q, 5, preds)[0], brute(X, Q, masks, 5), rtol=1e-5, atol=0.5)


def test_routing_kernels_against_python(rng):
    na, nq, nparts = 2, 40, 15
    sets = {}
    for q in range(nq):
        for a in range(na):
            if rng.random() < 0.5:
                sets[q * na + a] = sorted(set(rng.integers(0, 30, rng.integers(1, 5)).tolist()))
    counts = np.zeros(nq * na + 1, np.int64)
    for j, s in sets.items():
        counts[j + 1] = len(s)
    in_ptr = np.cumsum(counts)
    in_vals = np.concatenate([np.array(sets[j], np.int64) if j in sets else np.empty(0, np.int64)
                              for j in range(nq * na)])
    box_lo = rng.integers(0, 30, (nparts, na))
    box_hi = box_lo + rng.integers(0, 6, (nparts, na))
    part, pq = np.divmod(np.arange(nparts * nq), nq)
    hit = hk.in_sets_hit(part, pq, box_lo, box_hi, in_ptr, in_vals, na)
    ref = [all(any(box_lo[p, a] <= v <= box_hi[p, a] for v in sets[q * na + a])
               for a in range(na) if q * na + a in sets) for p, q in zip(part, pq)]
    assert hit.tolist() == ref
    for right in (False, True):
        qs = np.arange(nq)
        qmin = np.full((nq, na), 0, np.int64)
        qmax = np.full((nq, na), 29, np.int64)
        for j, s in sets.items():
            qmin[j // na, j % na], qmax[j // na, j % na] = s[0], s[-1]
        c = 12
        bmin, bmax = qmin.copy(), qmax.copy()
        hk.tighten_box(qs, bmin, bmax, 1, c, right, in_ptr, in_vals, na)
        for q in range(nq):
            adm = sets.get(q * na + 1, list(range(qmin[q, 1], qmax[q, 1] + 1)))
            side = [v for v in adm if (v >= c) == right]
            if side:
                assert (bmin[q, 1], bmax[q, 1]) == (min(side), max(side)), (q, right)
            else:
                assert bmin[q, 1] > bmax[q, 1]
            assert (bmin[q, 0], bmax[q, 0]) == (qmin[q, 0], qmax[q, 0])


def test_fast_parser_agrees_with_the_tokenizer(monkeypatch):
    """parse_predicate reads well-formed predicates with whole-clause regexes and falls back
    to the tokenizer for the rest: both paths give the same clauses and the same errors."""
    import ann.hybrid as H
    texts = [p for p in predicates(300, np.random.default_rng(9)) if isinstance(p, str)] + [
        "", "label=3", "label in [1, 2]", "label in(1,2)", "labelin (1,2)", "in in (1)",
        "label == 3and x == 4", "label == 3 AND x == 4", "label == 3 and", "label != 3",
        "label == -3.5e2 and s == 'a b' and t == \"x'y\"", "label in (1, 'a' , 2.)", "label in ()",
        "label in (1,)", "label in (1, 2", "a == 1 andb == 2", "a == 1 and\tb == 2", "3 == a",
        "a == 'unterminated", "a In (1)", "s in ('a,b', 'c') and t == 'x and y'", "s in ('a)', \"b]\")"]

    def parse(text):
        try:
            return H.parse_predicate.__wrapped__(text)
        except ValueError as e:
            return "error", str(e)

    fast = [parse(t) for t in texts]
    monkeypatch.setattr(H, "_parse_fast", lambda text: None)
    assert fast == [parse(t) for t in texts]
    assert sum(isinstance(f, tuple) and f[:1] == ("error",) for f in fast) >= 8
