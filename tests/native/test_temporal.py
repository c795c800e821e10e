"""TemporalGraph against a brute force over the raw event list, on random and real streams.

Reference semantics (what every test checks): for a query (node, time), the events touching
the node (as src, or as dst when undirected; a self-loop once) with event time < time
(<= when not strict), sorted newest first by (time, position in the input) descending.
"""

import gzip
import os
import tempfile
from pathlib import Path

import numba
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import native
from native import TemporalGraph
from native.container import CorruptFileError
from native.kernels import temporal_cuda

SHARED = Path("/work/shared/datasets")
BUNDLED = Path(native.__file__).resolve().parents[1] / "datasets" / "data"
needs_cuda = pytest.mark.skipif(not native.device.cuda_available(), reason="needs a CUDA device")


# --------------------------------------------------------------------------- references
def ref_events(src, dst, t, node, time, strict=True, directed=False):
    """Pure Python: [(time, input position, neighbour)] newest first."""
    hits = []
    for e in range(len(src)):
        u, v, te = int(src[e]), int(dst[e]), t[e]
        if not (te < time if strict else te <= time):
            continue
        if u == node:
            hits.append((te, e, v))
        elif v == node and not directed:
            hits.append((te, e, u))
    hits.sort(key=lambda h: (h[0], h[1]), reverse=True)
    return hits


def ref_events_np(src, dst, t, node, time, strict=True, directed=False):
    """The same brute force, vectorised per query (for the real streams)."""
    before = t < time if strict else t <= time
    touch = src == node if directed else (src == node) | (dst == node)
    e = np.flatnonzero(before & touch)
    e = e[np.lexsort((-e, -t[e]))]
    return [(t[i], int(i), int(dst[i] if src[i] == node else src[i])) for i in e]


def check(g, res, refs, k):
    """Compare a TemporalNeighbors result with per-query reference lists."""
    nbr, ts, eid = res
    B = len(refs)
    assert nbr.shape == ts.shape == eid.shape == (B, k)
    assert nbr.dtype == np.int64 and eid.dtype == np.int64 and ts.dtype == g.t.dtype
    counts = np.array([min(k, len(h)) for h in refs], dtype=np.int64)
    np.testing.assert_array_equal(res.counts, counts)
    np.testing.assert_array_equal(res.mask, np.arange(k)[None, :] < counts[:, None])
    for i, hits in enumerate(refs):
        c = counts[i]
        want = hits[:c]
        np.testing.assert_array_equal(nbr[i, :c], [h[2] for h in want])
        np.testing.assert_array_equal(ts[i, :c], np.array([h[0] for h in want], dtype=g.t.dtype))
        np.testing.assert_array_equal(g.event_ids[eid[i, :c]], [h[1] for h in want])
        assert (nbr[i, c:] == -1).all() and (eid[i, c:] == -1).all() and (ts[i, c:] == 0).all()
    found = eid >= 0
    np.testing.assert_array_equal(g.t[eid[found]], ts[found])


def random_stream(seed, E=400, N=40, float_t=False):
    """Unsorted events over N-5 nodes (5 isolated), ~10% self-loops, many equal times."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, N - 5, E)
    dst = rng.integers(0, N - 5, E)
    loops = rng.random(E) < 0.1
    dst[loops] = src[loops]
    t = rng.integers(0, 25, E)
    if float_t:
        t = t / 4.0 - 1.0
    return src, dst, t, N


def random_queries(seed, t, N, B=150):
    rng = np.random.default_rng(seed)
    nodes = rng.integers(0, N, B)
    times = t[rng.integers(0, len(t), B)].copy()  # exactly on event times: ties matter
    span = rng.uniform(t.min() - 2, t.max() + 2, B // 3).astype(t.dtype)
    times[: B // 3] = span
    return nodes, times


# --------------------------------------------------------------------------- random streams
@pytest.mark.parametrize("directed", [False, True])
@pytest.mark.parametrize("float_t", [False, True])
@pytest.mark.parametrize("strict", [True, False])
def test_most_recent_random(directed, float_t, strict):
    src, dst, t, N = random_stream(1 + float_t, float_t=float_t)
    g = TemporalGraph(src, dst, t, num_nodes=N, directed=directed)
    assert g.t.dtype == (np.float64 if float_t else np.int64)
    assert np.all(np.diff(g.t) >= 0)
    np.testing.assert_array_equal(g.t, t[g.event_ids])
    np.testing.assert_array_equal(g.src, src[g.event_ids])
    nodes, times = random_queries(7, t, N)
    refs = [ref_events(src, dst, t, u, tq, strict, directed) for u, tq in zip(nodes, times)]
    for k in (1, 4, 64):
        check(g, g.most_recent_neighbors(nodes, times, k, strict=strict), refs, k)


def test_adjacency_csr_arrays():
    src, dst, t, N = random_stream(3)
    for directed in (False, True):
        g = TemporalGraph(src, dst, t, num_nodes=N, directed=directed)
        assert g.indptr.shape == (N + 1,) and g.indptr.dtype == np.int64
        for u in range(N):
            lo, hi = g.indptr[u], g.indptr[u + 1]
            hits = ref_events(src, dst, t, u, np.inf, True, directed)[::-1]  # oldest first
            np.testing.assert_array_equal(g.nbr[lo:hi], [h[2] for h in hits])
            np.testing.assert_array_equal(g.nbr_t[lo:hi], [h[0] for h in hits])
            np.testing.assert_array_equal(g.event_ids[g.nbr_eid[lo:hi]], [h[1] for h in hits])
        loops = int((src == dst).sum())
        assert g.nbr.shape[0] == (len(src) if directed else 2 * len(src) - loops)
        with pytest.raises(ValueError):
            g.indptr[0] = 1  # read-only: kernels never see corrupted offsets


def test_ties_follow_stream_order():
    # e0..e2 share t=5; node 0 sees 1, 2, 3 through them; e3 older, e4 newer
    src, dst, t = [0, 0, 3, 0, 0], [1, 2, 0, 4, 5], [5, 5, 5, 2, 9]
    g = TemporalGraph(src, dst, t)
    r = g.most_recent_neighbors([0, 0, 0, 0], [9, 9, 5, 5], 5, strict=True)
    np.testing.assert_array_equal(r.neighbors[0], [3, 2, 1, 4, -1])
    np.testing.assert_array_equal(r.neighbors[2], [4, -1, -1, -1, -1])
    r = g.most_recent_neighbors([0, 0], [9, 5], 5, strict=False)
    np.testing.assert_array_equal(r.neighbors[0], [5, 3, 2, 1, 4])
    np.testing.assert_array_equal(r.neighbors[1], [3, 2, 1, 4, -1])
    np.testing.assert_array_equal(r.event_ids[1], [3, 2, 1, 0, -1])  # stored (time-sorted) indices
    np.testing.assert_array_equal(g.event_ids[r.event_ids[1, :4]], [2, 1, 0, 3])  # input positions
    # the same events given in another order: ties now break the other way
    perm = [2, 1, 0, 4, 3]
    g2 = TemporalGraph(np.take(src, perm), np.take(dst, perm), np.take(t, perm))
    r2 = g2.most_recent_neighbors([0], [5], 5, strict=False)
    np.testing.assert_array_equal(r2.neighbors[0], [1, 2, 3, 4, -1])
    np.testing.assert_array_equal(g2.event_ids, [4, 0, 1, 2, 3])


def test_edge_cases_before_first_event_isolated_self_loops_k():
    src, dst, t = [1, 2, 2, 1], [2, 2, 3, 1], [10, 11, 12, 13]
    g = TemporalGraph(src, dst, t, num_nodes=6)
    # before the first event (strict at its time, or earlier): nothing
    r = g.most_recent_neighbors([1, 2, 3], [10, 10, 10], 3)
    assert (r.neighbors == -1).all() and (r.event_ids == -1).all() and (r.timestamps == 0).all()
    assert r.counts.tolist() == [0, 0, 0]
    r = g.most_recent_neighbors([1, 2, 3], [-(2**62), 9, 9], 3, strict=False)
    assert (r.neighbors == -1).all()
    # isolated nodes 0, 4, 5
    r = g.most_recent_neighbors([0, 4, 5], [100, 100, 100], 2)
    assert (r.neighbors == -1).all()
    assert all(a.size == 0 for a in g.neighbors_before(5, 100))
    # self-loops: entered once, directed or not; k larger than the history pads
    r = g.most_recent_neighbors([2, 1], [100, 100], 6)
    np.testing.assert_array_equal(r.neighbors, [[3, 2, 1, -1, -1, -1], [1, 2, -1, -1, -1, -1]])
    np.testing.assert_array_equal(r.timestamps, [[12, 11, 10, 0, 0, 0], [13, 10, 0, 0, 0, 0]])
    gd = TemporalGraph(src, dst, t, num_nodes=6, directed=True)
    r = gd.most_recent_neighbors([2, 1, 3], [100, 100, 100], 6)
    np.testing.assert_array_equal(r.neighbors[:, :3], [[3, 2, -1], [1, 2, -1], [-1, -1, -1]])
    # k = 0 and an empty batch
    assert g.most_recent_neighbors([1, 2], [20, 20], 0).neighbors.shape == (2, 0)
    r = g.most_recent_neighbors(np.zeros(0, np.int64), np.zeros(0, np.int64), 3)
    assert r.neighbors.shape == (0, 3) and r.counts.shape == (0,)
    # neighbors_before: all of them, newest first
    nb, ts, eid = g.neighbors_before(2, 12, strict=False)
    np.testing.assert_array_equal(nb, [3, 2, 1])
    np.testing.assert_array_equal(ts, [12, 11, 10])
    np.testing.assert_array_equal(eid, [2, 1, 0])


def test_directed_vs_undirected():
    g = TemporalGraph([0], [1], [1.5])
    gd = TemporalGraph([0], [1], [1.5], directed=True)
    assert g.most_recent_neighbors([1], [2.0], 1).neighbors.tolist() == [[0]]
    assert gd.most_recent_neighbors([1], [2.0], 1).neighbors.tolist() == [[-1]]
    assert gd.most_recent_neighbors([0], [2.0], 1).neighbors.tolist() == [[1]]


def test_query_time_types():
    src, dst, t, N = random_stream(5)
    g = TemporalGraph(src, dst, t, num_nodes=N)
    nodes, times = random_queries(8, t, N)
    ftimes = times + np.where(np.arange(len(times)) % 2, 0.5, 0.0)  # int graph, float queries
    ftimes[:3] = [np.inf, -np.inf, 3.999]
    for strict in (True, False):
        refs = [ref_events(src, dst, t, u, tq, strict) for u, tq in zip(nodes, ftimes)]
        check(g, g.most_recent_neighbors(nodes, ftimes, 5, strict=strict), refs, 5)
    gf = TemporalGraph(src, dst, t.astype(np.float64), num_nodes=N)  # float graph, int queries
    refs = [ref_events(src, dst, t, u, tq) for u, tq in zip(nodes, times)]
    check(gf, gf.most_recent_neighbors(nodes, times, 5), refs, 5)


def test_id_dtypes_and_torch_inputs():
    src, dst, t, N = random_stream(9)
    ref = TemporalGraph(src, dst, t, num_nodes=N)
    for cast in (np.int32, np.uint16, np.uint64):
        g = TemporalGraph(src.astype(cast), dst.astype(cast), t, num_nodes=N)
        assert g.src.dtype == g.dst.dtype == g.event_ids.dtype == np.int64
        np.testing.assert_array_equal(g.src, ref.src)
    g = TemporalGraph(torch.from_numpy(src).int(), torch.from_numpy(dst), torch.from_numpy(t))
    assert isinstance(g.src, np.ndarray) and g.src.dtype == np.int64
    nodes, times = random_queries(10, t, N)
    want = ref.most_recent_neighbors(nodes, times, 4)
    got = ref.most_recent_neighbors(torch.from_numpy(nodes).int(), torch.from_numpy(times), 4)
    assert all(isinstance(a, torch.Tensor) for a in got)
    assert got.neighbors.dtype == torch.int64 and isinstance(got.counts, torch.Tensor)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a.numpy(), b)
    got = ref.most_recent_neighbors(nodes.tolist(), times.tolist(), 4)  # lists: numpy out
    np.testing.assert_array_equal(got.neighbors, want.neighbors)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(src=[0, 1, 2], dst=[1, 2], t=[1, 2, 3]), ValueError, "dst has 2 entries, expected 3"),
        (dict(src=[0, 1], dst=[1, 2], t=[1, 2, 3]), ValueError, "t has 3 entries, expected 2"),
        (dict(src=[0, -1], dst=[1, 2], t=[1, 2]), ValueError, r"src\[1\] = -1"),
        (dict(src=[0, 1], dst=[1, 7], t=[1, 2], num_nodes=5), ValueError, r"dst\[1\] = 7.*< num_nodes = 5"),
        (dict(src=[0, 1], dst=[1, 2], t=[1.0, np.nan]), ValueError, r"t\[1\] = nan"),
        (dict(src=[0, 1], dst=[1, 2], t=[np.inf, 1.0]), ValueError, r"t\[0\] = inf"),
        (dict(src=[[0, 1]], dst=[1, 2], t=[1, 2]), ValueError, r"src must be 1-D.*\(1, 2\)"),
        (dict(src=[0.0, 1.0], dst=[1, 2], t=[1, 2]), TypeError, "src must hold integer.*float64"),
        (dict(src=[0, 1], dst=[1, 2], t=[True, False]), TypeError, "t must hold int or float.*bool"),
        (dict(src=[0, 1], dst=[1, 2], t=["a", "b"]), TypeError, "t must hold int or float"),
        (dict(src=[0, 1], dst=[1, 2], t=[1, 2], edge_attr=[1.0, 2.0]), ValueError, r"edge_attr must be 2-D"),
        (dict(src=[0, 1], dst=[1, 2], t=[1, 2], edge_attr=np.ones((3, 2))), ValueError, "edge_attr has 3"),
        (dict(src=[0, 1], dst=[1, 2], t=[1, 2], edge_attr=[["a"], ["b"]]), TypeError, "must be numeric"),
        (dict(src=[0, 1], dst=[1, 2], t=[1, 2], edge_attr=[[1.0, 2.0], [3.0, np.nan]]), ValueError, r"edge_attr\[1\] holds nan"),
        (dict(src=[0, 1], dst=[1, 2], t=[1, 2], edge_attr=[[-np.inf], [1.0]]), ValueError, r"edge_attr\[0\] holds -inf"),
        (dict(src=[0, 1], dst=[1, 2], t=[1, 2], edge_attr=[[1.0], [1e300]]), ValueError, r"edge_attr\[1\] holds inf \(as float32\)"),
        (dict(src=[0, 1], dst=[1, 2], t=[1, 2], edge_label=[1]), ValueError, "edge_label has 1"),
        (dict(src=[0, 1], dst=[1, 2], t=[1, 2], num_nodes=-1), ValueError, "num_nodes.*-1"),
        (dict(src=[0, 1], dst=[1, 2], t=[1, 2], num_nodes=3.5), TypeError, "num_nodes.*3.5"),
        (dict(src=np.array([2**63], np.uint64), dst=[1], t=[1]), ValueError, "above the int64 range"),
    ],
)
def test_constructor_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        TemporalGraph(**kwargs)


def test_query_errors():
    g = TemporalGraph([0, 1], [1, 2], [1, 2])
    with pytest.raises(ValueError, match=r"query node 3 is out of range \[0, 3\)"):
        g.most_recent_neighbors([0, 3], [1, 1], 2)
    with pytest.raises(ValueError, match="query node -1"):
        g.sample_neighbors_before([-1], [1], 2, seed=0)
    with pytest.raises(ValueError, match="NaN"):
        g.most_recent_neighbors([0], [np.nan], 2)
    with pytest.raises(ValueError, match=r"shapes \(2,\) and \(1,\)"):
        g.most_recent_neighbors([0, 1], [1], 2)
    with pytest.raises(ValueError, match="1-D"):
        g.most_recent_neighbors([[0]], [[1]], 2)
    with pytest.raises(TypeError, match="nodes must hold integer ids, got dtype float64"):
        g.most_recent_neighbors([0.0], [1], 2)
    with pytest.raises(ValueError, match="k must be a non-negative integer, got -1"):
        g.most_recent_neighbors([0], [1], -1)
    with pytest.raises(TypeError, match="k must be"):
        g.most_recent_neighbors([0], [1], 2.5)
    with pytest.raises(TypeError, match="seed must be an int"):
        g.sample_neighbors_before([0], [1], 2, seed=1.5)
    with pytest.raises(ValueError, match=r"node 3 is out of range"):
        g.neighbors_before(3, 1)
    with pytest.raises(TypeError, match="slice, a 1-D int array or a bool mask"):
        g[0]
    with pytest.raises(IndexError, match="event index 2 is out of range for 2 events"):
        g[[0, 2]]
    with pytest.raises(IndexError, match="bool mask has 3 entries, expected 2"):
        g[np.ones(3, bool)]
    with pytest.raises(ValueError, match="val_ratio \\+ test_ratio must be < 1"):
        g.split(0.5, 0.5)
    with pytest.raises(ValueError, match="test_ratio must be in"):
        g.split(0.1, -0.1)
    with pytest.raises(ValueError, match="batch_size must be positive"):
        next(g.batches(0))
    if not native.device.cuda_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            g.to("cuda")


def test_empty_stream():
    g = TemporalGraph([], [], [])
    assert g.num_nodes == 0 and g.num_events == 0 and len(g) == 0
    g = TemporalGraph(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), num_nodes=3)
    assert g.indptr.tolist() == [0, 0, 0, 0] and g.nbr.size == 0
    r = g.most_recent_neighbors([0, 1, 2], [1.0, 2.0, 3.0], 2)
    assert (r.neighbors == -1).all() and r.timestamps.dtype == np.float64
    assert (g.sample_neighbors_before([0, 2], [1.0, 9.0], 3, seed=1).neighbors == -1).all()
    assert [len(p) for p in g.split()] == [0, 0, 0]
    assert list(g.batches(4)) == []
    assert "num_events=0" in repr(g)


# --------------------------------------------------------------------------- sampler
def sampled_ok(g, res, src, dst, t, nodes, times, k, strict=True):
    """Every draw is an event of the node before its time; rows newest first; full rows."""
    nbr, ts, eid = res
    assert nbr.shape == ts.shape == eid.shape == (len(nodes), k)
    ref = ref_events if len(src) < 1000 else ref_events_np
    for i, (u, tq) in enumerate(zip(nodes, times)):
        cand = {h[1]: h for h in ref(src, dst, t, u, tq, strict, g.directed)}
        if not cand:
            assert (nbr[i] == -1).all() and (eid[i] == -1).all() and (ts[i] == 0).all()
            continue
        assert (eid[i] >= 0).all()
        for j in range(k):
            te, pos, v = cand[int(g.event_ids[eid[i, j]])]  # KeyError if not a candidate
            assert nbr[i, j] == v and ts[i, j] == te
        assert np.all(np.diff(eid[i]) <= 0)  # newest first (event index order = time order)


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("float_t", [False, True])
def test_sampler_valid_random(strict, float_t):
    src, dst, t, N = random_stream(11, float_t=float_t)
    g = TemporalGraph(src, dst, t, num_nodes=N)
    nodes, times = random_queries(12, t, N)
    res = g.sample_neighbors_before(nodes, times, 6, seed=3, strict=strict)
    sampled_ok(g, res, src, dst, t, nodes, times, 6, strict)


def test_sampler_deterministic_across_seeds_and_threads():
    src, dst, t, N = random_stream(13)
    g = TemporalGraph(src, dst, t, num_nodes=N)
    nodes, times = random_queries(14, t, N, B=600)
    a = g.sample_neighbors_before(nodes, times, 8, seed=42)
    b = g.sample_neighbors_before(nodes, times, 8, seed=42)
    c = g.sample_neighbors_before(nodes, times, 8, seed=43)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.event_ids, c.event_ids)
    before = numba.get_num_threads()
    try:
        for n in range(1, numba.config.NUMBA_NUM_THREADS + 1):
            numba.set_num_threads(n)
            d = g.sample_neighbors_before(nodes, times, 8, seed=42)
            np.testing.assert_array_equal(d.event_ids, a.event_ids)
    finally:
        numba.set_num_threads(before)
    nodes, times = nodes[:50], times[:50]
    sampled_ok(g, g.sample_neighbors_before(nodes, times, 3), src, dst, t, nodes, times, 3)


def test_sampler_uniform_over_candidates():
    # node 0: 8 events before t=10 (two of them at the same time), 3 at t=10, 1 after
    t = np.array([1, 2, 3, 3, 5, 6, 8, 9, 10, 10, 10, 11])
    src = np.zeros(len(t), np.int64)
    dst = np.arange(1, len(t) + 1)
    g = TemporalGraph(src, dst, t)
    B, k = 3000, 8
    for strict, m in ((True, 8), (False, 11)):
        res = g.sample_neighbors_before(np.zeros(B, np.int64), np.full(B, 10), k, seed=7, strict=strict)
        counts = np.bincount(res.event_ids.ravel(), minlength=len(t))
        assert (counts[m:] == 0).all()
        expected = B * k / m
        assert counts[:m].min() > 0.85 * expected and counts[:m].max() < 1.15 * expected, counts


# --------------------------------------------------------------------------- sub-streams
def test_getitem_split_batches():
    src, dst, t, N = random_stream(15, E=300)
    attr = np.random.default_rng(0).standard_normal((300, 3))
    g = TemporalGraph(src, dst, t, edge_attr=attr, edge_label=src % 2, num_nodes=N)
    assert g.edge_attr.dtype == np.float32 and g.edge_label.dtype == src.dtype
    np.testing.assert_array_equal(g.edge_attr, attr[g.event_ids].astype(np.float32))
    np.testing.assert_array_equal(g.edge_label, (src % 2)[g.event_ids])

    s = g[40:90]
    assert len(s) == 50 and s.num_nodes == N and np.shares_memory(s.src, g.src)
    np.testing.assert_array_equal(s.event_ids, g.event_ids[40:90])
    np.testing.assert_array_equal(s.edge_attr, g.edge_attr[40:90])
    # the sub-stream answers like a graph built from its own events
    s_src, s_dst, s_t = src[s.event_ids], dst[s.event_ids], t[s.event_ids]
    nodes, times = random_queries(16, t, N, B=40)
    refs = [ref_events(s_src, s_dst, s_t, u, tq) for u, tq in zip(nodes, times)]
    own = TemporalGraph(s_src, s_dst, s_t, num_nodes=N)
    check(own, s.most_recent_neighbors(nodes, times, 3), refs, 3)

    idx = np.array([250, 3, 77, 3, -1])
    r = g[idx]  # out of order, a repeat, a negative index: stream order kept
    want = np.sort(np.array([250, 3, 77, 3, 299]))
    np.testing.assert_array_equal(r.event_ids, g.event_ids[want])
    np.testing.assert_array_equal(g[torch.from_numpy(idx)].event_ids, r.event_ids)
    mask = g.src == 2
    np.testing.assert_array_equal(g[mask].dst, g.dst[mask])
    np.testing.assert_array_equal(g[::-3].event_ids, g.event_ids[::-3][::-1])

    parts = list(g.batches(64))
    assert [len(p) for p in parts] == [64, 64, 64, 64, 44]
    np.testing.assert_array_equal(np.concatenate([p.event_ids for p in parts]), g.event_ids)

    train, val, test = g.split(0.2, 0.1)
    assert len(train) + len(val) + len(test) == len(g)
    np.testing.assert_array_equal(np.concatenate([train.t, val.t, test.t]), g.t)
    assert train.t.max() < val.t.min() and val.t.max() < test.t.min()  # ties stay together
    val_time, test_time = np.quantile(g.t, [0.7, 0.9])
    assert (train.t <= val_time).all() and (test.t > test_time).all()
    assert [len(p) for p in g.split(0.0, 0.0)] == [len(g), 0, 0]


# --------------------------------------------------------------------------- real data
def _raw_table(folder, name, **kw):
    for path in (SHARED / folder / name, BUNDLED / folder / (name + ".gz")):
        if path.is_file():
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rt") as f:
                return np.loadtxt(f, dtype=np.int64, ndmin=2, **kw)
    pytest.skip(f"{name} is not available")


@pytest.fixture(scope="module")
def collegemsg():
    return _raw_table("collegemsg", "CollegeMsg.txt")


@pytest.fixture(scope="module")
def wikipedia():
    return _raw_table("jodie_wikipedia", "wikipedia.csv", delimiter=",", skiprows=1, max_rows=30000)


def real_queries(src, dst, t, N, seed, B=300):
    """Endpoints of random events at exactly their times, and random nodes at random times."""
    rng = np.random.default_rng(seed)
    e = rng.integers(0, len(t), B)
    nodes = np.where(rng.random(B) < 0.5, src[e], dst[e])
    times = t[e].copy()
    r = B // 6
    nodes[:r] = rng.integers(0, N, r)
    times[:r] = rng.integers(t.min() - 10, t.max() + 10, r)
    return nodes, times


@pytest.mark.parametrize("directed", [False, True])
def test_collegemsg_real(collegemsg, directed):
    src, dst, t = collegemsg[:, 0], collegemsg[:, 1], collegemsg[:, 2]
    g = TemporalGraph(src, dst, t, directed=directed)
    assert g.num_nodes == 1900 and g.num_events == 59835  # ids 1..1899: node 0 isolated
    nodes, times = real_queries(src, dst, t, g.num_nodes, seed=int(directed))
    nodes[0], times[0] = 0, t.max() + 1
    for strict in (True, False):
        refs = [ref_events_np(src, dst, t, u, tq, strict, directed) for u, tq in zip(nodes, times)]
        check(g, g.most_recent_neighbors(nodes, times, 10, strict=strict), refs, 10)
    hub = int(np.bincount(src).argmax())
    nb, ts, eid = g.neighbors_before(hub, int(np.median(t)))
    hits = ref_events_np(src, dst, t, hub, int(np.median(t)), True, directed)
    assert len(nb) == len(hits) > 100
    np.testing.assert_array_equal(g.event_ids[eid], [h[1] for h in hits])
    res = g.sample_neighbors_before(nodes[:60], times[:60], 5, seed=1)
    sampled_ok(g, res, src, dst, t, nodes[:60], times[:60], 5)


def test_wikipedia_slice_real(wikipedia):
    src, dst, t, label = wikipedia.T
    g = TemporalGraph(src, dst, t, edge_label=label)
    nodes, times = real_queries(src, dst, t, g.num_nodes, seed=3)
    refs = [ref_events_np(src, dst, t, u, tq) for u, tq in zip(nodes, times)]
    res = g.most_recent_neighbors(nodes, times, 20)
    check(g, res, refs, 20)
    found = res.mask
    eid = res.event_ids[found]
    np.testing.assert_array_equal(g.edge_label[eid], label[g.event_ids[eid]])
    train, val, test = g.split(0.15, 0.15)
    assert abs(len(test) / len(g) - 0.15) < 0.01 and train.t.max() < val.t.min()


def test_load_temporal_datasets(collegemsg, wikipedia):
    try:
        from graphkit.datasets import load_temporal
    except (ImportError, AttributeError):
        pytest.skip("graphkit.datasets.load_temporal is not available")
    g = load_temporal("collegemsg")
    assert isinstance(g, TemporalGraph) and g.num_nodes == 1899
    np.testing.assert_array_equal(g.src, collegemsg[:, 0] - 1)  # 0-based ids, same order
    raw = TemporalGraph(collegemsg[:, 0] - 1, collegemsg[:, 1] - 1, collegemsg[:, 2])
    nodes, times = real_queries(raw.src, raw.dst, raw.t, 1899, seed=5)
    for a, b in zip(g.most_recent_neighbors(nodes, times, 8), raw.most_recent_neighbors(nodes, times, 8)):
        np.testing.assert_array_equal(a, b)
    w = load_temporal("wikipedia")
    n = len(wikipedia)
    np.testing.assert_array_equal(w.t[:n], wikipedia[:, 2])
    np.testing.assert_array_equal(w.edge_label[:n], wikipedia[:, 3])


# --------------------------------------------------------------------------- save / load
@st.composite
def streams(draw):
    n = draw(st.integers(1, 12))
    E = draw(st.integers(0, 30))
    ids = st.lists(st.integers(0, n - 1), min_size=E, max_size=E)
    if draw(st.booleans()):
        t = draw(st.lists(st.integers(-(2**40), 2**40), min_size=E, max_size=E))
        t = np.array(t, dtype=np.int64)
    else:
        vals = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
        t = np.array(draw(st.lists(vals, min_size=E, max_size=E)), dtype=np.float64)
    attr = None
    if draw(st.booleans()):
        F = draw(st.integers(1, 3))
        attr = np.array(draw(st.lists(st.floats(-10, 10, width=32), min_size=E * F, max_size=E * F)))
        attr = attr.reshape(E, F)
    label = np.array(draw(ids), dtype=np.int32) if draw(st.booleans()) else None
    return dict(
        src=np.array(draw(ids), dtype=np.int64),
        dst=np.array(draw(ids), dtype=np.int64),
        t=t,
        edge_attr=attr,
        edge_label=label,
        num_nodes=n + draw(st.integers(0, 3)),
        directed=draw(st.booleans()),
    )


@settings(max_examples=40, deadline=None)
@given(stream=streams(), sub=st.booleans())
def test_save_load_roundtrip(stream, sub):
    g = TemporalGraph(**stream)
    if sub:
        g = g[::-2]  # a sub-stream: event_ids no longer 0..E-1
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "g.gk")
        g.save(path)
        h = TemporalGraph.load(path)
    assert (h.num_nodes, h.num_events, h.directed) == (g.num_nodes, g.num_events, g.directed)
    names = ("src", "dst", "t", "event_ids", "edge_attr", "edge_label", "indptr", "nbr", "nbr_t", "nbr_eid")
    for name in names:
        a, b = getattr(g, name), getattr(h, name)
        if a is None:
            assert b is None
        else:
            assert a.dtype == b.dtype and a.shape == b.shape, name
            np.testing.assert_array_equal(a, b)
    if g.num_events:
        nodes = np.arange(g.num_nodes)
        times = np.full(g.num_nodes, g.t[g.num_events // 2])
        for a, b in zip(g.most_recent_neighbors(nodes, times, 3), h.most_recent_neighbors(nodes, times, 3)):
            np.testing.assert_array_equal(a, b)


def test_load_rejects_damaged_or_foreign_files(tmp_path):
    g = TemporalGraph([0, 1, 2], [1, 2, 0], [3, 1, 2], edge_attr=np.ones((3, 2)))
    path = tmp_path / "g.gk"
    g.save(path)
    data = bytearray(path.read_bytes())
    data[native.container.read_header(path)["arrays"][0]["offset"]] ^= 0xFF
    bad = tmp_path / "bad.gk"
    bad.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="checksum"):
        TemporalGraph.load(bad)
    bad.write_bytes(path.read_bytes()[:-9])
    with pytest.raises(CorruptFileError, match="truncated"):
        TemporalGraph.load(bad)
    other = tmp_path / "other.gk"
    native.container.save(other, "native.csr", {"indptr": np.zeros(1, np.int64)})
    with pytest.raises(CorruptFileError, match="not a 'native.temporal'"):
        TemporalGraph.load(other)
    unsorted = tmp_path / "unsorted.gk"
    arrays = dict(src=np.array([0, 1]), dst=np.array([1, 0]), t=np.array([5, 1]), event_ids=np.arange(2))
    native.container.save(unsorted, "native.temporal", arrays, {"num_nodes": 2, "directed": False})
    with pytest.raises(CorruptFileError, match="out of time order"):
        TemporalGraph.load(unsorted)


def test_repr_and_to_cpu():
    g = TemporalGraph([0, 1], [1, 2], [1, 2], edge_attr=np.ones((2, 4)), edge_label=[0, 1])
    assert g.to("cpu") is g
    text = repr(g)
    assert text.startswith("TemporalGraph(num_nodes=3, num_events=2, t=[1, 2]")
    assert "edge_attr=(2, 4)" in text and "edge_label=int64" in text and "device='cpu'" in text


# --------------------------------------------------------------------------- CUDA implementation
def torch_index(g):
    return temporal_cuda.index_cuda(
        torch.from_numpy(g.src.copy()), torch.from_numpy(g.dst.copy()), torch.from_numpy(g.t.copy()),
        g.num_nodes, g.directed,
    )  # fmt: skip


@pytest.mark.parametrize("directed", [False, True])
@pytest.mark.parametrize("float_t", [False, True])
def test_torch_implementation_on_cpu_tensors(directed, float_t):
    """The CUDA implementation is plain torch: run it on CPU tensors against the CPU kernels."""
    src, dst, t, N = random_stream(17, float_t=float_t)
    g = TemporalGraph(src, dst, t, num_nodes=N, directed=directed)
    index = torch_index(g)
    for a, b in zip(index[:4], (g.indptr, g.nbr, g.nbr_t, g.nbr_eid)):
        np.testing.assert_array_equal(a.numpy(), b)
    nodes, times = random_queries(18, t, N)
    mixed = times + 0.5 if not float_t else times.astype(np.int64)
    tn = torch.from_numpy(nodes)
    for q in (times, mixed):
        for strict in (True, False):
            got = temporal_cuda.most_recent_cuda(index, tn, torch.from_numpy(q), 5, strict)
            want = g.most_recent_neighbors(nodes, q, 5, strict=strict)
            for a, b in zip(got, want):
                np.testing.assert_array_equal(a.numpy(), b)
    got = temporal_cuda.sample_cuda(index, tn, torch.from_numpy(times), 4, 5, True)
    sampled_ok(g, tuple(a.numpy() for a in got), src, dst, t, nodes, times, 4)
    again = temporal_cuda.sample_cuda(index, tn, torch.from_numpy(times), 4, 5, True)
    assert torch.equal(got[2], again[2])
    none = np.zeros(0, np.int64)
    empty = torch_index(TemporalGraph(none, none, none, num_nodes=2))
    got = temporal_cuda.most_recent_cuda(empty, torch.tensor([0, 1]), torch.tensor([5, 5]), 2, True)
    assert (got[0] == -1).all() and got[1].dtype == torch.int64


def test_torch_implementation_collegemsg(collegemsg):
    g = TemporalGraph(collegemsg[:, 0], collegemsg[:, 1], collegemsg[:, 2])
    index = torch_index(g)
    nodes, times = real_queries(g.src, g.dst, g.t, g.num_nodes, seed=19, B=5000)
    got = temporal_cuda.most_recent_cuda(index, torch.from_numpy(nodes), torch.from_numpy(times), 10, True)
    for a, b in zip(got, g.most_recent_neighbors(nodes, times, 10)):
        np.testing.assert_array_equal(a.numpy(), b)


@pytest.mark.gpu
@needs_cuda
def test_cuda_matches_cpu(collegemsg):
    g = TemporalGraph(collegemsg[:, 0], collegemsg[:, 1], collegemsg[:, 2], edge_label=collegemsg[:, 0] % 3)
    gc = g.to("cuda")
    assert gc.device == "cuda" and gc.src.is_cuda and gc.indptr.is_cuda
    nodes, times = real_queries(g.src, g.dst, g.t, g.num_nodes, seed=21, B=5000)
    for strict in (True, False):
        want = g.most_recent_neighbors(nodes, times, 10, strict=strict)
        qn, qt = torch.from_numpy(nodes).cuda(), torch.from_numpy(times).cuda()
        got = gc.most_recent_neighbors(qn, qt, 10, strict=strict)
        assert got.neighbors.is_cuda
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a.cpu().numpy(), b)
        got = gc.most_recent_neighbors(nodes, times + 0.5, 10, strict=strict)  # numpy in: numpy out
        want = g.most_recent_neighbors(nodes, times + 0.5, 10, strict=strict)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(gc.indptr.cpu().numpy(), g.indptr)
    qn, qt = torch.from_numpy(nodes[:200]).cuda(), torch.from_numpy(times[:200]).cuda()
    s = tuple(a.cpu().numpy() for a in gc.sample_neighbors_before(qn, qt, 4, seed=3))
    sampled_ok(g, s, g.src, g.dst, g.t, nodes[:200], times[:200], 4)
    back = gc[10:500].to("cpu")
    np.testing.assert_array_equal(back.event_ids, g.event_ids[10:500])
    np.testing.assert_array_equal(back.edge_label, g.edge_label[10:500])


# --------------------------------------------------------------------------- CSRGraph
def test_to_csr():
    csr = pytest.importorskip("native.csr")
    src, dst, t, N = random_stream(23)
    for directed in (False, True):
        g = TemporalGraph(src, dst, t, num_nodes=N, directed=directed)
        c = g.to_csr()
        assert isinstance(c, csr.CSRGraph) and c.num_nodes == N
        np.testing.assert_array_equal(c.indptr, g.indptr)
        np.testing.assert_array_equal(g.t[c.edge_ids], c.timestamps)
        for u in range(N):
            lo, hi = g.indptr[u], g.indptr[u + 1]
            row = list(zip(c.indices[lo:hi], c.timestamps[lo:hi], c.edge_ids[lo:hi]))
            assert row == sorted(zip(g.nbr[lo:hi], g.nbr_t[lo:hi], g.nbr_eid[lo:hi]))
