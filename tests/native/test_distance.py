"""Distance and exact top-k kernels against a float64 numpy brute force."""

import numpy as np
import pytest

from native import device
from native.distance import knn, normalize_rows, pairwise_distances

METRICS = ["l2", "ip", "cosine"]


def reference(Q, X, metric):
    Q = np.asarray(Q, np.float64)
    X = np.asarray(X, np.float64)
    if metric == "cosine":
        Q = Q / np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), 1e-300)
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-300)
    if metric == "l2":
        return ((Q[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    return 1.0 - Q @ X.T


def check_topk(D, I, R, k, rtol=1e-4):
    """Ids may differ only among (near-)ties: distances must match the true k-th order."""
    nq = R.shape[0]
    truth = np.sort(R, axis=1)[:, :k]
    scale = np.maximum(np.abs(truth).max(), 1.0)
    np.testing.assert_allclose(D, truth, atol=rtol * scale)
    # every returned id's true distance equals the reported one
    np.testing.assert_allclose(R[np.arange(nq)[:, None], I], D, atol=rtol * scale)
    assert all(np.unique(row).size == k for row in I), "duplicate ids in a row"


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("nq", [1, 5, 12, 13, 300])  # both sides of the fused/BLAS switch
def test_knn_random(rng, metric, nq):
    X = rng.standard_normal((3000, 48)).astype(np.float32)
    Q = rng.standard_normal((nq, 48)).astype(np.float32)
    D, I = knn(Q, X, 10, metric)
    assert D.dtype == np.float32 and I.dtype == np.int64 and D.shape == (nq, 10)
    check_topk(D, I, reference(Q, X, metric), 10)
    assert np.all(np.diff(D, axis=1) >= 0)


@pytest.mark.parametrize("metric", METRICS)
def test_pairwise_random(rng, metric):
    X = rng.standard_normal((500, 20)).astype(np.float32)
    for nq in (3, 50):
        Q = rng.standard_normal((nq, 20)).astype(np.float32)
        np.testing.assert_allclose(pairwise_distances(Q, X, metric), reference(Q, X, metric), atol=2e-4)


def test_knn_sift_real(sift5k):
    X, Q, gt = sift5k["base"], sift5k["query"], sift5k["groundtruth"]
    D, I = knn(Q, X, 100)
    R = reference(Q, X, "l2")
    check_topk(D, I, R, 100, rtol=1e-6)
    # SIFT components are integers: distances are exact in float32, so ids match the
    # shipped ground truth wherever the 100 nearest are not tied.
    assert (I == gt).mean() > 0.999


def test_knn_mnist_real(mnist10k):
    X, Q = mnist10k["base"], mnist10k["query"][:200]
    for metric in METRICS:
        D, I = knn(Q, X, 10, metric)
        check_topk(D, I, reference(Q, X, metric), 10)


def test_ties_prefer_lower_id():
    X = np.zeros((50, 4), np.float32)  # all equidistant
    Q = np.ones((20, 4), np.float32)
    for nq in (1, 20):
        D, I = knn(Q[:nq], X, 5)
        assert (I == np.arange(5)).all()


def test_k_larger_than_n_pads(rng):
    X = rng.standard_normal((4, 8)).astype(np.float32)
    for nq in (2, 40):
        D, I = knn(rng.standard_normal((nq, 8)).astype(np.float32), X, 7)
        assert (I[:, 4:] == -1).all() and np.isinf(D[:, 4:]).all()
        assert sorted(I[0, :4]) == [0, 1, 2, 3]


def test_empty_inputs(rng):
    X = rng.standard_normal((10, 8)).astype(np.float32)
    D, I = knn(np.zeros((0, 8), np.float32), X, 3)
    assert D.shape == (0, 3) and I.shape == (0, 3)
    D, I = knn(X[:2], np.zeros((0, 8), np.float32), 3)
    assert (I == -1).all() and np.isinf(D).all()


def test_errors(rng):
    X = rng.standard_normal((10, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="dimension 7"):
        knn(X[:, :7], X, 3)
    with pytest.raises(ValueError, match="unknown metric"):
        knn(X, X, 3, "manhattan")
    with pytest.raises(ValueError, match="non-negative"):
        knn(X, X, -1)


def test_non_finite_rows_named(sift5k):
    """A NaN, an infinity, or a float64 beyond float32's range (infinite after the cast) is
    refused with its row named, in queries or data, numpy or torch, for knn and pairwise;
    before, knn ranked a NaN row first."""
    import torch

    X = sift5k["base"][:500].astype(np.float64)
    Q = sift5k["query"][:5].astype(np.float64)
    for row, value in [(317, np.nan), (42, -np.inf), (499, 1e300)]:
        Xb = X.copy()
        Xb[row, 3] = value
        for fn in (lambda q, x: knn(q, x, 10), pairwise_distances):
            with pytest.raises(ValueError, match=rf"data hold NaN or infinity \(first in row {row}\)"):
                fn(Q, Xb)
            with pytest.raises(ValueError, match=rf"queries hold NaN or infinity \(first in row {row}\)"):
                fn(Xb, X)
            with pytest.raises(ValueError, match=rf"data hold NaN or infinity \(first in row {row}\)"):
                fn(torch.from_numpy(Q), torch.from_numpy(Xb))
    # the check the CUDA path runs on its float32 tensors, here on CPU tensors
    from native.distance import check_finite_rows

    Xt = torch.from_numpy(X).float()
    Xt[123, 0] = float("nan")
    with pytest.raises(ValueError, match=r"first in row 123"):
        check_finite_rows(Xt, "data")
    check_finite_rows(torch.from_numpy(X).float(), "data")  # finite: passes
    # finite float64 data still runs, with the same figures as float32 input
    np.testing.assert_array_equal(knn(Q, X, 10)[1], knn(Q.astype(np.float32), X.astype(np.float32), 10)[1])


def test_abs_max_one_pass_matches_numpy(mnist10k):
    """native.distance.abs_max (the one-pass check behind every finite-value check) gives
    numpy's max |a| on real data, serial and split over threads, and inf or NaN wherever a
    value is not finite: first element, a chunk boundary, last element."""
    import numba

    from native.distance import abs_max

    X = np.ascontiguousarray(mnist10k["base"], dtype=np.float32)
    signed = X - np.float32(127.5)  # negative values too, largest magnitude -127.5
    n = X.size
    for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
        numba.set_num_threads(threads)
        try:
            for A in (X, signed, X[:3], np.float32([[-0.0, 1e-45, -3e38]])):
                assert abs_max(A) == float(np.abs(A).max())
            for pos in (0, (n + 1) // 2, (n + 1) // 2 - 1, n - 1):
                for value, expect in ((np.nan, np.isnan), (np.inf, np.isinf), (-np.inf, np.isinf)):
                    B = signed.copy()
                    B.reshape(-1)[pos] = value
                    assert expect(abs_max(B)), (threads, pos, value)
                B = signed.copy()
                B.reshape(-1)[pos] = -1e30
                assert abs_max(B) == float(np.float32(1e30))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for pos in (0, 400, 2 * 784 - 1):  # small arrays (one serial call): queries
        for value, expect in ((np.nan, np.isnan), (-np.inf, np.isinf)):
            B = signed[:2].copy()
            B.reshape(-1)[pos] = value
            assert expect(abs_max(B)) and expect(abs_max(B[1 if pos >= 784 else 0]))
    assert abs_max(np.zeros((0, 4), np.float32)) == 0.0
    assert abs_max(signed[:, ::2]) == float(np.abs(signed[:, ::2]).max())  # strided: numpy's way


def test_non_real_dtypes_refused(sift5k):
    import torch

    X = sift5k["base"][:50]
    for bad in (X.astype(np.complex64), X > 10, torch.from_numpy(X > 10), torch.from_numpy(X.astype(np.complex64))):
        with pytest.raises(TypeError, match="real numeric dtype"):
            knn(bad, X, 3)
        with pytest.raises(TypeError, match="real numeric dtype"):
            pairwise_distances(X, bad)
    # integer data (SIFT's own type) is real: accepted
    assert knn(X.astype(np.int32), X.astype(np.uint8), 1)[1][:, 0].tolist() == list(range(50))


def test_torch_in_torch_out(rng):
    import torch

    X = rng.standard_normal((200, 16)).astype(np.float32)
    D, I = knn(torch.from_numpy(X[:20]), torch.from_numpy(X), 3)
    assert isinstance(D, torch.Tensor) and isinstance(I, torch.Tensor)
    assert (I[:, 0].numpy() == np.arange(20)).all()


def test_normalize_rows_zero_row():
    X = np.array([[3, 4], [0, 0]], np.float32)
    np.testing.assert_allclose(normalize_rows(X), [[0.6, 0.8], [0, 0]])


def test_dispatch_registry():
    ks = device.kernels()
    assert ks["knn"] == ("cpu", "cuda") and ks["pairwise"] == ("cpu", "cuda")
    with pytest.raises(KeyError):
        device.dispatch("no-such-kernel", "cpu")
    with pytest.raises(ValueError):
        device.normalize_device("tpu")


@pytest.mark.gpu
@pytest.mark.parametrize("metric", METRICS)
def test_knn_cuda_matches_cpu(rng, metric):
    import torch

    X = rng.standard_normal((5000, 64)).astype(np.float32)
    Q = rng.standard_normal((257, 64)).astype(np.float32)
    D, I = knn(torch.from_numpy(Q).cuda(), torch.from_numpy(X).cuda(), 10, metric)
    assert D.is_cuda
    check_topk(D.cpu().numpy(), I.cpu().numpy(), reference(Q, X, metric), 10)
    Dn, In = knn(Q, X, 10, metric, device="cuda")
    assert isinstance(Dn, np.ndarray)
