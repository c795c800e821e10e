"""Numba kernels of graphkit.temporal: SPLASH's streaming feature augmentation.

Kernels take validated arrays and never check them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

NUM_STRUCTURAL = 6


@njit(cache=True, nogil=True)
def stream_features(src, dst, t, R, tau, taus):
    """Positional and structural node features of both endpoints of every event, as they
    stand just *before* the event (only earlier events count).

    positional: ``P_u(t) = sum_{events (u, w, t') before t} exp(-(t - t') / tau) R_w``, a
        time-decayed random projection of u's adjacency row (nodes with similar recent
        neighbourhoods get similar vectors); kept exactly by decaying at every event of u.
    structural: ``[log1p(decayed degree at taus[0]), ... taus[2], log1p(degree),
        log1p(time since u's last event), log1p(mean gap between u's events)]``.

    Args:
        src, dst (E,) int64, t (E,) float64 sorted; R (N, d) float32 random vectors;
        tau > 0; taus (3,) float64 decay scales.

    Returns:
        positional (E, 2, d) float32, structural (E, 2, 6) float32 ([:, 0] src, [:, 1] dst).
    """
    E = src.shape[0]
    N, d = R.shape
    P = np.zeros((N, d), dtype=np.float64)
    deg = np.zeros(N, dtype=np.float64)
    ddeg = np.zeros((N, 3), dtype=np.float64)
    at = np.zeros(N, dtype=np.float64)  # the time P[u] and ddeg[u] are expressed at
    last = np.zeros(N, dtype=np.float64)
    first = np.zeros(N, dtype=np.float64)
    pos = np.empty((E, 2, d), dtype=np.float32)
    st = np.zeros((E, 2, NUM_STRUCTURAL), dtype=np.float32)
    for e in range(E):
        te = t[e]
        for side in range(2):
            u = src[e] if side == 0 else dst[e]
            if deg[u] > 0:
                gap = te - at[u]
                f = np.exp(-gap / tau)
                for k in range(d):
                    P[u, k] *= f
                for j in range(3):
                    ddeg[u, j] *= np.exp(-gap / taus[j])
                at[u] = te
            for k in range(d):
                pos[e, side, k] = P[u, k]
            for j in range(3):
                st[e, side, j] = np.log1p(ddeg[u, j])
            st[e, side, 3] = np.log1p(deg[u])
            if deg[u] > 0:
                st[e, side, 4] = np.log1p(te - last[u])
                st[e, side, 5] = np.log1p((te - first[u]) / deg[u])
        for side in range(2):
            u = src[e] if side == 0 else dst[e]
            w = dst[e] if side == 0 else src[e]
            if side == 1 and u == w:
                break  # a self-loop counts once
            if deg[u] == 0:
                first[u] = te
            for k in range(d):
                P[u, k] += R[w, k]
            for j in range(3):
                ddeg[u, j] += 1.0
            deg[u] += 1.0
            last[u] = te
            at[u] = te
    return pos, st
