"""Numba kernels of balanced k-means: point-centroid distances, capacity-constrained
assignment and centroid sums.

Plain functions over arrays; :mod:`ann.clustering` validates and drives them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def point_centroid_distances(X, C, metric_ip):
    """(n, k) float32 distances of the rows of X to the rows of C (squared l2 or 1 - ip)."""
    n, d = X.shape
    k = C.shape[0]
    out = np.empty((n, k), np.float32)
    for i in prange(n):
        for c in range(k):
            s = np.float32(0.0)
            if metric_ip:
                for t in range(d):
                    s += X[i, t] * C[c, t]
                out[i, c] = np.float32(1.0) - s
            else:
                for t in range(d):
                    df = X[i, t] - C[c, t]
                    s += df * df
                out[i, c] = s
    return out


@njit(cache=True, nogil=True)
def capacity_assign(D, cap):
    """Assign each point to its nearest centroid that still has room (at most ``cap`` each).

    Points are served in order of decreasing regret (distance to their second-nearest
    centroid minus distance to the nearest), so the points with the strongest preference
    choose first. Requires ``cap * k >= n``. Returns labels (n,) int64.
    """
    n, k = D.shape
    regret = np.empty(n, np.float32)
    for i in range(n):
        b0 = np.inf
        b1 = np.inf
        for c in range(k):
            v = D[i, c]
            if v < b0:
                b1 = b0
                b0 = v
            elif v < b1:
                b1 = v
        regret[i] = b1 - b0 if k > 1 else 0.0
    order = np.argsort(-regret, kind="mergesort")
    counts = np.zeros(k, np.int64)
    labels = np.empty(n, np.int64)
    for t in range(n):
        i = order[t]
        best = -1
        bv = np.inf
        for c in range(k):
            if counts[c] < cap and (best < 0 or D[i, c] < bv):
                bv = D[i, c]
                best = c
        labels[i] = best
        counts[best] += 1
    return labels


@njit(cache=True, nogil=True)
def centroid_sums(X, labels, k):
    """Per-cluster sums (k, d) float64 and counts (k,) int64 of the rows of X."""
    n, d = X.shape
    sums = np.zeros((k, d), np.float64)
    counts = np.zeros(k, np.int64)
    for i in range(n):
        c = labels[i]
        counts[c] += 1
        for t in range(d):
            sums[c, t] += X[i, t]
    return sums, counts
