"""Common-neighbour counts and spmm against scipy (B @ B.T, A @ X) and networkx."""

import networkx as nx
import numpy as np
import pytest
import torch

from graphkit.datasets import load_planetoid
from native.csr import CSRGraph
from native.graphops import common_neighbors, spmm

INDEX_DTYPES = ["int32", "int64"]


def random_graph(rng, n, e, index_dtype="int64", weighted=False):
    """Directed graph with duplicate edges, self-loops and isolated nodes (ids >= n - 5 unused)."""
    src, dst = rng.integers(0, n - 5, e), rng.integers(0, n - 5, e)
    src[:10], dst[:10] = src[10:20], dst[10:20]  # duplicates
    dst[20:30] = src[20:30]  # self-loops
    w = rng.random(e).astype(np.float32) if weighted else None
    return CSRGraph.from_edge_list(src, dst, n, weights=w, index_dtype=index_dtype)


def binary(g):
    A = g.to_scipy()
    A.data[:] = 1
    A.sum_duplicates()
    return (A > 0).astype(np.int64)


@pytest.fixture(scope="module")
def cora():
    return load_planetoid("cora")


# --------------------------------------------------------------------------- common neighbours


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_common_neighbors_match_bbt(rng, index_dtype):
    g = random_graph(rng, 150, 3000, index_dtype)
    B = binary(g)
    ref = (B @ B.T).toarray()
    u, v = rng.integers(0, 150, 2000), rng.integers(0, 150, 2000)
    u[:10] = v[:10]  # (u, u) pairs
    out = common_neighbors(g, np.stack([u, v]))
    assert out.dtype == np.int64 and out.shape == (2000,)
    np.testing.assert_array_equal(out, ref[u, v])
    np.testing.assert_array_equal(common_neighbors(g, np.stack([u, v], axis=1)), ref[u, v])  # (B, 2)
    assert ref[u, v].any() and (out[u >= 145] == 0).all()  # isolated nodes share nothing


def test_common_neighbors_match_networkx():
    G = nx.gnm_random_graph(80, 600, seed=3)
    g = CSRGraph.from_networkx(G)
    pairs = [(u, v) for u in range(80) for v in range(u + 1, 80)]
    out = common_neighbors(g, pairs)
    ref = [len(list(nx.common_neighbors(G, u, v))) for u, v in pairs]
    np.testing.assert_array_equal(out, ref)


def test_common_neighbors_input_types_and_empty():
    g = CSRGraph.from_edge_list([0, 0, 1, 1, 2], [1, 2, 0, 2, 3], num_nodes=5)
    t = common_neighbors(g, torch.tensor([[0, 3], [1, 4]]))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.int64 and t.tolist() == [1, 0]
    assert common_neighbors(g, [[0, 1], [1, 0]]).tolist() == [1, 1]  # (2, 2) read as (2, B)
    assert common_neighbors(g, np.zeros((2, 0), np.int64)).shape == (0,)
    empty = CSRGraph.from_edge_list([], [], num_nodes=3)
    assert common_neighbors(empty, [[0, 1], [2, 2]]).tolist() == [0, 0]


@pytest.mark.parametrize(
    "pairs, error, match",
    [
        (np.zeros((3, 3), np.int64), ValueError, r"shape \(2, B\) or \(B, 2\), got \(3, 3\)"),
        ([0, 1], ValueError, "pairs must be 2-D"),
        ([[0, 5], [1, 1]], ValueError, r"pairs must lie in \[0, 5\), found 5 at position 1"),
        ([[0.0], [1.0]], TypeError, "pairs must hold integers"),
    ],
)
def test_common_neighbors_bad_pairs(pairs, error, match):
    g = CSRGraph.from_edge_list([0], [1], num_nodes=5)
    with pytest.raises(error, match=match):
        common_neighbors(g, pairs)


def test_common_neighbors_cora(cora):
    g = CSRGraph.from_edge_index(cora.edge_index, cora.num_nodes)
    A = g.to_scipy().astype(np.int64)
    pairs = np.concatenate([cora.edge_index[:, ::7], np.random.default_rng(1).integers(0, g.num_nodes, (2, 3000))], axis=1)
    np.testing.assert_array_equal(common_neighbors(g, pairs), (A @ A)[pairs[0], pairs[1]].A1)


# --------------------------------------------------------------------------- spmm


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_spmm_matches_scipy(rng, index_dtype, weighted, dtype, reduce):
    g = random_graph(rng, 120, 1500, index_dtype, weighted)
    X = rng.standard_normal((120, 7)).astype(dtype)
    out = spmm(g, X, reduce)
    assert out.dtype == dtype and out.shape == (120, 7)
    ref = g.to_scipy().astype(np.float64) @ X.astype(np.float64)
    if reduce == "mean":
        ref /= np.maximum(np.diff(g.indptr), 1)[:, None]
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    assert (out[115:] == 0).all()  # rows without edges


def test_spmm_input_types(rng):
    g = random_graph(rng, 30, 200, weighted=True)
    X = rng.standard_normal((30, 3)).astype(np.float32)
    t = spmm(g, torch.from_numpy(X))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), spmm(g, X), rtol=1e-6)
    ints = spmm(g, np.ones((30, 2), np.int64))
    assert ints.dtype == np.float32
    np.testing.assert_allclose(ints[:, 0], g.to_scipy() @ np.ones(30), rtol=1e-5)
    Xf = np.asfortranarray(X)
    np.testing.assert_allclose(spmm(g, Xf), spmm(g, X), rtol=1e-6)
    empty = CSRGraph.from_edge_list([], [], num_nodes=4)
    np.testing.assert_array_equal(spmm(empty, np.ones((4, 2)), "mean"), np.zeros((4, 2)))


@pytest.mark.parametrize(
    "X, reduce, error, match",
    [
        (np.ones((5, 2)), "sum", ValueError, "X has 5 rows, graph has 4 nodes"),
        (np.ones(4), "sum", ValueError, "X must be 2-D"),
        (np.ones((4, 2)), "max", ValueError, r"reduce must be one of \('sum', 'mean'\), got 'max'"),
        (np.ones((4, 2), np.complex64), "sum", TypeError, "X must hold real numbers, got dtype complex64"),
    ],
)
def test_spmm_bad_input(X, reduce, error, match):
    g = CSRGraph.from_edge_list([0], [1], num_nodes=4)
    with pytest.raises(error, match=match):
        spmm(g, X, reduce)


def test_spmm_cora(cora):
    g = CSRGraph.from_edge_index(cora.edge_index, cora.num_nodes)
    out = spmm(g, cora.x, "mean")
    ref = (g.to_scipy() @ cora.x.astype(np.float64)) / np.maximum(g.degree(), 1)[:, None]
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- torch (CUDA) path


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_torch_path_matches_cpu(rng, torch_device, index_dtype):
    c = random_graph(rng, 100, 2500, index_dtype, weighted=True)
    rows = c.to_edge_index()[0].numpy()
    # a hub of degree 2500 against rows of degree ~25: exercises the swap and the binary search
    c = CSRGraph.from_edge_list(
        np.concatenate([rows, np.zeros(2500, np.int64)]),
        np.concatenate([c.indices, rng.integers(0, 100, 2500)]),
        100,
        weights=np.concatenate([c.weights, rng.random(2500)]),
        index_dtype=index_dtype,
    )

    def T(a):
        return None if a is None else torch.from_numpy(a).to(torch_device)

    g = CSRGraph(T(c.indptr), T(c.indices), weights=T(c.weights))
    assert g.device == "cuda"
    pairs = rng.integers(0, 100, (2, 3000))
    pairs[0, :300] = 0
    out = common_neighbors(g, T(pairs))
    assert isinstance(out, torch.Tensor) and out.device == torch_device and out.dtype == torch.int64
    np.testing.assert_array_equal(out.cpu().numpy(), common_neighbors(c, pairs))
    np.testing.assert_array_equal(common_neighbors(g, pairs.T), common_neighbors(c, pairs))  # numpy in, numpy out
    sparse = random_graph(rng, 100, 150, index_dtype)  # unweighted, many rows of degree 0, 1, 2
    for graph_c, graph_g in ((c, g), (sparse, CSRGraph(T(sparse.indptr), T(sparse.indices)))):
        X = rng.standard_normal((100, 6)).astype(np.float32)
        for reduce in ("sum", "mean"):
            y = spmm(graph_g, T(X), reduce)
            assert isinstance(y, torch.Tensor) and y.device == torch_device and y.dtype == torch.float32
            np.testing.assert_allclose(y.cpu().numpy(), spmm(graph_c, X, reduce), rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(spmm(graph_g, X.astype(np.float64), reduce), spmm(graph_c, X.astype(np.float64), reduce), rtol=1e-5, atol=1e-6)
