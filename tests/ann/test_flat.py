"""FlatIndex: exact results, ids, filters, removal, validation and files."""

import warnings

import numpy as np
import pytest

import ann
from ann.evaluate import recall_at_k
from native.container import CorruptFileError


def brute(Q, X, k):
    R = ((Q[:, None, :].astype(np.float64) - X[None].astype(np.float64)) ** 2).sum(-1)
    return np.argsort(R, axis=1, kind="stable")[:, :k]


def test_sift_exact_against_groundtruth(sift5k):
    idx = ann.FlatIndex(dim=128)
    idx.add(sift5k["base"])
    D, I = idx.search(sift5k["query"], k=10)
    assert recall_at_k(I, sift5k["groundtruth"], 10) > 0.999
    Dn, In = idx.search(sift5k["query_ngt"], k=10)
    assert recall_at_k(In, sift5k["groundtruth_ngt"], 10) == 1.0


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_mnist_metrics(mnist10k, metric):
    from native.distance import knn

    X, Q = mnist10k["base"][:3000], mnist10k["query"][:50]
    idx = ann.FlatIndex(784, metric)
    idx.add(X)
    D, I = idx.search(Q, 5)
    Dr, Ir = knn(Q.astype(np.float64).astype(np.float32), X, 5, metric)
    np.testing.assert_allclose(D, Dr, rtol=1e-5, atol=1e-5)


def test_user_ids_and_removal(rng):
    X = rng.standard_normal((400, 16)).astype(np.float32)
    Q = rng.standard_normal((30, 16)).astype(np.float32)
    ids = rng.choice(10**12, size=400, replace=False).astype(np.int64) + 2**40  # large int64 ids
    idx = ann.FlatIndex(16)
    assert (idx.add(X, ids=ids) == ids).all()
    D, I = idx.search(Q, 8)
    assert (I == ids[brute(Q, X, 8)]).all()
    gone = I[:, 0]
    assert idx.remove(gone) == np.unique(gone).size
    D2, I2 = idx.search(Q, 8)
    assert not np.isin(I2, gone).any()
    keep = ~np.isin(ids, gone)
    assert (I2 == ids[keep][brute(Q, X[keep], 8)]).all()
    with pytest.raises(KeyError, match="not in the index"):
        idx.remove([gone[0]])
    with pytest.raises(ValueError, match="already in the index"):
        idx.add(X[:1], ids=[ids[keep][0]])


def test_default_ids_continue_after_largest(rng):
    idx = ann.FlatIndex(4)
    idx.add(rng.random((3, 4)), ids=[10, 20, 30])
    assert idx.add(rng.random((2, 4))).tolist() == [31, 32]


@pytest.mark.parametrize("frac", [0.01, 0.1, 0.5])
def test_filters_are_exact(rng, frac):
    X = rng.standard_normal((2000, 8)).astype(np.float32)
    Q = rng.standard_normal((20, 8)).astype(np.float32)
    idx = ann.FlatIndex(8)
    idx.add(X)
    allowed = np.flatnonzero(rng.random(2000) < frac)
    ref = allowed[brute(Q, X[allowed], 10)]
    mask = np.zeros(2000, bool)
    mask[allowed] = True
    for f in (mask, allowed, set(allowed.tolist()), lambda ids: mask[ids]):
        for nq in (3, 20):  # the rows read in place (small batches), or copied for BLAS
            D, I = idx.search(Q[:nq], 10, filter=f)
            assert (I == ref[:nq]).all()


def test_filter_with_fewer_than_k(rng):
    idx = ann.FlatIndex(3)
    idx.add(rng.random((50, 3)))
    D, I = idx.search(rng.random((2, 3)), 5, filter=[4, 9])
    assert sorted(I[0, :2]) == [4, 9] and (I[:, 2:] == -1).all() and np.isinf(D[:, 2:]).all()
    D, I = idx.search(rng.random((2, 3)), 5, filter=[])
    assert (I == -1).all()


def test_validation(rng):
    idx = ann.FlatIndex(8)
    with pytest.raises(ValueError, match="empty"):
        idx.search(rng.random((1, 8)), 1)
    idx.add(rng.random((10, 8)))
    with pytest.raises(ValueError, match="dimension 7, index has 8"):
        idx.search(rng.random((1, 7)), 1)
    with pytest.raises(ValueError, match="NaN"):
        idx.add(np.full((2, 8), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        idx.search(np.full((1, 8), np.inf), 1)
    big = np.ones((3, 8))
    big[2, 5] = 1e300  # beyond float32: the error names its row, no overflow RuntimeWarning before it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"NaN or infinity \(first in row 2\)"):
            idx.add(big)
    with pytest.raises(TypeError, match="numeric dtype"):
        idx.add(np.array([["x"] * 8]))
    with pytest.raises(TypeError, match="numeric dtype"):
        idx.add(np.ones((1, 8), dtype=complex))
    with pytest.raises(ValueError, match="k must be >= 1"):
        idx.search(rng.random((1, 8)), 0)
    with pytest.raises(TypeError, match="k must be an integer"):
        idx.search(rng.random((1, 8)), 2.5)
    with pytest.raises(ValueError, match="distinct"):
        idx.add(rng.random((2, 8)), ids=[100, 100])
    with pytest.raises(ValueError, match=">= 0"):
        idx.add(rng.random((1, 8)), ids=[-3])
    with pytest.raises(TypeError, match="integer dtype"):
        idx.add(rng.random((1, 8)), ids=[1.5])
    with pytest.raises(ValueError, match="positive integer"):
        ann.FlatIndex(0)
    with pytest.raises(ValueError, match="unknown metric"):
        ann.FlatIndex(8, "hamming")
    # float32 input takes a shorter path: the same checks
    q32 = rng.random((2, 8)).astype(np.float32)
    for bad, err, msg in [(np.float32(np.nan) * q32, ValueError, r"NaN or infinity \(first in row 0\)"),
                          (np.array(3.0, np.float32), ValueError, "2-D"),
                          (np.ones((2, 2, 8), np.float32), ValueError, "2-D"),
                          (np.ones((2, 7), np.float32), ValueError, "dimension 7, index has 8"),
                          (np.full(8, 2e18, np.float32), ValueError, "beyond 1e18")]:
        with pytest.raises(err, match=msg):
            idx.search(bad, 1)
    D, I = idx.search(q32, 3)
    for q in (q32[1], np.asfortranarray(np.repeat(q32, 2, axis=0))[2:3]):  # (d,), not C-contiguous
        assert np.array_equal(idx.search(q, 3)[1][0], I[1])
    assert idx.ntotal == 10  # failed adds changed nothing


def test_k_larger_than_n_and_coercion(rng):
    idx = ann.FlatIndex(4)
    idx.add(rng.integers(0, 255, (3, 4)).astype(np.uint8))  # coerced to float32
    D, I = idx.search(rng.integers(0, 255, 4), 5)  # one (dim,) query
    assert I.shape == (1, 5) and (I[0, 3:] == -1).all() and sorted(I[0, :3]) == [0, 1, 2]


def test_save_load_round_trip(tmp_path, sift5k):
    idx = ann.FlatIndex(128, "cosine")
    idx.add(sift5k["base"][:1000], ids=np.arange(1000) * 3)
    idx.remove([0, 3])
    p = tmp_path / "f.ann"
    idx.save(p)
    for mmap in (False, True):
        j = ann.load(p, mmap=mmap)
        assert isinstance(j, ann.FlatIndex) and j.metric == "cosine" and j.ntotal == 998
        Q = sift5k["query"][:20]
        for a, b in zip(idx.search(Q, 10), j.search(Q, 10)):
            np.testing.assert_array_equal(a, b)
    j.add(sift5k["base"][1000:1010])  # a loaded (even mapped) index still grows
    assert j.ntotal == 1008 and j.ids[-1] == 3 * 999 + 10


def test_corrupt_file_refused(tmp_path, rng):
    idx = ann.FlatIndex(8)
    idx.add(rng.random((100, 8)))
    p = tmp_path / "f.ann"
    idx.save(p)
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError):
        ann.load(p)
    p.write_bytes(bytes(data[:-100]))
    with pytest.raises(CorruptFileError, match="truncated"):
        ann.load(p)


def test_info_and_memory(rng):
    idx = ann.FlatIndex(8)
    idx.add(rng.random((100, 8)))
    info = idx.info()
    assert info["ntotal"] == 100
    # vectors + norms + ids, with the growth slack of at most 1024 rows
    assert 100 * (8 * 4 + 4 + 8) <= info["memory_bytes"] <= 1024 * (8 * 4 + 4) + 100 * 8


@pytest.mark.gpu
def test_gpu_search_matches_cpu(sift5k):
    idx = ann.FlatIndex(128)
    idx.add(sift5k["base"])
    Dc, Ic = idx.search(sift5k["query"], 10)
    Dg, Ig = idx.search(sift5k["query"], 10, device="cuda")
    np.testing.assert_allclose(Dg, Dc, rtol=1e-4)
    assert (Ig == Ic).mean() > 0.99
    Dg, Ig = idx.search(sift5k["query"], 10, device="cuda", filter=np.arange(0, 4500, 2))
    assert (Ig % 2 == 0).all()
