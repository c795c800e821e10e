"""N-cache kernels of NAT (Luo & Li, LoG 2022): dictionary-type neighbourhood representations.

Every node ``x`` owns, per hop ``h`` (1 and 2), a fixed array of ``M_h`` slots holding a key
(a neighbour id, -1 when empty) and a value vector. Neighbour ``w`` may only sit in slot
``slot(w, M_h) = ((w * A + B) mod P) mod M_h`` of a cache, so a lookup is one probe and a
batch of lookups or updates is data-parallel (the "N-cache" of the paper); collisions
down-sample the neighbourhood.

Batch update semantics (identical in the Numba CPU kernels, the CUDA kernels of
:mod:`native.kernels.nat_cuda` and the torch path):

- event ``e = (u, v)`` writes ``(key v, value val_src[e])`` to u's 1-hop slot of v and
  ``(key u, value val_dst[e])`` to v's 1-hop slot of u; and, for every entry ``(w, z)`` of v's
  1-hop cache with ``w != u``, ``(w, z)`` to u's 2-hop slot of w (symmetrically for v);
- a write is accepted if the target slot is empty, already holds its key, or its uniform
  draw is below ``alpha`` (the replacement probability); emptiness, keys and the 2-hop
  entries are read from the cache as it was *before* the batch;
- accepted writes apply in order (1-hop writes in event order, then 2-hop writes in event
  order), the last one to a slot winning.

Kernels take validated arrays and never check them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

HASH_A = 1_000_003
HASH_B = 12_345
HASH_P = 2_147_483_647  # 2^31 - 1


@njit(cache=True, nogil=True, inline="always")
def _slot(w, m):
    return ((w * HASH_A + HASH_B) % HASH_P) % m


@njit(cache=True, nogil=True)
def ncache_update(keys1, vals1, keys2, vals2, src, dst, val_src, val_dst, draws, alpha):
    """Apply one batch of events to the caches, in place.

    Args:
        keys1 (N, M1) int64, vals1 (N, M1, F) float32: 1-hop caches.
        keys2 (N, M2) int64, vals2 (N, M2, F) float32: 2-hop caches.
        src, dst (B,) int64: the events, in time order.
        val_src (B, F), val_dst (B, F) float32: the value written into src's (dst's) 1-hop cache.
        draws (B, 2, 1 + M1) float64 uniform in [0, 1): [e, side, 0] for the 1-hop write,
            [e, side, 1 + j] for the 2-hop write of the other endpoint's entry j.
        alpha: replacement probability of an occupied slot holding another key.
    """
    B = src.shape[0]
    M1 = keys1.shape[1]
    M2 = keys2.shape[1]
    F = vals1.shape[2]
    ok1 = np.zeros((B, 2), dtype=np.bool_)
    cand_key = np.full((B, 2, M1), -1, dtype=np.int64)
    cand_val = np.empty((B, 2, M1, F), dtype=np.float32)
    ok2 = np.zeros((B, 2, M1), dtype=np.bool_)
    # phase A (independent per event; data-parallel in the torch path): decisions and 2-hop
    # candidates against the pre-batch caches
    for e in range(B):
        for side in range(2):
            x = src[e] if side == 0 else dst[e]
            y = dst[e] if side == 0 else src[e]
            k = keys1[x, _slot(y, M1)]
            ok1[e, side] = k < 0 or k == y or draws[e, side, 0] < alpha
            for j in range(M1):
                w = keys1[y, j]
                if w < 0 or w == x:
                    continue
                cand_key[e, side, j] = w
                for f in range(F):
                    cand_val[e, side, j, f] = vals1[y, j, f]
                k2 = keys2[x, _slot(w, M2)]
                ok2[e, side, j] = k2 < 0 or k2 == w or draws[e, side, 1 + j] < alpha
    # phase B (sequential): accepted writes in order, last writer wins
    for e in range(B):
        for side in range(2):
            if ok1[e, side]:
                x = src[e] if side == 0 else dst[e]
                y = dst[e] if side == 0 else src[e]
                s = _slot(y, M1)
                keys1[x, s] = y
                for f in range(F):
                    vals1[x, s, f] = val_src[e, f] if side == 0 else val_dst[e, f]
    for e in range(B):
        for side in range(2):
            x = src[e] if side == 0 else dst[e]
            for j in range(M1):
                if ok2[e, side, j]:
                    w = cand_key[e, side, j]
                    s = _slot(w, M2)
                    keys2[x, s] = w
                    for f in range(F):
                        vals2[x, s, f] = cand_val[e, side, j, f]


@njit(cache=True, nogil=True)
def ncache_pair_features(keys1, keys2, u, v):
    """Joint-neighbourhood keys and distance counts of candidate pairs ``(u[i], v[i])``.

    For side 0 (u) the candidates are ``[u, keys1[u, :], keys2[u, :]]`` and for side 1 (v)
    ``[v, keys1[v, :], keys2[v, :]]`` (S = 1 + M1 + M2 each). Every candidate ``w`` gets six
    counts: ``[w == u, w in N1(u), w in N2(u), w == v, w in N1(v), w in N2(v)]``, membership
    by one probe of ``w``'s slot.

    Returns:
        keys (P, 2, S) int64 (-1 for an empty slot), counts (P, 2, S, 6) float32 (0 there).
    """
    P = u.shape[0]
    M1 = keys1.shape[1]
    M2 = keys2.shape[1]
    S = 1 + M1 + M2
    keys = np.full((P, 2, S), -1, dtype=np.int64)
    counts = np.zeros((P, 2, S, 6), dtype=np.float32)
    for i in range(P):
        a = u[i]
        b = v[i]
        for side in range(2):
            x = a if side == 0 else b
            keys[i, side, 0] = x
            for j in range(M1):
                keys[i, side, 1 + j] = keys1[x, j]
            for j in range(M2):
                keys[i, side, 1 + M1 + j] = keys2[x, j]
            for c in range(S):
                w = keys[i, side, c]
                if w < 0:
                    continue
                s1 = _slot(w, M1)
                s2 = _slot(w, M2)
                counts[i, side, c, 0] = 1.0 if w == a else 0.0
                counts[i, side, c, 1] = 1.0 if keys1[a, s1] == w else 0.0
                counts[i, side, c, 2] = 1.0 if keys2[a, s2] == w else 0.0
                counts[i, side, c, 3] = 1.0 if w == b else 0.0
                counts[i, side, c, 4] = 1.0 if keys1[b, s1] == w else 0.0
                counts[i, side, c, 5] = 1.0 if keys2[b, s2] == w else 0.0
    return keys, counts


def slot_numpy(w: np.ndarray, m: int) -> np.ndarray:
    """``slot(w, m)`` for an int64 array (the hash of the kernels)."""
    return ((np.asarray(w, dtype=np.int64) * HASH_A + HASH_B) % HASH_P) % m
