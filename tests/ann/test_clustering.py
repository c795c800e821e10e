"""Balanced k-means kernels and drivers against brute-force references on real data."""

import numpy as np
import pytest

from ann import _clustering_kernels as K
from ann.clustering import balanced_kmeans, hierarchical_balanced_kmeans, size_distribution


@pytest.fixture(scope="module")
def sift(sift5k):
    return np.ascontiguousarray(sift5k["base"][:2000])


@pytest.mark.parametrize("ip", [False, True])
def test_point_centroid_distances_match_numpy(sift, ip):
    X = sift[:300] / 100.0
    C = sift[1000:1017] / 100.0
    D = K.point_centroid_distances(X, C, ip)
    ref = 1.0 - X @ C.T if ip else ((X[:, None, :] - C[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(D, ref, rtol=1e-4, atol=1e-3)


def test_capacity_assign_respects_capacity_and_prefers_nearest(sift):
    X, C = sift[:500], sift[1000:1010]
    D = K.point_centroid_distances(X, C, False)
    lab = K.capacity_assign(D, 500)  # no binding capacity: plain nearest centroid
    np.testing.assert_array_equal(lab, D.argmin(1))
    lab = K.capacity_assign(D, 50)
    assert np.bincount(lab, minlength=10).max() <= 50
    assert lab.min() >= 0


def test_centroid_sums_match_numpy(sift):
    lab = np.arange(sift.shape[0]) % 7
    sums, counts = K.centroid_sums(sift, lab.astype(np.int64), 7)
    for c in range(7):
        np.testing.assert_allclose(sums[c], sift[lab == c].astype(np.float64).sum(0), rtol=1e-9)
        assert counts[c] == (lab == c).sum()


def test_balanced_kmeans_is_balanced_and_better_than_random(sift):
    C, lab = balanced_kmeans(sift, 8, slack=0.1, seed=1)
    counts = np.bincount(lab, minlength=8)
    assert counts.max() <= np.ceil(1.1 * sift.shape[0] / 8)
    assert counts.min() > 0
    cost = ((sift - C[lab]) ** 2).sum()
    rnd = np.random.default_rng(0).integers(0, 8, sift.shape[0])
    means = np.stack([sift[rnd == c].mean(0) for c in range(8)])
    assert cost < 0.8 * ((sift - means[rnd]) ** 2).sum()


def test_hierarchical_leaves_are_small_and_labels_consistent(mnist10k):
    X = mnist10k["base"][:3000]
    C, lab = hierarchical_balanced_kmeans(X, 40, branching=8, iters=4)
    sizes = np.bincount(lab, minlength=C.shape[0])
    assert sizes.max() <= -(-3000 // 40)
    assert sizes.min() > 0 and C.shape[0] >= 40
    np.testing.assert_allclose(C[3], X[lab == 3].mean(0), rtol=1e-4, atol=1e-4)
    s = size_distribution(sizes)
    assert s["lists"] == C.shape[0] and s["max"] == sizes.max()


def test_validation(sift):
    with pytest.raises(ValueError, match="exceeds"):
        balanced_kmeans(sift[:5], 6)
    with pytest.raises(TypeError, match="k must be an integer"):
        balanced_kmeans(sift, 2.5)
    with pytest.raises(ValueError, match="slack"):
        balanced_kmeans(sift, 2, slack=-1)
    with pytest.raises(TypeError, match="dtype"):
        hierarchical_balanced_kmeans(np.array([["a"]]), 1)
    with pytest.raises(ValueError, match="metric"):
        balanced_kmeans(sift, 2, metric="cosine")
