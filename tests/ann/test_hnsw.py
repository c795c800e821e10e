"""HNSWIndex: recall on real data, graph invariants, determinism, filters, removal, files."""

import numpy as np
import pytest

import ann
from ann.evaluate import recall_at_k
from ann.hnsw import HNSWIndex
from native.container import CorruptFileError


@pytest.fixture(scope="module")
def sift_index(sift5k):
    idx = HNSWIndex(128, M=16, ef_construction=200)
    idx.add(sift5k["base"])
    return idx


def flat_truth(X, Q, k, metric="l2", filter=None):
    f = ann.FlatIndex(X.shape[1], metric)
    f.add(X)
    return f.search(Q, k, filter=filter)[1]


def check_invariants(idx, reachable=0.999):
    n, M, M0 = idx._n, idx.M, idx.M0
    lv = idx._levels[:n]
    assert idx._ep[1] == lv.max() and lv[idx._ep[0]] == lv.max()
    for node in range(n):
        for layer in range(lv[node] + 1):
            nb = idx.neighbors(node, layer)
            assert nb.size <= (M0 if layer == 0 else M)
            assert node not in nb, "self link"
            assert np.unique(nb).size == nb.size, "duplicate link"
            assert ((nb >= 0) & (nb < n)).all()
            assert (lv[nb] >= layer).all(), "link to a node absent from the layer"
    # (almost) every node is reachable on layer 0 from the entry point
    seen = np.zeros(n, bool)
    stack = [int(idx._ep[0])]
    seen[stack[0]] = True
    while stack:
        for e in idx.neighbors(stack.pop(), 0):
            if not seen[e]:
                seen[e] = True
                stack.append(int(e))
    assert seen.mean() >= reachable


def test_sift_recall_against_groundtruth(sift_index, sift5k):
    D, I = sift_index.search(sift5k["query"], k=10)  # default ef = 64
    assert recall_at_k(I, sift5k["groundtruth"], 10) >= 0.95
    assert (np.diff(D, axis=1) >= 0).all()
    # distances are the true squared L2 of the returned ids
    ref = ((sift5k["query"][:, None, :].astype(np.float64) - sift5k["base"][I].astype(np.float64)) ** 2).sum(-1)
    np.testing.assert_allclose(D, ref, rtol=1e-4)
    # a wider beam is no worse; ef=1 is clearly worse (the beam matters)
    _, I2 = sift_index.search(sift5k["query"], k=10, ef=200)
    assert recall_at_k(I2, sift5k["groundtruth"], 10) >= recall_at_k(I, sift5k["groundtruth"], 10)
    _, I3 = sift_index.search(sift5k["query"], k=1, ef=1)
    assert recall_at_k(I3, sift5k["groundtruth"], 1) < recall_at_k(I2, sift5k["groundtruth"], 1)


def test_mnist_recall_against_groundtruth(mnist10k):
    idx = HNSWIndex(784)
    idx.add(mnist10k["base"])
    _, I = idx.search(mnist10k["query"], k=10, ef=64)
    assert recall_at_k(I, mnist10k["groundtruth"], 10) >= 0.95


@pytest.mark.parametrize("metric", ["ip", "cosine"])
def test_metrics_against_flat(sift5k, metric):
    X, Q = sift5k["base"][:3000], sift5k["query"][:200]
    idx = HNSWIndex(128, metric)
    idx.add(X)
    D, I = idx.search(Q, 10)
    G = flat_truth(X, Q, 10, metric)
    assert recall_at_k(I, G, 10) >= 0.9
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True) if metric == "cosine" else X
    Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True) if metric == "cosine" else Q
    ref = 1.0 - (Qn[:, None, :].astype(np.float64) * Xn[I].astype(np.float64)).sum(-1)
    np.testing.assert_allclose(D, ref, rtol=1e-3, atol=1e-3 * np.abs(ref).max())


def test_graph_invariants_and_levels(sift_index, rng):
    check_invariants(sift_index)
    # level distribution: P(level >= l) = M^-l
    counts = sift_index.level_counts()
    assert counts[0] == 4500
    assert 4500 / 16 * 0.7 < counts[1] < 4500 / 16 * 1.3
    info = sift_index.info()
    assert info["M"] == 16 and info["ef_construction"] == 200 and info["max_level"] == len(counts) - 1
    assert info["memory_bytes"] >= 4500 * (128 * 4 + 32 * 4)
    # small M, several add batches, upper layers populated
    idx = HNSWIndex(8, M=2, ef_construction=20, seed=3)
    X = rng.standard_normal((1500, 8)).astype(np.float32)
    for s in range(0, 1500, 500):
        idx.add(X[s : s + 500])
    assert idx.max_level >= 3
    check_invariants(idx, reachable=0.5)  # M0 = 4 directed links: pruning strands some nodes


def test_deterministic_build(sift5k):
    X = sift5k["base"][:1500]
    a, b, c = HNSWIndex(128, seed=7), HNSWIndex(128, seed=7), HNSWIndex(128, seed=8)
    for idx in (a, b, c):
        idx.add(X)
    sa, sb, sc = a._state()[1], b._state()[1], c._state()[1]
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k])
    assert not np.array_equal(sa["levels"], sc["levels"])


def test_parallel_build_independent_of_thread_count(sift5k):
    """Insertion rounds are planned in parallel against the graph as it stands, so the graph
    is the same for 1 and 2 threads (and matches a sequential build in quality)."""
    import numba

    X = sift5k["base"][:3000]
    before = numba.get_num_threads()
    built = []
    try:
        for t in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(t)
            idx = HNSWIndex(128, M=8, ef_construction=64, seed=11)
            idx.add(X[:1000])
            idx.add(X[1000:])  # two adds: rounds continue from the current size
            built.append(idx._state()[1])
    finally:
        numba.set_num_threads(before)
    for k in built[0]:
        np.testing.assert_array_equal(built[0][k], built[1][k])


def test_round_elements_link_to_each_other(sift5k, rng):
    """Elements of one parallel round are planned against the graph without each other;
    augment_batch offers each the round's elements that planned a link to the same
    neighbour. A SIFT row and its near twin, added one after the other (so in the same
    round), end up linked on layer 0, as a sequential build links them."""
    import ann.hnsw as H

    X = sift5k["base"][:1500]
    twins = np.empty((2 * len(X), 128), np.float32)
    twins[0::2] = X
    twins[1::2] = X + rng.normal(0, 1, X.shape).astype(np.float32)  # squared distance ~128; SIFT's nearest ~6e4
    idx = HNSWIndex(128, M=8, ef_construction=64, seed=5)
    idx.add(twins)
    first_round = int(H._MIN_ROUND / H._ROUND_FRACTION) + 2  # before this, one element at a time
    pairs = range(first_round // 2, len(X))
    linked = [2 * i + 1 in idx.neighbors(2 * i, 0) or 2 * i in idx.neighbors(2 * i + 1, 0) for i in pairs]
    assert np.mean(linked) > 0.95
    check_invariants(idx, reachable=0.99)


def test_prefetch_hint_reads_any_row_layout(sift5k):
    """The layer search's prefetch hint (on for vectors over 8 MiB: the mnist10k test runs
    it) compiles to a prefetch for C-ordered and strided rows and changes nothing."""
    import platform

    from numba import njit

    from native.kernels.hnsw import _prefetch_vector

    @njit
    def touch(X, rows):
        s = 0.0
        for i in rows:
            _prefetch_vector(X, i, min(X.shape[1], 128))
            s += X[i, 0]
        return s

    X = sift5k["base"][:100]
    rows = np.array([3, 99, 0, 42])
    for A in (X, X[:, ::2], X[::3]):
        r = rows[rows < len(A)]
        assert touch(A, r) == pytest.approx(float(A[r, 0].astype(np.float64).sum()))
    if platform.machine() in ("x86_64", "AMD64"):
        assert "prefetch" in "".join(touch.inspect_asm().values())


def test_keep_pruned_connections(sift5k):
    X, Q = sift5k["base"][:2000], sift5k["query"][:100]
    plain, kept = HNSWIndex(128, M=8, ef_construction=64), HNSWIndex(128, M=8, ef_construction=64, keep_pruned=True)
    plain.add(X)
    kept.add(X)
    # keeping pruned candidates fills every list of a new element up to M on layer 0
    assert kept._c0[:2000].mean() > plain._c0[:2000].mean()
    check_invariants(kept)
    assert recall_at_k(kept.search(Q, 10)[1], flat_truth(X, Q, 10), 10) >= 0.9


def test_compact_repairs_links_and_reclaims_space(sift5k, tmp_path):
    X, Q = sift5k["base"][:3000], sift5k["query"][:200]
    ids = np.arange(3000, dtype=np.int64) + 1000
    idx = HNSWIndex(128, M=12, ef_construction=100)
    idx.add(X, ids=ids)
    gone = np.random.default_rng(1).choice(ids, 1000, replace=False)
    idx.remove(gone)
    assert idx.compact() == 1000 and idx.compact() == 0
    assert idx._n == 2000 and idx.ntotal == 2000 and idx.info()["removed"] == 0
    check_invariants(idx, reachable=0.99)
    keep = ~np.isin(ids, gone)
    D, I = idx.search(Q, 10)
    assert not np.isin(I, gone).any()
    assert recall_at_k(I, ids[keep][flat_truth(X[keep], Q, 10)], 10) >= 0.95
    # still a valid index: file round trip, more adds
    idx.save(tmp_path / "c.ann")
    back = ann.load(tmp_path / "c.ann")
    assert np.array_equal(back.search(Q, 10)[1], I)
    back.add(X[:5] + 0.5, ids=[1, 2, 3, 4, 5])
    assert back.search(X[:5] + 0.5, 1)[1][:, 0].tolist() == [1, 2, 3, 4, 5]
    # removing everything leaves an empty, usable index
    back.remove(back.ids.copy())
    back.compact()
    assert back.ntotal == 0
    back.add(X[:10])
    assert back.search(X[:10], 1)[1][:, 0].tolist() == back.ids.tolist()


def test_replace_deleted_reuses_slots(sift5k):
    X, Q = sift5k["base"][:3000], sift5k["query"][:200]
    idx = HNSWIndex(128, M=12, ef_construction=100)
    idx.add(X[:2000])
    gone = np.arange(0, 2000, 3)
    idx.remove(gone)
    new_ids = idx.add(X[2000:2800], replace_deleted=True)  # 667 freed slots, then 133 appended
    assert idx._n == 2133 and idx.ntotal == 2133
    check_invariants(idx, reachable=0.99)  # a third of the graph re-linked at once
    live = np.setdiff1d(np.arange(2800), gone)
    D, I = idx.search(Q, 10)
    assert not np.isin(I, gone).any()
    assert recall_at_k(I, live[flat_truth(X[live], Q, 10)], 10) >= 0.95
    # each new vector finds itself (bar the odd outlier the heuristic leaves with no in-link,
    # as in hnswlib)
    assert (idx.search(X[2000:2800], 1)[1][:, 0] == new_ids).mean() >= 0.995
    assert sorted(idx.ids.tolist()) == live.tolist()


def test_resize_reserves_capacity(rng):
    idx = HNSWIndex(16)
    idx.resize(5000)
    assert idx.capacity == 5000
    X = rng.standard_normal((4000, 16)).astype(np.float32)
    buf = idx._X
    idx.add(X[:2000])
    idx.add(X[2000:])
    assert idx._X is buf  # nothing reallocated
    with pytest.raises(ValueError, match="below the 4000 elements"):
        idx.resize(100)


def test_concurrent_searches_are_safe(sift_index, sift5k):
    from concurrent.futures import ThreadPoolExecutor

    Q = sift5k["query"]
    ref = sift_index.search(Q, 10)
    with ThreadPoolExecutor(4) as ex:
        outs = list(ex.map(lambda s: sift_index.search(Q[s : s + 125], 10), [0, 125, 250, 375] * 3))
    for j, (D, I) in enumerate(outs):
        s = [0, 125, 250, 375][j % 4]
        assert np.array_equal(I, ref[1][s : s + 125]) and np.array_equal(D, ref[0][s : s + 125])
    # one-query calls share the pool of visited sets (taken and given back without a lock)
    with ThreadPoolExecutor(4) as ex:
        outs = list(ex.map(lambda i: sift_index.search(Q[i], 10), range(Q.shape[0])))
    assert np.array_equal(np.concatenate([I for _, I in outs]), ref[1])
    assert np.array_equal(np.concatenate([D for D, _ in outs]), ref[0])
    assert len(sift_index._pool) <= 8


def test_one_query_calls_match_the_batch(sift5k):
    """One-query calls (their own kernel, no thread pool) give the batch's rows exactly,
    for a (1, d) or a (d,) query, before and after a removal (slot != node)."""
    X, Q = sift5k["base"][:2000], sift5k["query"][:30]
    idx = HNSWIndex(128, M=8, ef_construction=64)
    idx.add(X, ids=np.arange(2000) + 100)
    for removed in (False, True):
        if removed:
            idx.remove(np.arange(100, 2100, 9))
        D, I = idx.search(Q, 10, ef=24)
        for i in range(Q.shape[0]):
            for q in (Q[i:i + 1], Q[i]):
                d1, i1 = idx.search(q, 10, ef=24)
                assert np.array_equal(i1[0], I[i]) and np.array_equal(d1[0], D[i])
        if removed:
            assert not np.isin(I, np.arange(100, 2100, 9)).any()


@pytest.mark.parametrize("frac", [0.01, 0.1, 0.5])
def test_filters_inside_search(sift_index, sift5k, rng, frac):
    Q = sift5k["query"][:100]
    allowed = np.flatnonzero(rng.random(4500) < frac)
    mask = np.zeros(4500, bool)
    mask[allowed] = True
    G = flat_truth(sift5k["base"], Q, 10, filter=mask)
    for f in (mask, allowed, lambda ids: mask[ids]):
        D, I = sift_index.search(Q, 10, filter=f, exact_below=0)  # the walk, whatever the filter
        assert np.isin(I[I >= 0], allowed).all()
        assert (I >= 0).all()  # selective filters still fill k results
        assert recall_at_k(I, G, 10) >= 0.9


def test_id_masks_are_slot_masks_when_ids_are_slots(sift5k, rng, monkeypatch):
    """With ids 0..n-1 in slot order and nothing removed, a bool id mask is used as the node
    mask as it is (no O(n) gather per call): the same results as the general path, for the
    walk and the scan, one query and a batch; a mask longer than n is cut, a shorter one, other
    ids or a removal take the general path."""
    import ann
    import ann.base

    X, Q = sift5k["base"][:2000], sift5k["query"][:20]
    idx = HNSWIndex(128, M=8, ef_construction=64)
    idx.add(X[:1500])
    idx.add(X[1500:])  # ids 1500.. continue in slot order
    assert idx._ids_are_slots()
    masks = [rng.random(2000) < 0.3, rng.random(2600) < 0.02, rng.random(1200) < 0.5]
    for mask in masks:
        for nq, below in ((1, 0), (20, 0), (1, None), (20, None)):
            fast = idx.search(Q[:nq], 10, filter=mask, ef=32, exact_below=below)
            with monkeypatch.context() as mp:
                mp.setattr(ann.base.Index, "_ids_are_slots", lambda self: False)
                slow = idx.search(Q[:nq], 10, filter=mask, ef=32, exact_below=below)
            assert np.array_equal(fast[0], slow[0]) and np.array_equal(fast[1], slow[1])
            assert np.isin(fast[1][fast[1] >= 0], np.flatnonzero(mask)).all()
    flat = ann.FlatIndex(128)
    flat.add(X)
    for nq in (1, 20):  # 2% of 2,000 is below the scan threshold: exact
        assert np.array_equal(idx.search(Q[:nq], 10, filter=masks[1])[1], flat.search(Q[:nq], 10, filter=masks[1])[1])
    idx.remove([3])
    assert not idx._ids_are_slots()
    other = HNSWIndex(128, M=8, ef_construction=64)
    other.add(X[:100], ids=np.arange(100)[::-1].copy())
    assert not other._ids_are_slots()
    D, I = other.search(Q[:2], 5, filter=np.arange(100) < 10, exact_below=0)
    assert np.isin(I, np.arange(10)).all()


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_selective_filter_scans_exactly(sift5k, rng, metric, monkeypatch):
    """A filter passing few vectors is answered by an exact scan of just those (the walk
    would visit most of the graph): the same ids and distances as FlatIndex under that
    filter, one query or a batch (both scan kernels), removed elements never returned. The
    rule sqrt(K * ef * n / dim) decides (K by batch size); exact_below overrides it (0: always
    walk)."""
    import ann.hnsw

    X, Q = sift5k["base"][:3000] / 100, sift5k["query"][:40] / 100
    ids = np.arange(3000, dtype=np.int64) * 3 + 7
    idx = HNSWIndex(128, metric, M=8, ef_construction=64)
    idx.add(X, ids=ids)
    gone = ids[::50]
    idx.remove(gone)
    scans = []
    scan = ann.hnsw.knn_cpu
    monkeypatch.setattr(ann.hnsw, "knn_cpu", lambda *a, **kw: scans.append(kw["rows"].size) or scan(*a, **kw))
    few = ids[rng.random(3000) < 0.05]  # about 150 ids, some removed
    flat = ann.FlatIndex(128, metric)
    keep = ~np.isin(ids, gone)
    flat.add(X[keep], ids=ids[keep])
    for nq in (1, 40):
        Df, If = flat.search(Q[:nq], 10, filter=few)
        D, I = idx.search(Q[:nq], 10, filter=few, ef=16)
        assert np.array_equal(I, If)
        np.testing.assert_allclose(D, Df, rtol=1e-5, atol=1e-5)
        assert not np.isin(I, gone).any()
    assert scans == [np.isin(few, ids[keep]).sum()] * 2
    # the rule, sqrt(K * ef * 2940 / 128), K = 2,000 for up to 12 queries a call: 857 vectors
    # at ef 16 and 1,714 at ef 64; K = 10,000 for larger batches: 1,917 at ef 16. 1,200 ids:
    # two queries walk at ef 16 and scan at ef 64, a batch of 20 scans at ef 16
    some = ids[rng.permutation(3000)[:1200]]
    live_some = np.isin(some, ids[keep]).sum()
    assert keep.sum() == 2940 and 857 < live_some <= 1714
    idx.search(Q[:2], 10, filter=some, ef=16)
    assert len(scans) == 2
    idx.search(Q[:2], 10, filter=some, ef=64)
    assert scans[-1] == live_some
    idx.search(Q[:20], 10, filter=some, ef=16)
    assert len(scans) == 4 and scans[-1] == live_some
    idx.search(Q[:2], 10, filter=few, exact_below=0)
    idx.search(Q[:2], 10, filter=some, ef=16, exact_below=live_some)
    assert len(scans) == 5 and scans[-1] == live_some
    # fewer allowed than k: padded, as the walk
    four = few[np.isin(few, ids[keep])][:4]
    D, I = idx.search(Q[:3], 10, filter=four)
    assert (I[:, 4:] == -1).all() and np.isinf(D[:, 4:]).all() and np.isin(I[:, :4], four).all()
    with pytest.raises(ValueError, match="exact_below"):
        idx.search(Q[:1], 10, filter=few, exact_below=-1)
    with pytest.raises(TypeError, match="exact_below"):
        idx.search(Q[:1], 10, filter=few, exact_below=2.5)


def test_remove_never_returns_removed(sift5k):
    X, Q = sift5k["base"][:2000], sift5k["query"][:100]
    ids = np.arange(2000, dtype=np.int64) * 7 + 10**11
    idx = HNSWIndex(128)
    idx.add(X, ids=ids)
    _, I = idx.search(Q, 10)
    assert recall_at_k(I, ids[flat_truth(X, Q, 10)], 10) >= 0.95
    gone = np.unique(I[:, :3])
    assert idx.remove(gone) == gone.size
    assert idx.ntotal == 2000 - gone.size and len(idx) == idx.ntotal
    assert not idx.contains(gone).any()
    D, I2 = idx.search(Q, 10)
    assert not np.isin(I2, gone).any()
    keep = ~np.isin(ids, gone)
    assert recall_at_k(I2, ids[keep][flat_truth(X[keep], Q, 10)], 10) >= 0.9
    with pytest.raises(KeyError, match="not in the index"):
        idx.remove(gone[:1])
    # a removed id can be added again and is then found
    idx.add(X[np.isin(ids, gone[:1])], ids=gone[:1])
    assert gone[0] in idx.search(X[np.isin(ids, gone[:1])], 1)[1]
    check_invariants(idx)


def test_save_load_round_trip(tmp_path, sift5k):
    X, Q = sift5k["base"][:1500], sift5k["query"][:50]
    idx = HNSWIndex(128, "cosine", M=8, ef_construction=64, seed=5)
    idx.add(X[:1000], ids=np.arange(1000) + 500)
    idx.remove([500, 501, 777])
    D, I = idx.search(Q, 10, ef=40)
    path = tmp_path / "h.ann"
    idx.save(path)
    back = ann.load(path)
    assert isinstance(back, HNSWIndex)
    strip = lambda d: {k: v for k, v in d.items() if k != "memory_bytes"}  # growth slack differs
    assert strip(back.info()) == strip(idx.info())
    D2, I2 = back.search(Q, 10, ef=40)
    assert np.array_equal(D, D2) and np.array_equal(I, I2)
    back.save(tmp_path / "again.ann")  # bit-identical file
    assert (tmp_path / "again.ann").read_bytes() == path.read_bytes()
    # adding after load gives the same graph as adding without the round trip
    idx.add(X[1000:])
    back.add(X[1000:])
    for k, a in idx._state()[1].items():
        np.testing.assert_array_equal(a, back._state()[1][k])
    # mmap load works too
    D3, I3 = ann.load(path, mmap=True).search(Q, 10, ef=40)
    assert np.array_equal(D, D3) and np.array_equal(I, I3)


def test_corrupt_file_refused(tmp_path, rng):
    idx = HNSWIndex(8)
    idx.add(rng.standard_normal((300, 8)))
    path = tmp_path / "h.ann"
    idx.save(path)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad = tmp_path / "bad.ann"
    bad.write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError):
        ann.load(bad)
    (tmp_path / "short.ann").write_bytes(bytes(raw[: len(raw) // 3]))
    with pytest.raises(CorruptFileError):
        ann.load(tmp_path / "short.ann")
    # a well-formed file whose graph is inconsistent is refused too
    from native import container

    meta, arrays = idx._state()
    arrays = dict(arrays, layer0=np.full_like(arrays["layer0"], 10**6))
    container.save(tmp_path / "graph.ann", "ann.hnsw", {"ids": idx._ids, **arrays},
                   {"dim": 8, "metric": "l2", "next_id": 300, **meta}, 1)
    with pytest.raises(CorruptFileError, match="outside"):
        ann.load(tmp_path / "graph.ann")


def test_k_larger_than_ntotal_and_validation(rng):
    idx = HNSWIndex(4)
    with pytest.raises(ValueError, match="empty"):
        idx.search(rng.random((1, 4)), 1)
    idx.add(rng.random((5, 4)))
    D, I = idx.search(rng.random((3, 4)), 8)
    assert D.shape == (3, 8) and I.dtype == np.int64 and D.dtype == np.float32
    assert (np.sort(I[:, :5], axis=1) == np.arange(5)).all()
    assert (I[:, 5:] == -1).all() and np.isinf(D[:, 5:]).all()
    D, I = idx.search(rng.random((2, 4)), 3, filter=[])
    assert (I == -1).all()
    with pytest.raises(ValueError, match="ef must be >= 1"):
        idx.search(rng.random((1, 4)), 1, ef=0)
    with pytest.raises(ValueError, match="M must be >= 2"):
        HNSWIndex(4, M=1)
    with pytest.raises(ValueError, match="dimension 3, index has 4"):
        idx.search(rng.random((1, 3)), 1)
