"""CSRGraph against slow references: numpy lexsort, scipy.sparse, networkx and PyG utilities."""

import warnings
from collections import Counter

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.utils import remove_self_loops as pyg_remove_self_loops
from torch_geometric.utils import subgraph as pyg_subgraph
from torch_geometric.utils import to_undirected as pyg_to_undirected

from graphkit.datasets import load_planetoid
from native import container
from native import device as dev
from native.container import CorruptFileError
from native.csr import CSRGraph

INDEX_DTYPES = ["int32", "int64"]


def random_edges(rng, n, e):
    """(src, dst) int64 with a repeated edge and a self-loop; nodes beyond the ids stay isolated."""
    src = rng.integers(0, n, e) if n else np.zeros(0, np.int64)
    dst = rng.integers(0, n, e) if n else np.zeros(0, np.int64)
    if e >= 3:
        src[1], dst[1] = src[0], dst[0]
        dst[2] = src[2]
    return src, dst


def reference_csr(src, dst, n):
    """indptr, indices and permutation by a stable sort on (src, dst)."""
    perm = np.lexsort((dst, src))
    indptr = np.concatenate(([0], np.cumsum(np.bincount(src, minlength=n))))
    return indptr, dst[perm], perm


def dense(src, dst, n, w=None):
    """Dense adjacency with duplicates summed, from scipy's COO."""
    w = np.ones(len(src), np.float64) if w is None else w
    return sp.coo_matrix((w, (src, dst)), shape=(n, n)).toarray()


def edge_list(g):
    rows = np.repeat(np.arange(g.num_nodes), np.diff(g.indptr))
    return list(zip(rows.tolist(), g.indices.tolist()))


@pytest.fixture(scope="module")
def cora():
    return load_planetoid("cora")


# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("as_torch", [False, True])
@pytest.mark.parametrize("n, e", [(0, 0), (1, 0), (6, 0), (7, 40), (300, 2000), (1000, 60)])
def test_build_matches_stable_sort_and_scipy(rng, index_dtype, as_torch, n, e):
    src, dst = random_edges(rng, n, e)
    w = rng.random(e).astype(np.float32)
    t = rng.integers(0, 10**12, e)
    ei = np.stack([src, dst])
    g = CSRGraph.from_edge_index(
        torch.from_numpy(ei) if as_torch else ei, num_nodes=n, weights=w, timestamps=t, index_dtype=index_dtype
    )
    indptr, indices, perm = reference_csr(src, dst, n)
    assert (g.num_nodes, g.num_edges, g.device) == (n, e, "cpu")
    assert g.indptr.dtype == np.int64 and g.indices.dtype == index_dtype
    np.testing.assert_array_equal(g.indptr, indptr)
    np.testing.assert_array_equal(g.indices, indices)
    np.testing.assert_array_equal(g.edge_ids, perm)
    np.testing.assert_array_equal(g.weights, w[perm])
    np.testing.assert_array_equal(g.timestamps, t[perm])
    np.testing.assert_allclose(g.to_scipy().toarray(), dense(src, dst, n, w), rtol=1e-6)


def test_num_nodes_defaults_to_max_id_plus_one():
    assert CSRGraph.from_edge_list([0, 4], [2, 1]).num_nodes == 5
    assert CSRGraph.from_edge_index(np.zeros((2, 0), np.int64)).num_nodes == 0
    g = CSRGraph.from_edge_list([], [], num_nodes=4)
    assert (g.num_nodes, g.num_edges) == (4, 0)
    np.testing.assert_array_equal(g.degree(), [0, 0, 0, 0])


def test_constructor_dtypes():
    g = CSRGraph(
        np.array([0, 1, 2], np.int32),
        np.array([1, 0], np.int32),
        weights=np.array([1, 2], np.int64),
        edge_ids=np.array([2**40, 2**40 + 7], np.uint64),
        timestamps=np.array([3, 4], np.int16),
    )
    assert g.indptr.dtype == np.int64 and g.indices.dtype == np.int32
    assert g.weights.dtype == np.float32 and g.edge_ids.dtype == np.int64
    assert g.timestamps.dtype == np.int64
    assert g.edge_ids.tolist() == [2**40, 2**40 + 7]
    g = CSRGraph([0, 1, 2], np.array([1, 0], np.uint16), timestamps=[0.5, 1.5])
    assert g.indices.dtype == np.int64 and g.timestamps.dtype == np.float64
    g = CSRGraph(torch.tensor([0, 2, 2, 3, 3, 3]), torch.tensor([3, 4, 0], dtype=torch.int32))
    assert isinstance(g.indices, np.ndarray) and g.indices.dtype == np.int32  # torch CPU -> numpy
    assert "num_nodes=5, num_edges=3, indices=int32" in repr(g)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: CSRGraph([], []), ValueError, "N\\+1 >= 1"),
        (lambda: CSRGraph([1, 1], [0]), ValueError, r"indptr\[0\] must be 0, got 1"),
        (lambda: CSRGraph([0, 2], [0]), ValueError, r"indptr\[-1\] must equal the number of edges \(1\), got 2"),
        (lambda: CSRGraph([0, 2, 1, 3], [0, 1, 2]), ValueError, r"non-decreasing, got indptr\[2\] = 1 < indptr\[1\] = 2"),
        (lambda: CSRGraph([0, 1], [1]), ValueError, r"indices must lie in \[0, 1\), found 1 at position 0"),
        (lambda: CSRGraph([0, 2, 2], [0, -1]), ValueError, r"found -1 at position 1"),
        (lambda: CSRGraph([0, 2, 2], [1, 0]), ValueError, "sorted within each row, got 1 then 0 at positions 0, 1"),
        (lambda: CSRGraph([0, 1, 2], [0.0, 1.0]), TypeError, "indices must hold integers, got dtype float64"),
        (lambda: CSRGraph([0.0, 1.0], [0]), TypeError, "indptr must hold integers"),
        (lambda: CSRGraph([0, 1], [[0]]), ValueError, r"indices must be 1-D, got shape \(1, 1\)"),
        (lambda: CSRGraph([0, 1], [0], num_nodes=3), ValueError, "num_nodes is 3, but indptr has 2 entries"),
        (lambda: CSRGraph([0, 1], [0], weights=[1.0, 2.0]), ValueError, r"weights has 2 entries, expected one per edge \(1\)"),
        (lambda: CSRGraph([0, 1], [0], weights=np.array([1j])), TypeError, "weights must be real numbers"),
        (lambda: CSRGraph([0, 1], [0], edge_ids=[0.5]), TypeError, "edge_ids must hold integers"),
        (lambda: CSRGraph([0, 1], [0], edge_ids=[0, 1]), ValueError, "edge_ids has 2 entries"),
        (lambda: CSRGraph([0, 1], [0], timestamps=[True]), TypeError, "timestamps must be integers or floats"),
        (lambda: CSRGraph([0, 2], [0, 0], weights=[1.0, np.nan]), ValueError, "weights must be finite, found nan at position 1"),
        (lambda: CSRGraph([0, 1], [0], weights=[1e300]), ValueError, "weights must be finite, found inf"),  # beyond float32
        (lambda: CSRGraph.from_edge_list([0, 1], [1, 0], timestamps=[np.inf, 0.0]), ValueError, "timestamps must be finite, found inf at position 0"),
        (lambda: CSRGraph.from_scipy(sp.csr_matrix(np.array([[0, np.nan], [1.0, 0]]))), ValueError, "weights must be finite, found nan"),
        (lambda: CSRGraph.from_edge_index(np.zeros((3, 2), np.int64)), ValueError, r"shape \(2, E\), got \(3, 2\)"),
        (lambda: CSRGraph.from_edge_list([0, -1], [1, 0]), ValueError, r"src must lie in \[0, 2\), found -1 at position 1"),
        (lambda: CSRGraph.from_edge_list([0, 1], [1, 5], num_nodes=3), ValueError, r"dst must lie in \[0, 3\), found 5"),
        (lambda: CSRGraph.from_edge_list([0, 1], [1]), ValueError, "same length, got 2 and 1"),
        (lambda: CSRGraph.from_edge_list([0.5], [1.0]), TypeError, "src must hold integers"),
        (lambda: CSRGraph.from_edge_list([0], [0], num_nodes=-1), ValueError, "non-negative integer, got -1"),
        (lambda: CSRGraph.from_edge_list([0], [0], index_dtype=np.float32), TypeError, "index_dtype must be int32 or int64"),
        (lambda: CSRGraph.from_edge_list([0], [0], num_nodes=2**31 + 2, index_dtype="int32"), ValueError, "int32 holds"),
        (lambda: CSRGraph.from_scipy(sp.csr_matrix((2, 3))), ValueError, r"square, got shape \(2, 3\)"),
        (lambda: CSRGraph.from_scipy(np.eye(2)), TypeError, "scipy sparse matrix, got ndarray"),
    ],
)
def test_bad_input_is_refused(make, error, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the error alone, no stray RuntimeWarning before it
        with pytest.raises(error, match=match):
            make()


def test_rows_may_restart_lower_after_empty_rows():
    g = CSRGraph([0, 2, 2, 3, 3, 3], [3, 4, 0])
    assert edge_list(g) == [(0, 3), (0, 4), (2, 0)]


def test_empty_graph_operations(tmp_path):
    g = CSRGraph([0], np.zeros(0, np.int64))
    assert (g.num_nodes, g.num_edges) == (0, 0)
    assert g.degree().shape == g.in_degree().shape == (0,)
    assert tuple(g.to_edge_index().shape) == (2, 0)
    assert g.to_scipy().shape == (0, 0) and g.to_networkx().number_of_nodes() == 0
    for h in (g.symmetrize(), g.dedup(), g.remove_self_loops(), g.add_reverse_edges(), g.subgraph([])[0]):
        assert (h.num_nodes, h.num_edges) == (0, 0)
    g.save(tmp_path / "empty.gk")
    assert CSRGraph.load(tmp_path / "empty.gk").num_nodes == 0


# --------------------------------------------------------------------------- conversions


def test_degrees_and_neighbors_match_networkx_multidigraph(rng):
    src, dst = random_edges(rng, 80, 400)
    G = nx.MultiDiGraph()
    G.add_nodes_from(range(90))  # 10 isolated nodes
    G.add_edges_from(zip(src.tolist(), dst.tolist()))
    g = CSRGraph.from_networkx(G)
    assert (g.num_nodes, g.num_edges) == (90, 400)
    np.testing.assert_array_equal(g.degree(), [G.out_degree(v) for v in range(90)])
    np.testing.assert_array_equal(g.in_degree(), [G.in_degree(v) for v in range(90)])
    for v in range(90):
        assert g.neighbors(v).tolist() == sorted(w for _, w in G.out_edges(v))
    for bad in (-1, 90, 1.5, True):
        with pytest.raises(ValueError, match=r"node id in \[0, 90\)"):
            g.neighbors(bad)


def test_from_networkx_undirected_with_labels_and_weights():
    G = nx.Graph()
    G.add_nodes_from(["a", "b", "c", "d"])  # 'd' is isolated
    G.add_edge("a", "b", weight=2.0)
    G.add_edge("b", "c", weight=3.0)
    G.add_edge("c", "c", weight=5.0)
    G.add_edge("a", "c")  # no weight attribute: 1.0
    g = CSRGraph.from_networkx(G, weight="weight")
    ref = nx.to_scipy_sparse_array(G, nodelist=list(G.nodes), weight="weight").toarray()
    np.testing.assert_array_equal(g.to_scipy().toarray(), ref)
    edges = list(G.edges)
    index = {v: i for i, v in enumerate(G.nodes)}
    for (i, j), k in zip(edge_list(g), g.edge_ids.tolist()):
        assert {i, j} == {index[edges[k][0]], index[edges[k][1]]}
    assert CSRGraph.from_networkx(G).weights is None


def test_to_networkx_round_trip(rng):
    src, dst = random_edges(rng, 40, 150)
    g = CSRGraph.from_edge_list(src, dst, num_nodes=45, weights=rng.random(150), dedup=True)
    D = g.to_networkx()
    assert D.number_of_nodes() == 45 and D.number_of_edges() == g.num_edges
    np.testing.assert_allclose(nx.to_scipy_sparse_array(D, nodelist=range(45)).toarray(), g.to_scipy().toarray())
    U = g.to_networkx(directed=False)
    assert set(map(frozenset, U.edges)) == {frozenset(e) for e in edge_list(g)}


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_scipy_round_trip(rng, fmt):
    A = sp.random(50, 50, density=0.1, format="coo", random_state=7, dtype=np.float32)
    A = sp.coo_matrix((np.append(A.data, [0.0, 2.0]), (np.append(A.row, [3, 3]), np.append(A.col, [4, 4]))), shape=A.shape)
    A = A.asformat(fmt)  # an explicit zero and a duplicate (coo) entry
    g = CSRGraph.from_scipy(A)
    assert g.num_edges == A.nnz and g.weights.dtype == np.float32
    np.testing.assert_allclose(g.to_scipy().toarray(), A.toarray())
    coo = A.tocoo()
    np.testing.assert_array_equal(coo.data[g.edge_ids], g.weights)
    B = g.to_scipy()
    B.data[:] = -1  # the scipy matrix is a copy
    assert (g.weights != -1).all()


def test_to_edge_index_round_trip_recovers_input(rng):
    src, dst = random_edges(rng, 30, 200)
    ei = torch.from_numpy(np.stack([src, dst]))
    g = CSRGraph.from_edge_index(ei, num_nodes=30, index_dtype="int32")
    out = g.to_edge_index()
    assert out.dtype == torch.int64 and tuple(out.shape) == (2, 200)
    back = torch.empty_like(out)
    back[:, torch.from_numpy(g.edge_ids)] = out
    assert torch.equal(back, ei)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 12),
    pairs=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=40),
    weighted=st.booleans(),
    index_dtype=st.sampled_from(INDEX_DTYPES),
)
def test_edge_index_round_trip_property(n, pairs, weighted, index_dtype):
    pairs = [(i, j) for i, j in pairs if i < n and j < n]
    ei = np.array(pairs, np.int64).reshape(-1, 2).T
    w = np.arange(len(pairs), dtype=np.float32) if weighted else None
    g = CSRGraph.from_edge_index(ei, num_nodes=n, weights=w, index_dtype=index_dtype)
    assert sorted(g.edge_ids.tolist()) == list(range(len(pairs)))
    out = g.to_edge_index().numpy()
    np.testing.assert_array_equal(out[:, np.argsort(g.edge_ids)], ei)
    if weighted:
        np.testing.assert_array_equal(g.weights, w[g.edge_ids])


# --------------------------------------------------------------------------- derived graphs


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_subgraph_matches_scipy_and_pyg(rng, index_dtype):
    n = 200
    src, dst = random_edges(rng, n, 1500)
    w = rng.random(1500).astype(np.float32)
    g = CSRGraph.from_edge_list(src, dst, n, weights=w, timestamps=np.arange(1500), index_dtype=index_dtype)
    nodes = rng.permutation(n)[:70]  # an arbitrary order
    sub, eids = g.subgraph(nodes)
    assert sub.num_nodes == 70 and sub.indices.dtype == index_dtype
    np.testing.assert_allclose(sub.to_scipy().toarray(), dense(src, dst, n, w)[np.ix_(nodes, nodes)], rtol=1e-6)
    np.testing.assert_array_equal(sub.edge_ids, eids)
    rows, cols = np.array(edge_list(sub)).reshape(-1, 2).T
    np.testing.assert_array_equal(src[eids], nodes[rows])
    np.testing.assert_array_equal(dst[eids], nodes[cols])
    np.testing.assert_array_equal(sub.timestamps, eids)
    # PyG relabels in id order: compare on the sorted node set
    ordered = np.sort(nodes)
    sub2, eids2 = g.subgraph(torch.from_numpy(np.isin(np.arange(n), nodes)))  # a boolean mask
    ref_ei, _, ref_mask = pyg_subgraph(
        torch.from_numpy(ordered), torch.from_numpy(np.stack([src, dst])), relabel_nodes=True, num_nodes=n, return_edge_mask=True
    )
    assert Counter(edge_list(sub2)) == Counter(map(tuple, ref_ei.T.tolist()))
    assert sorted(eids2.tolist()) == np.flatnonzero(ref_mask.numpy()).tolist()


def test_subgraph_of_subgraph_keeps_input_edge_ids(rng):
    src, dst = random_edges(rng, 50, 300)
    g = CSRGraph.from_edge_list(src, dst, 50)
    sub, _ = g.subgraph(np.arange(10, 40))
    subsub, eids = sub.subgraph([5, 3, 0, 20])
    nodes = np.array([15, 13, 10, 30])
    rows, cols = np.array(edge_list(subsub)).reshape(-1, 2).T
    np.testing.assert_array_equal(src[eids], nodes[rows])
    np.testing.assert_array_equal(dst[eids], nodes[cols])


@pytest.mark.parametrize(
    "nodes, match",
    [([1, 2, 1], "nodes must be distinct, node 1 repeats"), ([0, 10], r"nodes must lie in \[0, 10\)"),
     (np.ones(3, bool), "mask has 3 entries, graph has 10 nodes"), ([0.5], "nodes must hold integers")],
)
def test_subgraph_bad_nodes(nodes, match):
    g = CSRGraph.from_edge_list([0, 1], [1, 2], num_nodes=10)
    with pytest.raises((ValueError, TypeError), match=match):
        g.subgraph(nodes)


def first_copy_reference(src, dst, w, reduce, both_ways):
    """{(i, j): (weight, first edge id)} by a Python dict, in input order, forward before reversed."""
    entries = [(s, d, x, k) for k, (s, d, x) in enumerate(zip(src.tolist(), dst.tolist(), w.tolist()))]
    if both_ways:
        entries += [(d, s, x, k) for s, d, x, k in entries]
    out = {}
    for s, d, x, k in entries:
        if (s, d) not in out:
            out[(s, d)] = (x, k)
        else:
            old, k0 = out[(s, d)]
            out[(s, d)] = (old + x if reduce == "sum" else max(old, x), k0)
    return out


def as_dict(g):
    return {e: (float(x), int(k)) for e, x, k in zip(edge_list(g), g.weights.tolist(), g.edge_ids.tolist())}


@pytest.mark.parametrize("reduce", ["sum", "max"])
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_dedup_matches_reference(rng, reduce, index_dtype):
    src, dst = random_edges(rng, 30, 400)  # many duplicates
    w = rng.integers(-8, 9, 400).astype(np.float32)
    g = CSRGraph.from_edge_list(src, dst, 30, weights=w, index_dtype=index_dtype).dedup(reduce)
    ref = first_copy_reference(src, dst, w, reduce, both_ways=False)
    assert as_dict(g) == ref and g.num_edges == len(ref)  # integer weights: sums are exact
    assert g.indices.dtype == index_dtype
    CSRGraph(g.indptr, g.indices)  # still a valid, row-sorted CSR
    if reduce == "sum":
        A = sp.csr_matrix((w, (src, dst)), shape=(30, 30))
        A.sum_duplicates()
        np.testing.assert_array_equal(g.indptr, A.indptr)
        np.testing.assert_array_equal(g.indices, A.indices)
        np.testing.assert_allclose(g.weights, A.data)
    h = CSRGraph.from_edge_list(src, dst, 30, dedup=True)
    assert h.weights is None and edge_list(h) == edge_list(g)


@pytest.mark.parametrize("reduce", ["sum", "max"])
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_symmetrize_matches_scipy_pyg_and_reference(rng, reduce, index_dtype):
    n = 60
    src, dst = random_edges(rng, n, 500)
    w = rng.integers(1, 9, 500).astype(np.float32)
    g = CSRGraph.from_edge_list(src, dst, n, weights=w, timestamps=np.arange(500) * 10, index_dtype=index_dtype)
    s = g.symmetrize(reduce)
    assert s.indices.dtype == index_dtype
    ref = first_copy_reference(src, dst, w, reduce, both_ways=True)
    assert as_dict(s) == ref  # integer weights: sums are exact
    np.testing.assert_array_equal(s.timestamps, s.edge_ids * 10)
    A = sp.coo_matrix((w, (src, dst)), shape=(n, n)).tocsr()
    if reduce == "sum":
        np.testing.assert_allclose(s.to_scipy().toarray(), (A + A.T).toarray())
    ei, attr = pyg_to_undirected(torch.from_numpy(np.stack([src, dst])), torch.from_numpy(w), n, reduce="add" if reduce == "sum" else reduce)
    assert torch.equal(s.to_edge_index(), ei)
    np.testing.assert_allclose(s.weights, attr.numpy())


def test_symmetrize_unweighted_is_structure_only(rng):
    src, dst = random_edges(rng, 40, 200)
    s = CSRGraph.from_edge_list(src, dst, 40).symmetrize()
    assert s.weights is None
    A = (dense(src, dst, 40) > 0).astype(int)
    np.testing.assert_array_equal(s.to_scipy().toarray(), ((A + A.T) > 0).astype(int))


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_remove_self_loops_matches_pyg(rng, index_dtype):
    src, dst = random_edges(rng, 20, 300)
    src[:20], dst[:20] = np.arange(20), np.arange(20)
    w = rng.random(300).astype(np.float32)
    g = CSRGraph.from_edge_list(src, dst, 20, weights=w, index_dtype=index_dtype)
    r = g.remove_self_loops()
    ref_ei, ref_w = pyg_remove_self_loops(g.to_edge_index(), torch.from_numpy(g.weights))
    assert torch.equal(r.to_edge_index(), ref_ei)
    np.testing.assert_array_equal(r.weights, ref_w.numpy())
    np.testing.assert_array_equal(src[r.edge_ids], np.repeat(np.arange(20), np.diff(r.indptr)))
    assert r.indices.dtype == index_dtype


def test_add_reverse_edges(rng):
    src, dst = random_edges(rng, 25, 120)
    w = rng.random(120).astype(np.float32)
    g = CSRGraph.from_edge_list(src, dst, 25, weights=w)
    r = g.add_reverse_edges()
    loops = int((src == dst).sum())
    assert r.num_edges == 2 * 120 - loops
    expected = Counter(zip(src.tolist(), dst.tolist())) + Counter((d, s) for s, d in zip(src.tolist(), dst.tolist()) if s != d)
    assert Counter(edge_list(r)) == expected
    for (i, j), k, x in zip(edge_list(r), r.edge_ids.tolist(), r.weights.tolist()):
        assert {i, j} == {src[k], dst[k]} and x == w[k]


def test_bad_reduce():
    g = CSRGraph.from_edge_list([0], [1])
    for op in (g.dedup, g.symmetrize):
        with pytest.raises(ValueError, match=r"reduce must be one of \('sum', 'max'\), got 'mean'"):
            op("mean")


# --------------------------------------------------------------------------- files and devices


@pytest.mark.parametrize("mmap", [False, True])
def test_save_load_round_trip(tmp_path, rng, mmap):
    src, dst = random_edges(rng, 50, 300)
    g = CSRGraph.from_edge_list(src, dst, 60, weights=rng.random(300), timestamps=rng.random(300), index_dtype="int32")
    g = CSRGraph(g.indptr, g.indices, weights=g.weights, edge_ids=g.edge_ids + 2**40, timestamps=g.timestamps)
    path = tmp_path / "g.gk"
    assert g.save(path) == path.stat().st_size
    h = CSRGraph.load(path, mmap=mmap)
    for a, b in zip(g._arrays(), h._arrays()):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert h.edge_ids.min() >= 2**40


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(0, 10),
    pairs=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=30),
    weighted=st.booleans(),
    timestamps=st.sampled_from([None, "int64", "float64"]),
    index_dtype=st.sampled_from(INDEX_DTYPES),
)
def test_save_load_property(tmp_path_factory, n, pairs, weighted, timestamps, index_dtype):
    pairs = [(i, j) for i, j in pairs if i < n and j < n]
    e = len(pairs)
    src, dst = np.array(pairs, np.int64).reshape(-1, 2).T
    w = np.linspace(0, 1, e) if weighted else None
    t = None if timestamps is None else np.arange(e).astype(timestamps)
    g = CSRGraph.from_edge_list(src, dst, n, weights=w, timestamps=t, index_dtype=index_dtype)
    path = tmp_path_factory.mktemp("rt") / "g.gk"
    g.save(path)
    h = CSRGraph.load(path)
    for a, b in zip(g._arrays(), h._arrays()):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def test_load_refuses_bad_files(tmp_path):
    g = CSRGraph.from_edge_list([0, 1, 2], [1, 2, 0])
    path = tmp_path / "g.gk"
    g.save(path)
    raw = bytearray(path.read_bytes())
    entry = next(a for a in container.read_header(path)["arrays"] if a["name"] == "indices")
    raw[entry["offset"]] ^= 0xFF
    (tmp_path / "flipped.gk").write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError, match="checksum"):
        CSRGraph.load(tmp_path / "flipped.gk")
    container.save(tmp_path / "other.gk", "ann.flat", {"x": np.zeros(3)})
    with pytest.raises(CorruptFileError, match="not a 'native.csr'"):
        CSRGraph.load(tmp_path / "other.gk")
    container.save(tmp_path / "bad.gk", "native.csr", {"indptr": np.array([0, 2]), "indices": np.array([0])})
    with pytest.raises(CorruptFileError, match="does not hold a valid CSR graph"):
        CSRGraph.load(tmp_path / "bad.gk")
    container.save(tmp_path / "new.gk", "native.csr", {"indptr": np.array([0])}, kind_version=2)
    with pytest.raises(CorruptFileError, match="layout version 2"):
        CSRGraph.load(tmp_path / "new.gk")
    with pytest.raises(FileNotFoundError):
        CSRGraph.load(tmp_path / "missing.gk")


def test_to_cpu_and_bad_devices():
    g = CSRGraph.from_edge_list([0, 1], [1, 0], weights=[1.0, 2.0])
    h = g.to("cpu")
    assert h.device == "cpu" and h.indices is g.indices
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
        g.to("tpu")
    if not dev.cuda_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            g.to("cuda")


# --------------------------------------------------------------------------- real data


def test_cora(cora):
    ei = cora.edge_index
    g = CSRGraph.from_edge_index(ei, num_nodes=cora.num_nodes)
    assert (g.num_nodes, g.num_edges) == (2708, 10556)
    G = nx.DiGraph()
    G.add_nodes_from(range(g.num_nodes))
    G.add_edges_from(ei.T.tolist())
    np.testing.assert_array_equal(g.degree(), [d for _, d in sorted(G.out_degree)])
    np.testing.assert_array_equal(g.in_degree(), [d for _, d in sorted(G.in_degree)])
    assert g.neighbors(0).tolist() == sorted(G.successors(0))
    # Cora is stored undirected, deduplicated, without self-loops and sorted by (row, col)
    np.testing.assert_array_equal(g.to_edge_index().numpy(), ei)
    np.testing.assert_array_equal(g.edge_ids, np.arange(ei.shape[1]))
    for h in (g.symmetrize("max"), g.dedup(), g.remove_self_loops()):
        np.testing.assert_array_equal(h.to_edge_index().numpy(), ei)
    ref = pyg_to_undirected(torch.from_numpy(ei[:, ei[0] < ei[1]]), num_nodes=g.num_nodes)
    assert torch.equal(CSRGraph.from_edge_index(ei[:, ei[0] < ei[1]], num_nodes=g.num_nodes).symmetrize().to_edge_index(), ref)
    nodes = np.random.default_rng(0).permutation(g.num_nodes)[:900]
    sub, eids = g.subgraph(nodes)
    A = g.to_scipy()
    np.testing.assert_array_equal(sub.to_scipy().toarray(), A[nodes][:, nodes].toarray())
    assert sub.num_edges == A[nodes][:, nodes].nnz == eids.shape[0]


# --------------------------------------------------------------------------- torch (CUDA) path


def assert_same(cpu_graph, torch_graph):
    assert isinstance(torch_graph.indices, torch.Tensor) and torch_graph.device == "cuda"
    for x, y in zip(cpu_graph._arrays(), torch_graph.to("cpu")._arrays()):
        assert (x is None) == (y is None)
        if x is not None:
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_torch_path_matches_cpu(rng, tmp_path, torch_device, index_dtype):
    n = 150
    src, dst = random_edges(rng, n, 1200)
    w = rng.integers(-4, 5, 1200).astype(np.float32)  # negative: 'max' must not start from 0
    ts = np.arange(1200) * 10
    c = CSRGraph.from_edge_list(src, dst, n, weights=w, timestamps=ts, index_dtype=index_dtype)

    def T(a):
        return torch.from_numpy(np.asarray(a)).to(torch_device)

    g = CSRGraph.from_edge_index(T(np.stack([src, dst])), n, weights=T(w), timestamps=T(ts), index_dtype=index_dtype)
    assert g.indices.device == torch_device
    assert_same(c, g)
    assert_same(c, CSRGraph(T(c.indptr), T(c.indices), weights=T(c.weights), edge_ids=T(c.edge_ids), timestamps=T(ts[c.edge_ids])))
    for reduce in ("sum", "max"):
        assert_same(c.dedup(reduce), g.dedup(reduce))
        assert_same(c.symmetrize(reduce), g.symmetrize(reduce))
    assert_same(c.remove_self_loops(), g.remove_self_loops())
    assert_same(c.add_reverse_edges(), g.add_reverse_edges())
    nodes = rng.permutation(n)[:60]
    (cs, ce), (gs, ge) = c.subgraph(nodes), g.subgraph(nodes)
    assert_same(cs, gs)
    np.testing.assert_array_equal(ce, ge.cpu().numpy())
    assert_same(c.subgraph(np.isin(np.arange(n), nodes))[0], g.subgraph(T(np.isin(np.arange(n), nodes)))[0])
    np.testing.assert_array_equal(c.degree(), g.degree().cpu().numpy())
    np.testing.assert_array_equal(c.in_degree(), g.in_degree().cpu().numpy())
    np.testing.assert_array_equal(c.neighbors(3), g.neighbors(3).cpu().numpy())
    ei = g.to_edge_index()
    assert ei.device == torch_device and torch.equal(ei.cpu(), c.to_edge_index())
    np.testing.assert_array_equal(g.to_scipy().toarray(), c.to_scipy().toarray())
    g.save(tmp_path / "g.gk")
    assert_same(CSRGraph.load(tmp_path / "g.gk"), g)
    with pytest.raises(ValueError, match="sorted within each row, got 1 then 0"):
        CSRGraph(T([0, 2, 2]), T([1, 0]))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 2\), found 2 at position 1"):
        CSRGraph(T([0, 2, 2]), T([0, 2]))
    if torch_device.type == "cuda":
        assert_same(c, c.to("cuda"))
        assert isinstance(c.to("cuda").to("cpu").indices, np.ndarray)
