"""Neighbour sampling: validity against the input edges, exact counts, determinism, uniformity
(chi-square with a fixed seed) and full-fan-out sampling against a breadth-first reference."""

import subprocess
import sys
from collections import Counter
from itertools import combinations

import numba
import numpy as np
import pytest
import torch
from torch_geometric.utils import k_hop_subgraph

from graphkit.datasets import load_planetoid
from native import device as dev
from native.csr import CSRGraph
from native.sampling import NeighborSample, sample_neighbors, sample_one_hop

needs_cuda = pytest.mark.skipif(not dev.cuda_available(), reason="needs a CUDA device")
INDEX_DTYPES = ["int32", "int64"]


@pytest.fixture(params=["cpu", "torch", pytest.param("cuda", marks=[pytest.mark.gpu, needs_cuda])])
def backend(request, monkeypatch):
    """Puts a CPU graph where the implementation under test runs: the Numba kernels ('cpu'),
    the torch kernels on CUDA ('cuda'), or the torch kernels on CPU tensors that
    native.device is told are CUDA ones ('torch'; those kernels use device-generic ops only)."""
    if request.param == "cpu":
        return lambda g: g
    if request.param == "torch":
        monkeypatch.setattr(dev, "device_of", lambda *a: dev.CUDA if any(torch.is_tensor(x) for x in a) else dev.CPU)
        monkeypatch.setattr(dev, "cuda_available", lambda: True)
    device = torch.device(request.param if request.param == "cuda" else "cpu")

    def put(g):
        fields = ("indptr", "indices", "weights", "edge_ids", "timestamps")
        h = CSRGraph(**{k: None if getattr(g, k) is None else torch.as_tensor(getattr(g, k), device=device) for k in fields})
        assert h.device == "cuda"
        return h

    return put


def host(*arrays):
    """numpy copies of numpy arrays or (CUDA) tensors."""
    return [a.cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a) for a in arrays]


def random_graph(rng, n=200, e=2500, index_dtype="int64"):
    """(graph, src, dst): skewed degrees, duplicate edges, self-loops, isolated nodes (ids >= n-10)."""
    src = np.minimum(rng.geometric(0.02, e), n - 11)
    dst = rng.integers(0, n - 10, e)
    src[:20], dst[:20] = src[20:40], dst[20:40]
    dst[40:50] = src[40:50]
    return CSRGraph.from_edge_list(src, dst, n, index_dtype=index_dtype), src, dst


def expected_count(deg, k, replace):
    if k < 0:
        return deg
    return (k if deg > 0 else 0) if replace else min(k, deg)


def check_one_hop(g, src, dst, seeds, k, replace, counts, nbrs, eids):
    deg = np.diff(g.indptr)[seeds]
    np.testing.assert_array_equal(counts, [expected_count(d, k, replace) for d in deg])
    np.testing.assert_array_equal(src[eids], np.repeat(seeds, counts))  # sampled edges exist
    np.testing.assert_array_equal(dst[eids], nbrs)
    if not replace:
        for chunk in np.split(eids, np.cumsum(counts)[:-1]):
            assert len(set(chunk.tolist())) == len(chunk)


def check_sample(g, src, dst, seeds, fanouts, replace, s):
    """Every invariant of a multi-hop sample that does not depend on the random draws."""
    nodes, row, col, eids = host(s.nodes, s.row, s.col, s.edge_ids)
    ei = s.to_pyg_edge_index()
    assert ei.dtype == torch.int64 and ei.device == torch.as_tensor(s.nodes).device
    np.testing.assert_array_equal(ei.cpu().numpy(), np.stack([col, row]))
    assert len(s.num_sampled_nodes) == len(fanouts) + 1 and len(s.num_sampled_edges) == len(fanouts)
    assert len(nodes) == sum(s.num_sampled_nodes) and len(row) == len(col) == len(eids) == sum(s.num_sampled_edges)
    np.testing.assert_array_equal(nodes[: len(seeds)], seeds)
    assert len(np.unique(nodes)) == len(nodes)
    np.testing.assert_array_equal(src[eids], nodes[row])
    np.testing.assert_array_equal(dst[eids], nodes[col])
    node_start = np.concatenate(([0], np.cumsum(s.num_sampled_nodes)))
    edge_start = np.concatenate(([0], np.cumsum(s.num_sampled_edges)))
    deg = np.diff(g.indptr)
    for h, k in enumerate(fanouts):
        r, c, e = (a[edge_start[h] : edge_start[h + 1]] for a in (row, col, eids))
        frontier = np.arange(node_start[h], node_start[h + 1])
        per_row = np.bincount(r - node_start[h], minlength=len(frontier)) if len(r) else np.zeros(len(frontier), int)
        np.testing.assert_array_equal(per_row, [expected_count(deg[nodes[i]], k, replace) for i in frontier])
        assert (np.diff(r) >= 0).all()  # grouped by expanded node
        new = c[c >= node_start[h + 1]]
        _, first = np.unique(new, return_index=True)
        np.testing.assert_array_equal(new[np.sort(first)], np.arange(node_start[h + 1], node_start[h + 2]))
        if not replace:
            assert len(set(zip(r.tolist(), e.tolist()))) == len(e)


# --------------------------------------------------------------------------- one hop


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("replace", [False, True])
def test_one_hop_valid(rng, backend, index_dtype, replace):
    g, src, dst = random_graph(rng, index_dtype=index_dtype)
    b = backend(g)
    seeds = np.concatenate([rng.integers(0, 200, 300), [0, 0, 199]])  # repeats, an isolated node
    for k in (-1, 0, 1, 3, 40):
        out = sample_one_hop(b, seeds, k, replace, seed=7)
        assert all(a.dtype in (np.int64, torch.int64) for a in out)
        counts, nbrs, eids = host(*out)
        check_one_hop(g, src, dst, seeds, k, replace, counts, nbrs, eids)
        if not replace:  # edges of a seed come in CSR order
            pos = np.argsort(g.edge_ids)[eids]
            assert all((np.diff(c) > 0).all() for c in np.split(pos, np.cumsum(counts)[:-1]))
    first, again = (host(*sample_one_hop(b, seeds, 3, replace, seed=1)) for _ in range(2))
    assert all(np.array_equal(x, y) for x, y in zip(first, again))


def test_one_hop_deterministic_and_thread_independent(rng):
    g, _, _ = random_graph(rng)
    seeds = rng.integers(0, 200, 500)
    runs = []
    threads = numba.get_num_threads()
    try:
        for t in sorted({1, threads}):
            numba.set_num_threads(t)
            for replace in (False, True):
                runs.append((replace, sample_one_hop(g, seeds, 5, replace, seed=11)))
    finally:
        numba.set_num_threads(threads)
    for (r1, a), (r2, b) in zip(runs, runs[2:]):
        assert r1 == r2 and all(np.array_equal(x, y) for x, y in zip(a, b))
    again = sample_one_hop(g, seeds, 5, False, seed=11)
    assert all(np.array_equal(x, y) for x, y in zip(runs[0][1], again))
    other = sample_one_hop(g, seeds, 5, False, seed=12)
    assert not np.array_equal(other[2], again[2])


def subset_star(n_leaves):
    """A node 0 with leaves 1..n_leaves."""
    return CSRGraph.from_edge_list(np.zeros(n_leaves, np.int64), np.arange(1, n_leaves + 1))


def chi_square(observed, expected):
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    return float(((observed - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("deg, k", [(6, 3), (5, 2), (7, 1)])  # selection sampling, Floyd, Floyd
def test_without_replacement_every_subset_equally_likely(backend, deg, k):
    g = subset_star(deg)
    trials = 12000
    counts, nbrs, _ = host(*sample_one_hop(backend(g), np.zeros(trials, np.int64), k, seed=2024))
    assert (counts == k).all()
    subsets = Counter(tuple(row) for row in nbrs.reshape(trials, k).tolist())
    all_subsets = list(combinations(range(1, deg + 1), k))
    assert set(subsets) <= set(all_subsets)  # distinct and ascending within a sample
    df = len(all_subsets) - 1
    stat = chi_square([subsets[s] for s in all_subsets], [trials / len(all_subsets)] * len(all_subsets))
    assert stat < df + 6 * np.sqrt(2 * df), stat


def test_with_replacement_is_uniform(backend):
    deg, k, trials = 7, 4, 5000
    g = subset_star(deg)
    counts, nbrs, _ = host(*sample_one_hop(backend(g), np.zeros(trials, np.int64), k, replace=True, seed=99))
    assert (counts == k).all()
    freq = np.bincount(nbrs, minlength=deg + 1)[1:]
    assert chi_square(freq, [trials * k / deg] * deg) < (deg - 1) + 6 * np.sqrt(2 * (deg - 1))
    assert any(len(set(r)) < k for r in nbrs.reshape(trials, k).tolist())  # repeats occur


def test_floyd_marginals_on_a_large_row():
    deg, k, trials = 60, 4, 6000  # 60 > 4 * 4: Floyd's algorithm
    g = subset_star(deg)
    counts, nbrs, _ = sample_one_hop(g, np.zeros(trials, np.int64), k, seed=5)
    freq = np.bincount(nbrs, minlength=deg + 1)[1:]
    p = k / deg
    assert np.abs(freq - trials * p).max() < 6 * np.sqrt(trials * p * (1 - p))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda g: sample_one_hop(g, [0], -2), "k must be an integer >= -1"),
        (lambda g: sample_one_hop(g, [0], 1.5), "k must be an integer"),
        (lambda g: sample_one_hop(g, [5], 1), r"seeds must lie in \[0, 5\)"),
        (lambda g: sample_one_hop(g, [0], 1, seed=-1), r"seed must be an integer in \[0, 2\*\*64\)"),
        (lambda g: sample_one_hop(g, [0], 1, seed=2**64), "seed must be"),
        (lambda g: sample_neighbors(g, [0, 1, 0], [2]), "seeds must be distinct, node 0 repeats"),
        (lambda g: sample_neighbors(g, [0], [2, -3]), "fanouts entries must be an integer >= -1"),
        (lambda g: sample_neighbors(g, [0], [True]), "fanouts entries must be"),
        (lambda g: sample_neighbors(g, [[0]], [1]), "seeds must be 1-D"),
        (lambda g: sample_neighbors(g, [0.0], [1]), "seeds must hold integers"),
    ],
)
def test_bad_arguments(call, match):
    g = CSRGraph.from_edge_list([0, 1], [1, 2], num_nodes=5)
    with pytest.raises((ValueError, TypeError), match=match):
        call(g)


# --------------------------------------------------------------------------- multi-hop


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("replace", [False, True])
def test_multi_hop_valid(rng, backend, index_dtype, replace):
    g, src, dst = random_graph(rng, index_dtype=index_dtype)
    b = backend(g)
    seeds = rng.permutation(200)[:30]
    for fanouts in ([5], [4, 3], [10, -1, 2], [0, 3]):
        s = sample_neighbors(b, seeds, fanouts, replace=replace, seed=1)
        assert isinstance(s, NeighborSample)
        check_sample(g, src, dst, seeds, fanouts, replace, s)
        t = sample_neighbors(b, seeds, fanouts, replace=replace, seed=1)
        assert all(np.array_equal(x, y) for x, y in zip(host(s.nodes, s.edge_ids), host(t.nodes, t.edge_ids)))


def bfs_reference(g, seeds, hops):
    """Full-fan-out sampling by hand: expand each node once, in order, neighbours in CSR order."""
    nodes, index = list(seeds), {v: i for i, v in enumerate(seeds)}
    row, col, pos, per_hop = [], [], [], [len(seeds)]
    begin = 0
    for _ in range(hops):
        end = len(nodes)
        for i in range(begin, end):
            for p in range(g.indptr[nodes[i]], g.indptr[nodes[i] + 1]):
                v = int(g.indices[p])
                if v not in index:
                    index[v] = len(nodes)
                    nodes.append(v)
                row.append(i)
                col.append(index[v])
                pos.append(p)
        per_hop.append(len(nodes) - end)
        begin = end
    return nodes, row, col, pos, per_hop


def test_full_fanout_equals_breadth_first_expansion(rng, backend):
    g, _, _ = random_graph(rng)
    seeds = rng.permutation(200)[:5]
    nodes, row, col, pos, per_hop = bfs_reference(g, seeds.tolist(), 3)
    s = sample_neighbors(backend(g), seeds, [-1, -1, -1], seed=0)
    for a, b in zip(host(s.nodes, s.row, s.col, s.edge_ids), (nodes, row, col, g.edge_ids[pos])):
        np.testing.assert_array_equal(a, b)
    assert s.num_sampled_nodes == per_hop


def test_first_hop_equals_one_hop_and_is_deterministic(rng):
    g, _, _ = random_graph(rng)
    seeds = rng.permutation(200)[:40]
    s = sample_neighbors(g, seeds, [4, 3], seed=77)
    counts, nbrs, eids = sample_one_hop(g, seeds, 4, seed=77)
    h0 = s.num_sampled_edges[0]
    np.testing.assert_array_equal(s.edge_ids[:h0], eids)
    np.testing.assert_array_equal(s.nodes[s.col[:h0]], nbrs)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        t = sample_neighbors(g, seeds, [4, 3], seed=77)
    finally:
        numba.set_num_threads(threads)
    for a, b in zip((s.nodes, s.row, s.col, s.edge_ids), (t.nodes, t.row, t.col, t.edge_ids)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(sample_neighbors(g, seeds, [4, 3], seed=78).edge_ids, s.edge_ids)


def test_hops_draw_independent_streams():
    """Node 0 -> 1..10 and node i -> 10 leaves of its own: with streams shared between hops, the
    first node expanded in hop 1 would pick the same offsets as the seed did in hop 0."""
    indptr = np.concatenate([np.arange(0, 110, 10), np.full(101, 110)])
    g = CSRGraph(indptr, np.arange(1, 111))  # no stored ids: edge ids are positions
    same = 0
    for seed in range(30):
        s = sample_neighbors(g, [0], [3, 3], seed=seed)
        first = s.nodes[s.row[3]]
        same += np.array_equal(s.edge_ids[:3], s.edge_ids[3:6] - indptr[first])
    assert same <= 3  # 30 / C(10, 3) = 0.25 expected


def test_sampling_first_in_a_fresh_process():
    """Regression: the multi-hop kernel once called the parallel one-hop kernel from compiled
    code, which crashes a process whose Numba thread pool was not started yet."""
    code = (
        "import numpy as np; from native.csr import CSRGraph; from native.sampling import sample_neighbors;"
        "g = CSRGraph.from_edge_list(np.arange(60) % 7, np.arange(60));"
        "print(sample_neighbors(g, [0, 1], [-1, 2], seed=0).num_sampled_nodes)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[2, 16, 0]"


def test_to_pyg_edge_index_and_edge_cases(rng):
    g, _, _ = random_graph(rng)
    s = sample_neighbors(g, [3, 1], [2, 2], seed=0)
    ei = s.to_pyg_edge_index()
    assert ei.dtype == torch.int64 and torch.equal(ei, torch.from_numpy(np.stack([s.col, s.row])))
    none = sample_neighbors(g, np.zeros(0, np.int64), [3, 3], seed=0)
    assert none.nodes.shape == (0,) and none.num_sampled_nodes == [0, 0, 0] and none.num_sampled_edges == [0, 0]
    only = sample_neighbors(g, [4, 2], [], seed=0)
    assert only.nodes.tolist() == [4, 2] and only.row.shape == (0,) and only.num_sampled_edges == []
    isolated = sample_neighbors(g, [199], [5, 5], seed=0)
    assert isolated.nodes.tolist() == [199] and isolated.num_sampled_edges == [0, 0]
    sample_neighbors(g, [0], [2])  # seed=None draws one
    a, b = (sample_neighbors(g, np.arange(50), [3]).edge_ids for _ in range(2))
    assert not np.array_equal(a, b)


def test_cora(rng):
    cora = load_planetoid("cora")
    g = CSRGraph.from_edge_index(cora.edge_index, cora.num_nodes)
    src, dst = cora.edge_index
    seeds = np.flatnonzero(cora.train_mask)[:64]
    for replace in (False, True):
        s = sample_neighbors(g, seeds, [10, 5], replace=replace, seed=3)
        check_sample(g, src, dst, seeds, [10, 5], replace, s)
    full = sample_neighbors(g, seeds, [-1, -1], seed=3)
    subset, ei, _, _ = k_hop_subgraph(torch.from_numpy(seeds), 2, torch.from_numpy(cora.edge_index), num_nodes=g.num_nodes, flow="target_to_source")
    assert set(full.nodes.tolist()) == set(subset.tolist())
    assert set(full.edge_ids.tolist()) <= set(np.flatnonzero(np.isin(src, subset.numpy())).tolist())
